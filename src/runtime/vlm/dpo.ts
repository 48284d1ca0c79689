// Offline preference training of a TinyVLM: the seeded epoch order of sft-schedule.ts over pairs, each run's K
// optimizer steps of micro-batches staged for one ONNX Runtime run of the DPO program, per-step metrics with the
// names TRL logs. As in SFT, each (padded length, K) pair has its own program and the state moves between them.
import type { TensorData } from "../../compiler/tensor/ir/graph.ts";
import { imageTokens } from "../../compiler/tensor/models/tinyvlm/config.ts";
import { DPO_METRICS, dpoBatch, dpoLoss, type PreferenceObjective } from "../../compiler/tensor/models/tinyvlm/dpo.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../compiler/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../../compiler/tensor/program/train-program.ts";
import type { Runtime } from "../session.ts";
import { Trainer } from "../trainer.ts";
import { dpoFeeds, type PairExample, pairLengths } from "./dpo-feeds.ts";
import { FeedError } from "./feeds.ts";
import type { VlmModel } from "./model.ts";
import { sftSchedule } from "./sft-schedule.ts";

export interface DpoOptions {
  objective: PreferenceObjective;
  batch: number;
  accumulation: number;
  /** Total optimizer steps. */
  steps: number;
  /** Optimizer steps per ONNX Runtime run (K). */
  stepsPerRun: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  clipNorm: number;
  /** Seeds the data order. */
  seed: number;
}

/** One optimizer step's metrics: step, epoch, loss, rewards/*, logps/*, logits/*, nll_loss, grad_norm, learning_rate, tokens_per_second. */
export type DpoStepMetrics = Record<string, number> & { step: number; epoch: number; loss: number };

export async function trainDpo(
  runtime: Runtime,
  model: VlmModel,
  pairs: readonly PairExample[],
  o: DpoOptions,
  onRun?: (rows: DpoStepMetrics[]) => void,
): Promise<{ model: VlmModel; rows: DpoStepMetrics[] }> {
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
  const trainers = new Map<string, Trainer>();
  let current: Trainer | undefined;
  const rows: DpoStepMetrics[] = [];
  for (const run of runs) {
    const key = `${run.length}/${run.steps}`;
    let trainer = trainers.get(key);
    if (!trainer) {
      const spec: TrainProgramSpec = {
        trainable: [...model.params].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] })),
        batch: dpoBatch(c, o.batch, run.length),
        steps: run.steps,
        accumulation: o.accumulation,
        optimizer: o.optimizer,
        schedule: o.schedule,
        clipNorm: o.clipNorm,
        loss: dpoLoss(c, o.objective),
      };
      trainer = new Trainer(runtime, buildTrainProgram(spec), spec, current?.parameters() ?? model.params);
      trainers.set(key, trainer);
    }
    if (current && current !== trainer) trainer.restore(current.snapshot());
    current = trainer;
    const slice = run.examples.map((i) => pairs[i] as PairExample);
    const feeds: Record<string, TensorData> = dpoFeeds(c, model.tokenizer, slice, o.batch, run.steps * o.accumulation, run.length);
    const t0 = performance.now();
    const m = await trainer.run(feeds);
    const seconds = (performance.now() - t0) / 1000;
    // Policy forward and backward on chosen and rejected: two sequences (image + text) per pair.
    const tokensPerStep = 2 * o.batch * o.accumulation * (run.length + imageTokens(c));
    const these = m.step.map((step, i) => {
      const row: DpoStepMetrics = { step, epoch: step / perEpoch, loss: m.values.loss?.[i] ?? Number.NaN };
      for (const name of DPO_METRICS) {
        if (name === "nll_loss" && o.objective.sftWeight === 0) continue;
        row[name] = m.values[name]?.[i] ?? Number.NaN;
      }
      row.grad_norm = m.values.grad_norm?.[i] ?? Number.NaN;
      row.learning_rate = m.values.lr?.[i] ?? Number.NaN;
      row.tokens_per_second = (tokensPerStep * run.steps) / seconds;
      return row;
    });
    rows.push(...these);
    onRun?.(these);
  }
  const params = new Map(model.params);
  for (const [name, t] of current?.parameters() ?? []) params.set(name, t);
  return { model: { ...model, params }, rows };
}
