// train.sft: supervised fine-tuning on prompts with answers (loss on answer tokens only); the output is the
// trained model as a checkpoint directory, with the per-step metrics beside it. With checkpoint_every, checkpoints
// of the progress are kept in the node's scratch directory and --resume continues from the latest
// (../checkpoints.ts).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { saveCheckpoint } from "../../checkpoint.ts";
import { modelToCheckpoint } from "../../vlm/model.ts";
import { type SftStepMetrics, trainSft } from "../../vlm/sft.ts";
import { TrainingCheckpoints } from "../checkpoints.ts";
import { loadExamples, loadModel } from "./inputs.ts";
import { loopOf, loraOf, optimizerOf, refuseUnsupported, scheduleOf } from "./training-settings.ts";
import type { NodeExecutor } from "./types.ts";

export const METRICS_FILE = "metrics.jsonl";

export const trainSftExecutor: NodeExecutor = {
  kind: "train.sft",
  version: 1,
  async run(ctx) {
    const p = ctx.node.params;
    refuseUnsupported(p, ctx.node.id);
    // Decoded first, so bad LoRA settings fail before anything is loaded.
    const lora = loraOf(p.lora);
    const data = ctx.input("data");
    const model = loadModel(ctx.input("model"));
    const { examples } = loadExamples(data, model);
    const loop = loopOf(p, examples.length, data.node.id);
    const checkpoints = new TrainingCheckpoints<SftStepMetrics>(ctx, { every: loop.checkpointEvery, steps: loop.steps, stepsPerRun: loop.stepsPerRun });
    const resumed = checkpoints.start();
    if (loop.stepsPerRunNote) ctx.log.line(`${ctx.node.id}: ${loop.stepsPerRunNote}`);
    const runtime = await ctx.runtime(p.device);
    const progress = ctx.log.progress(`${ctx.node.id}: training`, loop.steps, "steps");
    const started = performance.now();
    // Every step's rows so far (a resumed phase starts with those of its checkpoint, written again to the run's metrics).
    const rows: SftStepMetrics[] = resumed ? [...resumed.rows] : [];
    if (resumed) ctx.metrics(resumed.rows);
    const recent: SftStepMetrics[] = rows.slice(-20);
    const { model: trained, adapters } = await trainSft(
      runtime,
      model,
      examples,
      {
        ...loop,
        optimizer: optimizerOf(p.optimizer),
        schedule: scheduleOf(p.schedule, loop.steps),
        lengthBuckets: typeof p.length_buckets === "number" ? p.length_buckets : 1,
        lossAverage: p.loss_average === "example" ? "example" : "token",
        lora,
      },
      (these) => {
        ctx.metrics(these);
        rows.push(...these);
        recent.push(...these);
        recent.splice(0, Math.max(0, recent.length - 20));
        const last = these.at(-1) as SftStepMetrics;
        progress.update(
          last.step,
          `loss ${mean(recent, "loss").toFixed(3)} · acc ${mean(recent, "token_accuracy").toFixed(3)} · ${Math.round(last.tokens_per_second)} tok/s`,
        );
      },
      {
        onRunEnd: (runIndex, pool) => checkpoints.take(runIndex, pool, rows),
        ...(resumed ? { resume: { runsDone: resumed.runsDone, state: resumed.state } } : {}),
      },
    );
    const tail = rows.slice(-Math.min(rows.length, 20));
    progress.finish(`loss ${mean(tail, "loss").toFixed(3)} · token accuracy ${mean(tail, "token_accuracy").toFixed(3)}`);
    // A LoRA phase's checkpoint holds the merged weights, plus its adapters as PEFT-style files beside them.
    saveCheckpoint(ctx.out, { ...modelToCheckpoint(trained), files: adapters?.files() });
    writeFileSync(path.join(ctx.out, METRICS_FILE), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
    const seconds = (performance.now() - started) / 1000;
    return {
      examples: examples.length,
      steps: loop.steps,
      epochs: rows.at(-1)?.epoch ?? 0,
      loss: mean(tail, "loss"),
      token_accuracy: mean(tail, "token_accuracy"),
      seconds,
      tokens_per_second: rows.length > 0 ? mean(rows, "tokens_per_second") : 0,
      ...(resumed ? { resumed_from_step: resumed.step } : {}),
    };
  },
};

function mean(rows: readonly SftStepMetrics[], key: keyof SftStepMetrics): number {
  return rows.length === 0 ? Number.NaN : rows.reduce((a, r) => a + r[key], 0) / rows.length;
}
