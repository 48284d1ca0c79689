// Supervised fine-tuning of a TinyVLM: follows the schedule of runs (sft-schedule.ts: seeded epochs, optional
// length buckets), stages each run's K optimizer steps of micro-batches for one ONNX Runtime run, and reports
// per-step metrics. Each (bucket length, K) pair has its own compiled program; parameters and optimizer state
// move between them, so a remainder run or a change of bucket continues exactly where the last run stopped.
import type { TensorData } from "../../compiler/tensor/ir/graph.ts";
import { imageTokens } from "../../compiler/tensor/models/tinyvlm/config.ts";
import { sftBatch, sftLoss } from "../../compiler/tensor/models/tinyvlm/programs.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../compiler/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../../compiler/tensor/program/train-program.ts";
import type { Runtime } from "../session.ts";
import { Trainer } from "../trainer.ts";
import { type Example, FeedError, type LossAverage, sftFeeds } from "./feeds.ts";
import type { VlmModel } from "./model.ts";
import { sftSchedule } from "./sft-schedule.ts";

export interface SftOptions {
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
  /** Most length buckets (default 1: every example padded to the longest). */
  lengthBuckets?: number;
  /** How the loss averages over answer tokens (default "token"). */
  lossAverage?: LossAverage;
}

/** One optimizer step's metrics (the names Hugging Face trainers log). */
export interface SftStepMetrics {
  step: number;
  epoch: number;
  loss: number;
  token_accuracy: number;
  grad_norm: number;
  learning_rate: number;
  tokens_per_second: number;
}

/** Optimizer steps for `epochs` passes over `examples` in batches of batch × accumulation (the last one partial). */
export function stepsForEpochs(examples: number, batch: number, accumulation: number, epochs: number): number {
  return Math.ceil((examples * epochs) / (batch * accumulation));
}

/** Text positions per example (<bos> prompt answer <eos>), rounded up to a multiple of 8; an example longer than the model's context is an error naming it. */
export function paddedLengths(model: VlmModel, examples: readonly Example[]): number[] {
  const limit = model.config.textContext;
  return examples.map((ex) => {
    const n = 1 + model.tokenizer.encode(ex.prompt).length + model.tokenizer.encode(ex.answer).length;
    if (n > limit)
      throw new FeedError(`example ${ex.id}: ${n} tokens do not fit the model's text context of ${limit}; shorten it or use a model with a larger context`);
    return Math.min(limit, Math.ceil(n / 8) * 8);
  });
}

export async function trainSft(
  runtime: Runtime,
  model: VlmModel,
  examples: readonly Example[],
  o: SftOptions,
  onRun?: (rows: SftStepMetrics[]) => void,
): Promise<{ model: VlmModel; rows: SftStepMetrics[] }> {
  if (examples.length === 0) throw new FeedError("no examples to train on");
  const c = model.config;
  const runs = sftSchedule(paddedLengths(model, examples), {
    perStep: o.batch * o.accumulation,
    steps: o.steps,
    stepsPerRun: o.stepsPerRun,
    buckets: o.lengthBuckets ?? 1,
    seed: o.seed,
  });
  const perEpoch = examples.length / (o.batch * o.accumulation);
  // One trainer (compiled program) per bucket length and run size; the state moves between them.
  const trainers = new Map<string, Trainer>();
  let current: Trainer | undefined;
  const rows: SftStepMetrics[] = [];
  for (const run of runs) {
    const key = `${run.length}/${run.steps}`;
    let trainer = trainers.get(key);
    if (!trainer) {
      const spec: TrainProgramSpec = {
        trainable: [...model.params].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] })),
        batch: sftBatch(c, o.batch, run.length),
        steps: run.steps,
        accumulation: o.accumulation,
        optimizer: o.optimizer,
        schedule: o.schedule,
        clipNorm: o.clipNorm,
        loss: sftLoss(c),
      };
      trainer = new Trainer(runtime, buildTrainProgram(spec), spec, current?.parameters() ?? model.params);
      trainers.set(key, trainer);
    }
    if (current && current !== trainer) trainer.restore(current.snapshot());
    current = trainer;
    const slice = run.examples.map((i) => examples[i] as Example);
    const feeds: Record<string, TensorData> = sftFeeds(c, model.tokenizer, slice, o.batch, run.steps * o.accumulation, run.length, 0, o.lossAverage);
    const t0 = performance.now();
    const m = await trainer.run(feeds);
    const seconds = (performance.now() - t0) / 1000;
    const tokensPerStep = o.batch * o.accumulation * (run.length + imageTokens(c));
    const these = m.step.map((step, i) => ({
      step,
      epoch: step / perEpoch,
      loss: m.values.loss?.[i] ?? Number.NaN,
      token_accuracy: m.values.token_accuracy?.[i] ?? Number.NaN,
      grad_norm: m.values.grad_norm?.[i] ?? Number.NaN,
      learning_rate: m.values.lr?.[i] ?? Number.NaN,
      tokens_per_second: (tokensPerStep * run.steps) / seconds,
    }));
    rows.push(...these);
    onRun?.(these);
  }
  const params = new Map(model.params);
  for (const [name, t] of current?.parameters() ?? []) params.set(name, t);
  return { model: { ...model, params }, rows };
}
