// Offline preference training of a TinyVLM: the seeded epoch order of sft-schedule.ts over pairs, each run's K
// optimizer steps of micro-batches staged for one ONNX Runtime run of the DPO program, per-step metrics with the
// names TRL logs. As in SFT, each (padded length, K) pair has its own program and the state moves between them.

import type { PreferenceObjective } from "../../../models/layers/preference.ts";
import { DPO_METRICS } from "../../../models/layers/preference.ts";
import { imageTokens } from "../../../models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../../../models/tinyvlm/dpo.ts";
import type { Runtime } from "../../engine/session.ts";
import { buildAdapters, LoraError, type TrainedAdapters } from "./adapters.ts";
import { dpoFeeds, type PairExample, pairLengths } from "./dpo-feeds.ts";
import { FeedError } from "./feeds.ts";
import type { VlmModel } from "./model.ts";
import type { ResumePoint } from "./sft.ts";
import { sftSchedule } from "./sft-schedule.ts";
import { ampColumns, type LoopHooks, TrainerPool, type TrainingOptions, trainRuns } from "./train-loop.ts";

/** The loop's settings and the objective. With `lora` and a given trainer pool, the pool brings its own adapters. */
export interface DpoOptions extends TrainingOptions {
  objective: PreferenceObjective;
}

/** One optimizer step's metrics: step, epoch, loss, rewards/*, logps/*, logits/*, nll_loss, grad_norm, learning_rate, tokens_per_second. */
export type DpoStepMetrics = Record<string, number> & { step: number; epoch: number; loss: number };

export async function trainDpo(
  runtime: Runtime,
  model: VlmModel,
  pairs: readonly PairExample[],
  o: DpoOptions,
  onRun?: (rows: DpoStepMetrics[]) => void,
  more: { onRunEnd?: LoopHooks<DpoStepMetrics>["onRunEnd"]; resume?: ResumePoint; pool?: TrainerPool } = {},
): Promise<{ model: VlmModel; rows: DpoStepMetrics[]; adapters?: TrainedAdapters }> {
  if (pairs.length === 0) throw new FeedError("no pairs to train on");
  const c = model.config;
  const runs = sftSchedule(pairLengths(model, pairs), {
    perStep: o.batch * o.accumulation,
    steps: o.steps,
    stepsPerRun: o.stepsPerRun,
    buckets: 1,
    seed: o.seed,
  });
  const perEpoch = pairs.length / (o.batch * o.accumulation);
  // A given pool continues its state (online DPO's rounds); the epoch then counts from this call's start.
  if (more.pool && o.lora && !more.pool.lora)
    throw new LoraError("trainDpo: lora is set but the given trainer pool trains every weight; create the pool with the adapters (buildAdapters)");
  const pool = more.pool ?? new TrainerPool(runtime, model, o.lora ? buildAdapters(model, o.lora, o.seed) : undefined);
  const stepOffset = pool.step;
  if (more.resume) pool.restore(more.resume.state);
  const rows = await trainRuns<DpoStepMetrics>(
    pool,
    runs,
    {
      spec: (run) => pool.spec(o, dpoBatch(c, o.batch, run.length), run.steps, dpoLoss(c, o.objective)),
      feeds: (run) =>
        dpoFeeds(
          c,
          model.tokenizer,
          run.examples.map((i) => pairs[i] as PairExample),
          o.batch,
          run.steps * o.accumulation,
          run.length,
        ),
      rows: (m, run, seconds) => {
        // Policy forward and backward on chosen and rejected: two sequences (image + text) per pair.
        const tokensPerStep = 2 * o.batch * o.accumulation * (run.length + imageTokens(c));
        return m.step.map((step, i) => {
          const row: DpoStepMetrics = { step, epoch: (step - stepOffset) / perEpoch, loss: m.values.loss?.[i] ?? Number.NaN };
          for (const name of DPO_METRICS) {
            if (name === "nll_loss" && o.objective.sftWeight === 0) continue;
            row[name] = m.values[name]?.[i] ?? Number.NaN;
          }
          row.grad_norm = m.values.grad_norm?.[i] ?? Number.NaN;
          row.learning_rate = m.values.lr?.[i] ?? Number.NaN;
          row.tokens_per_second = (tokensPerStep * run.steps) / seconds;
          Object.assign(row, ampColumns(m, i));
          return row;
        });
      },
    },
    { onRun, onRunEnd: more.onRunEnd },
    more.resume?.runsDone ?? 0,
  );
  const adapters = pool.adapters();
  return adapters ? { model: pool.trained(), rows, adapters } : { model: pool.trained(), rows };
}
