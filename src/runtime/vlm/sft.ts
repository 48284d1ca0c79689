// Supervised fine-tuning of a TinyVLM: shuffles the examples each epoch (seeded), stages K optimizer steps of
// micro-batches per ONNX Runtime run, and reports per-step metrics. When the total is not a multiple of K, the
// last run uses a second program of the remaining steps that continues from the first one's state.
import type { TensorData } from "../../compiler/tensor/ir/graph.ts";
import { imageTokens } from "../../compiler/tensor/models/tinyvlm/config.ts";
import { sftBatch, sftLoss } from "../../compiler/tensor/models/tinyvlm/programs.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../compiler/tensor/optim/types.ts";
import { Rng } from "../../compiler/tensor/params/random.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../../compiler/tensor/program/train-program.ts";
import type { Runtime } from "../session.ts";
import { Trainer } from "../trainer.ts";
import { type Example, FeedError, sftFeeds } from "./feeds.ts";
import type { VlmModel } from "./model.ts";

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

/** Text positions per sequence: the longest example's (<bos> prompt answer <eos>) rounded up to a multiple of 8, within the model's context. */
export function sequenceLength(model: VlmModel, examples: readonly Example[]): number {
  let longest = 1;
  let which = "";
  for (const ex of examples) {
    const n = 1 + model.tokenizer.encode(ex.prompt).length + model.tokenizer.encode(ex.answer).length;
    if (n > longest) [longest, which] = [n, ex.id];
  }
  const limit = model.config.textContext;
  if (longest > limit)
    throw new FeedError(`example ${which}: ${longest} tokens do not fit the model's text context of ${limit}; shorten it or use a model with a larger context`);
  return Math.min(limit, Math.ceil(longest / 8) * 8);
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
  const length = sequenceLength(model, examples);
  const microBatches = o.steps * o.accumulation;
  const order = dataOrder(examples.length, microBatches * o.batch, o.seed);
  const perEpoch = examples.length / (o.batch * o.accumulation);

  const k = Math.min(o.stepsPerRun, o.steps);
  const specFor = (steps: number): TrainProgramSpec => ({
    trainable: [...model.params].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] })),
    batch: sftBatch(c, o.batch, length),
    steps,
    accumulation: o.accumulation,
    optimizer: o.optimizer,
    schedule: o.schedule,
    clipNorm: o.clipNorm,
    loss: sftLoss(c),
  });
  const spec = specFor(k);
  let trainer = new Trainer(runtime, buildTrainProgram(spec), spec, model.params);
  const rows: SftStepMetrics[] = [];
  const tokensPerStep = o.batch * o.accumulation * (length + imageTokens(c));
  while (trainer.step < o.steps) {
    const left = o.steps - trainer.step;
    if (left < trainer.spec.steps) {
      const rest = specFor(left);
      const next = new Trainer(runtime, buildTrainProgram(rest), rest, trainer.parameters());
      next.restore(trainer.snapshot());
      trainer = next;
    }
    const steps = trainer.spec.steps;
    const first = trainer.step * o.accumulation * o.batch;
    const slice = order.slice(first, first + steps * o.accumulation * o.batch).map((i) => examples[i] as Example);
    const feeds: Record<string, TensorData> = sftFeeds(c, model.tokenizer, slice, o.batch, steps * o.accumulation, length);
    const t0 = performance.now();
    const m = await trainer.run(feeds);
    const seconds = (performance.now() - t0) / 1000;
    const these = m.step.map((step, i) => ({
      step,
      epoch: step / perEpoch,
      loss: m.values.loss?.[i] ?? Number.NaN,
      token_accuracy: m.values.token_accuracy?.[i] ?? Number.NaN,
      grad_norm: m.values.grad_norm?.[i] ?? Number.NaN,
      learning_rate: m.values.lr?.[i] ?? Number.NaN,
      tokens_per_second: (tokensPerStep * steps) / seconds,
    }));
    rows.push(...these);
    onRun?.(these);
  }
  const params = new Map(model.params);
  for (const [name, t] of trainer.parameters()) params.set(name, t);
  return { model: { ...model, params }, rows };
}

/** Example indices for `n` draws: a fresh seeded permutation for every pass over the data. */
export function dataOrder(examples: number, n: number, seed: number): number[] {
  const out: number[] = [];
  for (let epoch = 0; out.length < n; epoch++) {
    const rng = new Rng(seed).fork(`sft/order/${epoch}`);
    const perm = Array.from({ length: examples }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
    }
    out.push(...perm);
  }
  return out.slice(0, n);
}
