// Supervised fine-tuning of a TinyVLM: follows the schedule of runs (sft-schedule.ts: seeded epochs, optional
// length buckets), stages each run's K optimizer steps of micro-batches for one ONNX Runtime run, and reports
// per-step metrics. Each (bucket length, K) pair has its own compiled program; parameters and optimizer state
// move between them, so a remainder run or a change of bucket continues exactly where the last run stopped.
import { imageTokens } from "../../../models/tinyvlm/config.ts";
import { sftBatch, sftLoss } from "../../../models/tinyvlm/programs.ts";
import type { Runtime } from "../../engine/session.ts";
import type { TrainerState } from "../../engine/trainer.ts";
import { buildAdapters, type TrainedAdapters } from "./adapters.ts";
import { type Example, FeedError, type LossAverage, sftFeeds } from "./feeds.ts";
import type { VlmModel } from "./model.ts";
import { sftSchedule } from "./sft-schedule.ts";
import { ampColumns, type LoopHooks, TrainerPool, type TrainingOptions, trainRuns } from "./train-loop.ts";

export interface SftOptions extends TrainingOptions {
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
  /** Mixed precision only: the step's loss scale, and 1 where it was skipped (gradients overflowed). */
  "amp/loss_scale"?: number;
  "amp/skipped"?: number;
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

/** Where a resumed training continues: the runs its checkpoint covers and the state after them. */
export interface ResumePoint {
  runsDone: number;
  state: TrainerState;
}

export async function trainSft(
  runtime: Runtime,
  model: VlmModel,
  examples: readonly Example[],
  o: SftOptions,
  onRun?: (rows: SftStepMetrics[]) => void,
  more: { onRunEnd?: LoopHooks<SftStepMetrics>["onRunEnd"]; resume?: ResumePoint } = {},
): Promise<{ model: VlmModel; rows: SftStepMetrics[]; adapters?: TrainedAdapters }> {
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
  const pool = new TrainerPool(runtime, model, o.lora ? buildAdapters(model, o.lora, o.seed) : undefined);
  if (more.resume) pool.restore(more.resume.state);
  const rows = await trainRuns<SftStepMetrics>(
    pool,
    runs,
    {
      spec: (run) => pool.spec(o, sftBatch(c, o.batch, run.length), run.steps, sftLoss(c)),
      feeds: (run) =>
        sftFeeds(
          c,
          model.tokenizer,
          run.examples.map((i) => examples[i] as Example),
          o.batch,
          run.steps * o.accumulation,
          run.length,
          0,
          o.lossAverage,
        ),
      rows: (m, run, seconds) => {
        const tokensPerStep = o.batch * o.accumulation * (run.length + imageTokens(c));
        return m.step.map((step, i) => ({
          step,
          epoch: step / perEpoch,
          loss: m.values.loss?.[i] ?? Number.NaN,
          token_accuracy: m.values.token_accuracy?.[i] ?? Number.NaN,
          grad_norm: m.values.grad_norm?.[i] ?? Number.NaN,
          learning_rate: m.values.lr?.[i] ?? Number.NaN,
          tokens_per_second: (tokensPerStep * run.steps) / seconds,
          ...ampColumns(m, i),
        }));
      },
    },
    { onRun, onRunEnd: more.onRunEnd },
    more.resume?.runsDone ?? 0,
  );
  const adapters = pool.adapters();
  return adapters ? { model: pool.trained(), rows, adapters } : { model: pool.trained(), rows };
}
