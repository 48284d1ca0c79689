// What train.sft and train.dpo do around their training loop: checkpoints started or resumed from
// (../checkpoints.ts), a progress line over the steps, every step's rows kept and appended to the run's metrics as
// they come, and at the end the trained model with metrics.jsonl beside it and the phase's summary.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Runtime } from "../../engine/session.ts";
import { saveCheckpoint } from "../../models/checkpoint.ts";
import type { TrainedAdapters } from "../../models/tinyvlm/adapters.ts";
import { modelToCheckpoint, type VlmModel } from "../../models/tinyvlm/model.ts";
import type { ResumePoint } from "../../models/tinyvlm/sft.ts";
import type { LoopHooks } from "../../models/tinyvlm/train-loop.ts";
import { type Resumed, TrainingCheckpoints } from "../checkpoints.ts";
import type { ExecContext } from "../node-executor.ts";
import { checkPrecisionOnDevice, type LoopSettings } from "./training-settings.ts";

/** The per-step metrics file beside a trained model (one JSON row per optimizer step). */
export const METRICS_FILE = "metrics.jsonl";

/** How many of the last steps the progress line and the summary average over. */
const RECENT = 20;

/** The mean of `key` over `rows`; NaN for no rows (or a row without it). */
export function meanOf<Row>(rows: readonly Row[], key: keyof Row): number {
  return rows.length === 0 ? Number.NaN : rows.reduce((a, r) => a + ((r[key] as number | undefined) ?? Number.NaN), 0) / rows.length;
}

/**
 * Writes the trained model as the phase's checkpoint (with LoRA: the merged weights, plus the adapters as
 * PEFT-style files beside them) and every step's rows as metrics.jsonl.
 */
export function writeTrained(out: string, model: VlmModel, adapters: TrainedAdapters | undefined, rows: readonly object[]): void {
  saveTrained(out, model, adapters);
  writeMetrics(out, rows);
}

/** A trained TinyVLM as a checkpoint directory (with LoRA, the adapters' files beside the merged weights). */
export function saveTrained(out: string, model: VlmModel, adapters: TrainedAdapters | undefined): void {
  saveCheckpoint(out, { ...modelToCheckpoint(model), files: adapters?.files() });
}

/** Every step's rows as metrics.jsonl. */
export function writeMetrics(out: string, rows: readonly object[]): void {
  writeFileSync(path.join(out, METRICS_FILE), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

type StepRow = { step: number; epoch: number; tokens_per_second?: number };

export interface TrainingProgress<Row extends StepRow> {
  runtime: Runtime;
  /** The training function's `onRun`: the rows to the run's metrics and kept, the progress line updated. */
  onRun: (these: Row[]) => void;
  /** The training function's last argument: a checkpoint at each run's end, and where a resumed phase continues. */
  more: { onRunEnd: NonNullable<LoopHooks<Row>["onRunEnd"]>; resume?: ResumePoint };
  /**
   * After training: ends the progress line with `line(tail)` (tail: the last 20 steps' rows), writes the trained
   * model (`save`, e.g. writeTrained's checkpoint) and metrics.jsonl, and returns the phase's summary: `first`, the steps and epochs, the mean
   * over the tail of each of `means`, the seconds since training started, the mean tokens/s and, when resumed, the
   * step it resumed from.
   */
  finish(
    save: (out: string) => void,
    summary: { line: (tail: readonly Row[]) => string; first: Record<string, unknown>; means: readonly (keyof Row & string)[] },
  ): Record<string, unknown>;
}

/**
 * Before training: the checkpoints started (or the latest resumed from), the note on steps per run logged, the
 * runtime for the phase's `device` and a progress line "<id>: <what>" over the steps, whose detail is
 * `status(recent, last)` after each run (recent: the last 20 steps' rows).
 */
export async function startTraining<Row extends StepRow>(
  ctx: ExecContext,
  device: string | undefined,
  loop: LoopSettings,
  what: string,
  status: (recent: readonly Row[], last: Row) => string,
): Promise<TrainingProgress<Row>> {
  const checkpoints = new TrainingCheckpoints<Row>(ctx, { every: loop.checkpointEvery, steps: loop.steps, stepsPerRun: loop.stepsPerRun });
  const resumed: Resumed<Row> | undefined = checkpoints.start();
  if (loop.stepsPerRunNote) ctx.log.line(`${ctx.node.id}: ${loop.stepsPerRunNote}`);
  const runtime = await ctx.runtime(device);
  checkPrecisionOnDevice(loop, runtime, ctx.node.id);
  const progress = ctx.log.progress(`${ctx.node.id}: ${what}`, loop.steps, "steps");
  const started = performance.now();
  // Every step's rows so far (a resumed phase starts with those of its checkpoint, written again to the run's metrics).
  const rows: Row[] = resumed ? [...resumed.rows] : [];
  if (resumed) ctx.metrics(resumed.rows);
  const recent: Row[] = rows.slice(-RECENT);
  return {
    runtime,
    onRun(these) {
      ctx.metrics(these);
      rows.push(...these);
      recent.push(...these);
      recent.splice(0, Math.max(0, recent.length - RECENT));
      const last = these.at(-1) as Row;
      progress.update(last.step, status(recent, last));
    },
    more: {
      onRunEnd: (runIndex, pool) => checkpoints.take(runIndex, pool, rows),
      ...(resumed ? { resume: { runsDone: resumed.runsDone, state: resumed.state } } : {}),
    },
    finish(save, summary) {
      const tail = rows.slice(-Math.min(rows.length, RECENT));
      progress.finish(summary.line(tail));
      save(ctx.out);
      writeMetrics(ctx.out, rows);
      return {
        ...summary.first,
        steps: loop.steps,
        epochs: rows.at(-1)?.epoch ?? 0,
        ...Object.fromEntries(summary.means.map((key) => [key, meanOf(tail, key)])),
        seconds: (performance.now() - started) / 1000,
        tokens_per_second: rows.length > 0 ? meanOf(rows, "tokens_per_second") : 0,
        ...(resumed ? { resumed_from_step: resumed.step } : {}),
      };
    },
  };
}
