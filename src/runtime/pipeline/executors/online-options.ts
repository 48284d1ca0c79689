// What online and mixed DPO (online-rounds.ts) take and give: the options, the prompts and offline pairs, the
// annotator, the model family's side (OnlinePolicy: TinyVLM in online-tinyvlm.ts, Hugging Face decoders in
// online-hf.ts), per-round statistics, progress hooks, the result, and the step budget a schedule is laid out over.
import type { PreferenceObjective } from "../../../models/layers/preference.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../../tensor/optim/types.ts";
import type { MixedPrecision } from "../../../tensor/program/train-program.ts";
import type { BdhsCompleter, BdhsOptions } from "../../data/prefdata/bdhs.ts";
import type { SampleRecord, SamplerInfo } from "../../data/prefdata/records.ts";
import type { SampleStats } from "../../data/prefdata/sample.ts";
import type { ScoreExpr } from "../../data/prefdata/score.ts";
import type { Similarity } from "../../data/prefdata/similarity.ts";
import type { DpoOptions, DpoStepMetrics } from "../../models/tinyvlm/dpo.ts";
import type { SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import type { RaterRuntime } from "../../raters/types.ts";
import type { WorldItem } from "../../world/format.ts";

/** A settings or data problem found while running online DPO; the message says what to change. */
export class OnlineError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7011";
  override name = "OnlineError";
}

/** A prompt to sample on: its world item and its image's RGB bytes at the model's size (null: text-only). */
export interface OnlinePrompt {
  item: WorldItem;
  rgb: Uint8Array | null;
}

/** A slot of a round: its key (unique in the phase) and its prompt. */
export interface Slot {
  key: string;
  prompt: OnlinePrompt;
}

/** An answer of a round to score (with the reference, or the sampler for the KL): its prompt and text, under a key unique in the round. */
export interface OnlineAnswer {
  key: string;
  prompt: OnlinePrompt;
  answer: string;
}

/** A pair a round trains on (online, or mixed DPO's offline one), with its weight and reference log-probs (sum or mean, as `logps`). */
export interface RoundPair {
  id: string;
  prompt: OnlinePrompt;
  chosen: string;
  rejected: string;
  weight: number;
  refChosen: number;
  refRejected: number;
}

/** The settings of a round's DPO steps (the adapters, if any, are the policy's). */
export type RoundTraining = Omit<DpoOptions, "lora">;

/** What the summary says of a policy's LoRA adapters. */
export interface LoraSummary {
  rank: number;
  alpha: number;
  /** Adapted weights. */
  weights: number;
  trainable_parameters: number;
}

/**
 * A model family's side of online and mixed DPO: the policy being trained (its optimizer state carried from round to
 * round), the sampler (the policy as of its last refresh) and the reference model. TinyVLM: online-tinyvlm.ts;
 * Hugging Face decoders: online-hf.ts.
 */
export interface OnlinePolicy {
  /** Optimizer steps so far. */
  readonly step: number;
  /** Whether answers are scored against a reference model (false: reference-free, log-probs 0). */
  readonly hasReference: boolean;
  /** The prompts of `items` as the family samples and trains on them (TinyVLM: images decoded at its size; text models refuse images). */
  prompts(items: readonly WorldItem[]): Promise<OnlinePrompt[]>;
  /** The sampler becomes the current policy. */
  refresh(): Promise<void>;
  /** `n` responses per slot from the sampler (records in slot order, with the slots' keys as ids). */
  sample(slots: readonly Slot[], n: number, sampler: SamplerInfo): Promise<{ records: SampleRecord[]; stats: SampleStats }>;
  /** Whether prompt + answer fit the model's context (what the DPO and log-prob programs need). */
  fits(prompt: OnlinePrompt, answer: string): boolean;
  /** Each answer's log-prob (with its final end-of-sequence token) under the reference model or the sampler, by key. */
  logProbs(model: "reference" | "sampler", answers: readonly OnlineAnswer[]): Promise<Map<string, SequenceLogProb>>;
  /** DPO steps on a round's pairs, continuing the policy's optimizer state. */
  train(pairs: readonly RoundPair[], o: RoundTraining, onRun: (rows: DpoStepMetrics[]) => void): Promise<void>;
  /** The sampler as BDHS's completer, which online BDHS rewrites with; undefined for models BDHS does not run on (text decoders). */
  bdhsGenerator(): BdhsCompleter | undefined;
  /** Writes the trained policy into `out` as its family's checkpoint (with LoRA, the adapter files too). */
  save(out: string): void;
  /** With LoRA: what the summary says of the adapters. */
  loraSummary(): LoraSummary | undefined;
  /** Releases the sampler's sessions and scratch files. */
  close(): Promise<void>;
}

/** An offline pair of mixed DPO, with its precomputed reference log-probs (already sum or mean, as `logps`). */
export interface OfflinePair {
  id: string;
  prompt: OnlinePrompt;
  chosen: string;
  rejected: string;
  refChosen: number;
  refRejected: number;
}

export type OnlineAnnotator =
  | { kind: "rater"; rater: RaterRuntime; score: ScoreExpr; margin: number }
  | { kind: "bdhs"; similarity: Similarity; options: Omit<BdhsOptions, "seed"> };

export interface OnlineSampling {
  temperature: number;
  /** 1: off. */
  topP: number;
  /** 0: off. */
  topK: number;
  maxTokens: number;
  /** Rows per generation run (default 64). */
  batch?: number;
}

export interface OnlineOptions {
  rounds: number;
  promptsPerRound: number;
  /** Responses per prompt (annotator), at least 2. */
  samples: number;
  /** Rounds between refreshes of the sampling policy. */
  refresh: number;
  sampling: OnlineSampling;
  annotator: OnlineAnnotator;
  objective: PreferenceObjective;
  batch: number;
  accumulation: number;
  /** Optimizer steps per round; undefined: ceil(epochs · pairs / (batch · accumulation)). */
  stepsPerRound?: number;
  /** Passes over a round's pairs when stepsPerRound is not set (default 1). */
  epochs?: number;
  /** Optimizer steps per ONNX Runtime run (K), at most. */
  stepsPerRun: number;
  optimizer: OptimizerConfig;
  /** Laid out over onlineStepBudget(…).total steps. */
  schedule: ScheduleConfig;
  clipNorm: number;
  /** Half-precision compute with float32 master weights and loss scaling (the training steps only). */
  mixedPrecision?: MixedPrecision;
  seed: number;
  /** Mixed DPO: the offline pairs, and p, the probability of keeping a slot's offline pair. */
  mixed?: { pairs: readonly OfflinePair[]; p: number };
}

/** A step row: trainDpo's metrics plus the round and the round's objective/* (epoch counts passes over the prompts, or the offline pairs). */
export type OnlineStepMetrics = DpoStepMetrics & { round: number };

export interface OnlineRoundStats {
  round: number;
  /** Slots of the round (prompts, or offline pairs in mixed DPO). */
  prompts: number;
  /** Slots that asked for an online pair (all of them in online DPO). */
  online_prompts: number;
  /** Mixed: slots that kept their offline pair by the coin, and those that fell back to it for want of an online pair. */
  offline_pairs?: number;
  fallback_pairs?: number;
  /** Responses generated (annotator: samples per online prompt; BDHS: one rejected answer per prompt with a ground truth). */
  responses: number;
  empty_responses: number;
  unfinished_responses: number;
  /** Online prompts that made no pair (margin, ties, no ground truth for BDHS). */
  dropped: number;
  /** Online pairs left out because an answer does not fit the model's text context with its prompt (long BDHS rewrites). */
  too_long: number;
  online_pairs: number;
  /** Pairs trained on this round (online + offline). */
  pairs: number;
  steps: number;
  /** The optimizer step count after the round. */
  step: number;
  /** Whether the sampler was refreshed with the current policy at the start of the round. */
  refreshed: boolean;
  "objective/kl"?: number;
  "objective/scores"?: number;
  "objective/scores_margin"?: number;
  "bdhs/similarity"?: number;
  "bdhs/accepted"?: number;
  /** Mean over the round's steps (absent when it trained none). */
  loss?: number;
  "rewards/accuracies"?: number;
  "rewards/margins"?: number;
  seconds: { sampling: number; annotating: number; reference: number; training: number; total: number };
}

export interface OnlineHooks {
  /** A round's step rows, as each ONNX Runtime run ends. */
  onSteps?: (rows: OnlineStepMetrics[]) => void;
  /** After each round. */
  onRound?: (stats: OnlineRoundStats) => void;
  /** When a round enters a part (for progress lines). */
  onPhase?: (round: number, phase: "sampling" | "annotating" | "reference" | "training") => void;
}

export interface OnlineResult {
  rows: OnlineStepMetrics[];
  rounds: OnlineRoundStats[];
}

/** Pairs a round can make at most: one per slot. */
export function pairsPerRoundAtMost(o: Pick<OnlineOptions, "promptsPerRound">): number {
  return o.promptsPerRound;
}

/** Steps a round with `pairs` pairs trains: `stepsPerRound`, or ceil(epochs · pairs / (batch · accumulation)); none without pairs. */
export function roundSteps(o: Pick<OnlineOptions, "batch" | "accumulation" | "stepsPerRound" | "epochs">, pairs: number): number {
  if (pairs === 0) return 0;
  return o.stepsPerRound ?? Math.ceil(((o.epochs ?? 1) * pairs) / (o.batch * o.accumulation));
}

/** The most steps a round can train and the whole run's budget (what a decaying schedule is laid out over). */
export function onlineStepBudget(o: Pick<OnlineOptions, "batch" | "accumulation" | "stepsPerRound" | "epochs" | "rounds" | "promptsPerRound">): {
  perRound: number;
  total: number;
} {
  const perRound = roundSteps(o, pairsPerRoundAtMost(o));
  return { perRound, total: perRound * o.rounds };
}
