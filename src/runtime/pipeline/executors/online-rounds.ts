// Online and mixed DPO (Amirloo et al. 2024, arXiv:2407.02477; docs/online-dpo.md): rounds of
// sample → annotate → DPO steps, with the optimizer state carried from round to round in one TrainerPool.
//
// Round r = 1 … rounds:
//   1. Slots. Online: prompts_per_round prompts, in seeded permutations of the prompt set taken one after the other
//      (a pass ends → a fresh permutation), so every prompt is used once before any is used again. Mixed: as many
//      offline pairs, in the same way over the offline pairs; each keeps its offline pair with probability p and
//      otherwise asks for an online pair of its own prompt (its item).
//   2. Sampling policy. Every `refresh` rounds (rounds 1, 1 + refresh, …) the sampler is replaced by the current
//      policy (a fresh Generator on the trained weights, with its own seed); between refreshes it keeps sampling from
//      the weights it was given.
//   3. Online pairs.
//      - Annotator: `samples` responses per prompt from the sampler; the rater scores every response (its own mode:
//        listwise, pointwise, or pairwise — each response's score is then its mean over the comparisons it was in,
//        src/runtime/raters/protocol.ts); the score expression gives one number per response, and the prompt's pair
//        is best vs worst (pairIndices of pairing.ts with rejected: worst, ties: first, one pair per prompt): the
//        prompt is dropped when no response scores at least `margin` below the best (and strictly below it).
//      - Online BDHS: the sampler rewrites the ground truth's sentences from cut prefixes while it barely sees the
//        image (runBdhs, src/runtime/data/prefdata/bdhs.ts); chosen = the ground truth, rejected = its answer. Prompts
//        without a ground-truth answer make no pair.
//      In mixed DPO, a slot whose prompt made no online pair falls back to its offline pair (counted).
//   4. Reference log-probs of the new answers with the reference model (answerLogProbs); reference-free: 0.
//   5. DPO steps on the round's pairs through trainDpo with the shared pool: `steps` per round when set, else
//      ceil(epochs · pairs / (batch · accumulation)) (epochs default 1: one pass over the round's pairs). Batches are
//      filled from seeded permutations of the round's pairs taken one after the other, as offline DPO fills its last
//      batch, so a round that made fewer pairs than a batch holds repeats some of them in its one step; a round that
//      made no pair trains no step. Pairs are never kept for a later round (they would be off the policy by then).
//
// Per-round statistics (rounds.jsonl) and on every step row of the round:
//   objective/kl            mean over the round's policy-generated answers of log π_s(y|x) − log π_ref(y|x), the
//                           summed answer log-probs (with the final <eos>) under the sampling policy π_s and the
//                           reference, both scored by the log-prob program on the same tokens (so it is exactly 0
//                           while the sampler is the reference). With the annotator: every sampled response; with
//                           BDHS: every rejected answer (generated under masking, scored with the whole image).
//                           Not reported when training reference-free.
//   objective/scores        mean score (the score expression) of every sampled response (annotator only)
//   objective/scores_margin mean score(chosen) − score(rejected) over the round's online pairs (annotator only)
//   bdhs/similarity, bdhs/accepted  mean similarity of the rejected answers to the ground truth, share accepted (BDHS)
// and the time split: sampling (generation, with the programs it compiles; for BDHS everything but the similarity),
// annotating (rating and pairing; for BDHS the similarity), reference (log-probs for the reference and the KL),
// training (the DPO steps, with the programs they compile).
//
// LoRA (o.lora, docs/lora.md): the adapters are built once, before round 1, from the phase's seed (as trainSft and
// trainDpo build theirs: buildAdapters(model, lora, seed), A drawn from the `lora` fork), and the one pool trains
// them over the frozen base weights through every round, their AdamW state carried like the full model's. The
// sampler of a refresh is the merged current policy (pool.trained(): W + (α/r)·A·B), so round 1 samples from exactly
// the initial model (B = 0). The result carries the trained adapters (OnlineResult.adapters) for the checkpoint.
//
// Determinism: every draw comes from the seed (prompt order, coins, sampler seeds, BDHS masks, data order per
// round), and the generators, raters (grounded) and trainer are deterministic on CPU, so the same settings give the
// same pairs, steps and metrics.
import type { PreferenceObjective } from "../../../models/tinyvlm/dpo.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../../tensor/optim/types.ts";
import type { MixedPrecision } from "../../../tensor/program/train-program.ts";
import { Rng } from "../../../util/random.ts";
import { type BdhsOptions, runBdhs } from "../../data/prefdata/bdhs.ts";
import { pairIndices } from "../../data/prefdata/pairing.ts";
import type { SampleRecord, SamplerInfo } from "../../data/prefdata/records.ts";
import { sampleResponses } from "../../data/prefdata/sample.ts";
import { type ScoreExpr, scoreResponses } from "../../data/prefdata/score.ts";
import type { Similarity } from "../../data/prefdata/similarity.ts";
import type { Runtime } from "../../engine/session.ts";
import { buildAdapters, type LoraSettings, type TrainedAdapters } from "../../models/tinyvlm/adapters.ts";
import { type DpoStepMetrics, trainDpo } from "../../models/tinyvlm/dpo.ts";
import type { PairExample } from "../../models/tinyvlm/dpo-feeds.ts";
import type { Example } from "../../models/tinyvlm/feeds.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { answerLogProbs, type SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import type { VlmModel } from "../../models/tinyvlm/model.ts";
import { TrainerPool } from "../../models/tinyvlm/train-loop.ts";
import type { ItemFailure, RaterReply, RaterRequest, RaterRuntime } from "../../raters/types.ts";
import type { WorldItem } from "../../world/format.ts";

/** A settings or data problem found while running online DPO; the message says what to change. */
export class OnlineError extends Error {
  override name = "OnlineError";
}

/** A prompt to sample on: its world item and its image's RGB bytes at the model's size (null: text-only). */
export interface OnlinePrompt {
  item: WorldItem;
  rgb: Uint8Array | null;
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
  /** The reference model (the initial policy or another model); null: reference-free (reference log-probs 0). */
  reference: VlmModel | null;
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
  /** Train LoRA adapters (built once from `seed`) instead of every weight; the sampler and the result are the merged weights. */
  lora?: LoraSettings;
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
  /** The trained model (with LoRA: the adapters merged in). */
  model: VlmModel;
  /** With LoRA: the trained adapters and the checkpoint files that keep them. */
  adapters?: TrainedAdapters;
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

/** Indices of `n` slots starting at `start`, through seeded permutations of `size` elements taken one after the other. */
export function cyclingOrder(size: number, start: number, n: number, seed: number, label: string): number[] {
  const out: number[] = [];
  const base = new Rng(seed);
  let pass = Math.floor(start / size);
  let at = start % size;
  while (out.length < n) {
    const rng = base.fork(`${label}/${pass}`);
    const perm = Array.from({ length: size }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
    }
    for (; at < size && out.length < n; at++) out.push(perm[at] as number);
    pass++;
    at = 0;
  }
  return out;
}

/** A 31-bit seed for `label`, derived from `seed`. */
const seedFor = (seed: number, label: string): number => new Rng(seed).fork(label).nextU32() & 0x7fffffff;

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

function checkOptions(o: OnlineOptions, prompts: number): void {
  const int = (name: string, v: number | undefined, min: number) => {
    if (v === undefined) return;
    if (!Number.isInteger(v) || v < min) throw new OnlineError(`${name} must be an integer ≥ ${min}, got ${v}`);
  };
  int("rounds", o.rounds, 1);
  int("prompts_per_round", o.promptsPerRound, 1);
  int("refresh", o.refresh, 1);
  int("batch", o.batch, 1);
  int("accumulation", o.accumulation, 1);
  int("steps", o.stepsPerRound, 1);
  int("steps_per_run", o.stepsPerRun, 1);
  if (o.annotator.kind === "rater") int("samples", o.samples, 2);
  if (o.epochs !== undefined && !(o.epochs > 0)) throw new OnlineError(`epochs must be positive, got ${o.epochs}`);
  if (o.mixed && !(o.mixed.p >= 0 && o.mixed.p <= 1)) throw new OnlineError(`p must be in [0, 1], got ${o.mixed.p}`);
  if (o.annotator.kind === "rater" && !(o.annotator.margin >= 0)) throw new OnlineError(`margin must be ≥ 0, got ${o.annotator.margin}`);
  const perStep = o.batch * o.accumulation;
  const most = pairsPerRoundAtMost(o);
  if (perStep > most)
    throw new OnlineError(
      `batch ${o.batch}${o.accumulation > 1 ? ` × accumulation ${o.accumulation}` : ""} is larger than the ${most} pairs a round can make ` +
        `(prompts_per_round ${o.promptsPerRound}, at most one pair per prompt); lower batch or raise prompts_per_round`,
    );
  if (prompts === 0) throw new OnlineError(o.mixed ? "no offline pairs to draw from" : "no prompts to sample on");
}

/** One slot's online pair, before reference log-probs: answers and, for the KL, the policy-generated answers. */
interface OnlinePair {
  slot: number;
  chosen: string;
  rejected: string;
  /** Keys of chosen and rejected in the round's scored answers. */
  chosenKey: string;
  rejectedKey: string;
}

interface Made {
  pairs: OnlinePair[];
  /** Every answer to score with the reference, by key. */
  answers: Map<string, Example>;
  /** Keys of the policy-generated answers (the KL's sample). */
  generated: string[];
  responses: number;
  empty: number;
  unfinished: number;
  dropped: number;
  tooLong: number;
  extra: Partial<OnlineRoundStats>;
  sampling: number;
  annotating: number;
}

function describeFailures(rater: string, failures: readonly ItemFailure[], total: number, round: number): string {
  const shown = failures.slice(0, 5).map((f) => `    ${f.message.includes(f.itemId) ? f.message : `item ${f.itemId}: ${f.message}`}`);
  const stderr = failures.find((f) => f.stderr?.trim())?.stderr?.trim();
  return (
    `the annotator ${rater} failed on ${failures.length} of ${total} prompts in round ${round}:\n${shown.join("\n")}` +
    `${failures.length > 5 ? `\n    … and ${failures.length - 5} more` : ""}${stderr ? `\n  its stderr ends: ${stderr.split("\n").slice(-3).join(" | ")}` : ""}`
  );
}

/** Whether prompt + answer fit the model's text context (what the DPO and log-prob programs need). */
function fitter(model: VlmModel): (prompt: string, answer: string) => boolean {
  const tok = model.tokenizer;
  return (prompt, answer) => 1 + tok.encode(prompt).length + tok.encode(answer).length <= model.config.textContext;
}

/** Annotator: sample, rate, pair best vs worst. */
async function annotatorPairs(
  generator: Generator,
  annotator: Extract<OnlineAnnotator, { kind: "rater" }>,
  slots: readonly { key: string; prompt: OnlinePrompt }[],
  o: OnlineOptions,
  samplerSeed: number,
  round: number,
): Promise<Made> {
  const t0 = performance.now();
  const items = slots.map((s) => ({ ...s.prompt.item, id: s.key }));
  const examples: Example[] = slots.map((s) => ({ id: s.key, prompt: s.prompt.item.prompt, answer: "", rgb: s.prompt.rgb }));
  const sampler: SamplerInfo = {
    model: "policy",
    temperature: o.sampling.temperature,
    top_p: o.sampling.topP,
    top_k: o.sampling.topK,
    max_tokens: o.sampling.maxTokens,
    seed: samplerSeed,
  };
  const { records, stats } = await sampleResponses(generator, items, examples, o.samples, sampler);
  const t1 = performance.now();
  const { rater, score, margin } = annotator;
  const { aspects, scale } = rater.info;
  const requests: RaterRequest[] = records.map((r: SampleRecord, i) => ({
    itemId: r.id,
    prompt: r.item.prompt,
    imagePath: r.item.image,
    responses: r.responses.map((x) => x.text),
    aspects,
    scale,
    // The grounded rater reads the scene from the world item (with its own id, not the slot's).
    groundTruth: (slots[i] as { prompt: OnlinePrompt }).prompt.item,
  }));
  const replies = new Map<string, RaterReply>();
  const failures = await rater.rate(requests, { onReply: (id, reply) => replies.set(id, reply) });
  if (failures.length > 0) throw new OnlineError(describeFailures(rater.info.rater, failures, requests.length, round));
  const pairs: OnlinePair[] = [];
  const answers = new Map<string, Example>();
  const generated: string[] = [];
  const allScores: number[] = [];
  const margins: number[] = [];
  let dropped = 0;
  let tooLong = 0;
  const fits = fitter(generator.model);
  records.forEach((r, i) => {
    const slot = slots[i] as { key: string; prompt: OnlinePrompt };
    const reply = replies.get(r.id);
    if (!reply) throw new OnlineError(`the annotator ${rater.info.rater} gave no reply for ${r.id} in round ${round}`);
    const scores = scoreResponses(score, r.id, reply.scores);
    allScores.push(...scores);
    // Generation stays within the context; its text, tokenized again, very rarely does not.
    const fit = r.responses.map((resp) => fits(slot.prompt.item.prompt, resp.text));
    r.responses.forEach((resp, j) => {
      if (!fit[j]) return;
      const key = `${slot.key}/${j}`;
      answers.set(key, { id: key, prompt: slot.prompt.item.prompt, answer: resp.text, rgb: slot.prompt.rgb });
      generated.push(key);
    });
    const picked = pairIndices(scores, undefined, { margin, rejected: "worst", ties: "first", per_prompt: 1 }, () => new Rng(0));
    if (typeof picked === "string") {
      dropped++;
      return;
    }
    const rejected = picked.rejected[0] as number;
    if (!fit[picked.chosen] || !fit[rejected]) {
      tooLong++;
      return;
    }
    margins.push((scores[picked.chosen] as number) - (scores[rejected] as number));
    pairs.push({
      slot: i,
      chosen: (r.responses[picked.chosen] as { text: string }).text,
      rejected: (r.responses[rejected] as { text: string }).text,
      chosenKey: `${slot.key}/${picked.chosen}`,
      rejectedKey: `${slot.key}/${rejected}`,
    });
  });
  const t2 = performance.now();
  return {
    pairs,
    answers,
    generated,
    responses: stats.responses,
    empty: stats.empty_responses,
    unfinished: stats.unfinished_responses,
    dropped,
    tooLong,
    extra: { "objective/scores": mean(allScores), "objective/scores_margin": margins.length > 0 ? mean(margins) : 0 },
    sampling: (t1 - t0) / 1000,
    annotating: (t2 - t1) / 1000,
  };
}

/** Online BDHS: the sampler rewrites the ground truth of every slot that has one. */
async function bdhsPairs(
  generator: Generator,
  annotator: Extract<OnlineAnnotator, { kind: "bdhs" }>,
  slots: readonly { key: string; prompt: OnlinePrompt }[],
  seed: number,
): Promise<Made> {
  const usable = slots.map((s, i) => ({ ...s, slot: i })).filter((s) => s.prompt.item.answer.trim() !== "");
  // The similarity is BDHS's annotator: its time is the annotating time, the rest of BDHS (generation, programs) sampling.
  let similaritySeconds = 0;
  const timed: Similarity = {
    name: annotator.similarity.name,
    async scores(candidates, references) {
      const t = performance.now();
      try {
        return await annotator.similarity.scores(candidates, references);
      } finally {
        similaritySeconds += (performance.now() - t) / 1000;
      }
    },
  };
  const { pairs: made, stats } = await runBdhs(
    generator,
    timed,
    usable.map((s) => ({ item: { ...s.prompt.item, id: s.key }, rgb: s.prompt.rgb })),
    { ...annotator.options, seed },
  );
  const pairs: OnlinePair[] = [];
  const answers = new Map<string, Example>();
  const generated: string[] = [];
  let accepted = 0;
  let empty = 0;
  let tooLong = 0;
  const fits = fitter(generator.model);
  made.forEach((p, k) => {
    const s = usable[k] as (typeof usable)[number];
    if (p.source.kind === "bdhs" && p.source.accepted !== null) accepted++;
    if (p.rejected === "") empty++;
    // Each sentence's completion may take max_tokens: a rewrite of a long answer can outgrow the context.
    if (!fits(s.prompt.item.prompt, p.chosen) || !fits(s.prompt.item.prompt, p.rejected)) {
      tooLong++;
      return;
    }
    const chosenKey = `${s.key}/chosen`;
    const rejectedKey = `${s.key}/rejected`;
    answers.set(chosenKey, { id: chosenKey, prompt: s.prompt.item.prompt, answer: p.chosen, rgb: s.prompt.rgb });
    answers.set(rejectedKey, { id: rejectedKey, prompt: s.prompt.item.prompt, answer: p.rejected, rgb: s.prompt.rgb });
    generated.push(rejectedKey);
    pairs.push({ slot: s.slot, chosen: p.chosen, rejected: p.rejected, chosenKey, rejectedKey });
  });
  return {
    pairs,
    answers,
    generated,
    responses: made.length,
    empty,
    unfinished: 0,
    dropped: slots.length - usable.length,
    tooLong,
    extra: { "bdhs/similarity": stats.similarity_mean_emitted, "bdhs/accepted": made.length > 0 ? accepted / made.length : 0 },
    sampling: Math.max(0, stats.seconds - similaritySeconds),
    annotating: similaritySeconds,
  };
}

/**
 * Online DPO (or mixed DPO with `o.mixed`): `prompts` are the prompt set (ignored in mixed DPO, whose slots are the
 * offline pairs' prompts). Returns the trained model, every step row and every round's statistics.
 */
export async function trainOnline(
  runtime: Runtime,
  model: VlmModel,
  prompts: readonly OnlinePrompt[],
  o: OnlineOptions,
  hooks: OnlineHooks = {},
): Promise<OnlineResult> {
  const source = o.mixed ? o.mixed.pairs.length : prompts.length;
  checkOptions(o, source);
  // LoRA: one set of adapters for the whole phase, seeded like trainDpo's (A from the seed's `lora` fork).
  const pool = new TrainerPool(runtime, model, o.lora ? buildAdapters(model, o.lora, o.seed) : undefined);
  const pick = (lp: SequenceLogProb | undefined): number => (lp ? (o.objective.logps === "sum" ? lp.sum : lp.mean) : 0);
  const rows: OnlineStepMetrics[] = [];
  const rounds: OnlineRoundStats[] = [];
  let generator: Generator | undefined;
  let samplerModel: VlmModel = model;
  let samplerSeed = 0;
  let steps = 0;
  try {
    for (let r = 1; r <= o.rounds; r++) {
      const started = performance.now();
      const refreshed = (r - 1) % o.refresh === 0;
      if (refreshed) {
        await generator?.close();
        samplerModel = pool.trained();
        samplerSeed = seedFor(o.seed, `online/sampler/${r}`);
        generator = new Generator(runtime, samplerModel);
      }
      const gen = generator as Generator;
      // 1. Slots: prompts, or offline pairs with their coins.
      const order = cyclingOrder(source, (r - 1) * o.promptsPerRound, o.promptsPerRound, o.seed, o.mixed ? "mixed/order" : "online/order");
      const coin = new Rng(o.seed).fork(`mixed/coin/${r}`);
      const keep = order.map(() => (o.mixed ? coin.uniform() < o.mixed.p : false));
      const slots = order.map((index, k) => {
        const prompt = o.mixed ? (o.mixed.pairs[index] as OfflinePair).prompt : (prompts[index] as OnlinePrompt);
        return { key: `r${r}.${k}:${prompt.item.id}`, prompt };
      });
      const onlineSlots = slots.map((s, k) => ({ ...s, k })).filter((s) => !keep[s.k]);
      // 2–3. Online pairs.
      hooks.onPhase?.(r, "sampling");
      const empty: Made = {
        pairs: [],
        answers: new Map(),
        generated: [],
        responses: 0,
        empty: 0,
        unfinished: 0,
        dropped: 0,
        tooLong: 0,
        extra: {},
        sampling: 0,
        annotating: 0,
      };
      let made = empty;
      if (onlineSlots.length > 0)
        made =
          o.annotator.kind === "rater"
            ? await annotatorPairs(gen, o.annotator, onlineSlots, o, samplerSeed, r)
            : await bdhsPairs(gen, o.annotator, onlineSlots, seedFor(o.seed, `online/bdhs/${r}`));
      // 4. Reference log-probs of the new answers, and the sampler's for the KL.
      hooks.onPhase?.(r, "reference");
      const t3 = performance.now();
      let ref = new Map<string, SequenceLogProb>();
      let kl: number | undefined;
      if (o.reference && made.answers.size > 0) {
        ref = await answerLogProbs(runtime, o.reference, [...made.answers.values()]);
        const generated = made.generated.map((key) => made.answers.get(key) as Example);
        if (generated.length > 0) {
          const policy = await answerLogProbs(runtime, samplerModel, generated);
          kl = mean(made.generated.map((key) => (policy.get(key)?.sum as number) - (ref.get(key)?.sum as number)));
        }
      }
      const referenceSeconds = (performance.now() - t3) / 1000;
      // The round's pairs, in slot order: online pairs, and in mixed DPO the offline ones (kept or fallen back to).
      const online = new Map(made.pairs.map((p) => [onlineSlots[p.slot]?.k as number, p]));
      const pairs: PairExample[] = [];
      let offline = 0;
      let fallback = 0;
      slots.forEach((s, k) => {
        const p = online.get(k);
        if (p) {
          pairs.push({
            id: `r${r}/${k}/online`,
            prompt: s.prompt.item.prompt,
            chosen: p.chosen,
            rejected: p.rejected,
            rgb: s.prompt.rgb,
            weight: 1,
            refChosen: pick(ref.get(p.chosenKey)),
            refRejected: pick(ref.get(p.rejectedKey)),
          });
          return;
        }
        if (!o.mixed) return;
        if (keep[k]) offline++;
        else fallback++;
        const q = o.mixed.pairs[order[k] as number] as OfflinePair;
        pairs.push({
          id: `r${r}/${k}/${q.id}`,
          prompt: q.prompt.item.prompt,
          chosen: q.chosen,
          rejected: q.rejected,
          rgb: q.prompt.rgb,
          weight: 1,
          refChosen: o.reference ? q.refChosen : 0,
          refRejected: o.reference ? q.refRejected : 0,
        });
      });
      // 5. DPO steps.
      const n = roundSteps(o, pairs.length);
      const t4 = performance.now();
      const these: OnlineStepMetrics[] = [];
      const objective: Record<string, number> = {};
      if (kl !== undefined) objective["objective/kl"] = kl;
      for (const [k, v] of Object.entries(made.extra)) if (typeof v === "number") objective[k] = v;
      if (n > 0) {
        hooks.onPhase?.(r, "training");
        const offset = pool.step;
        const perRound = o.promptsPerRound / source;
        await trainDpo(
          runtime,
          model,
          pairs,
          {
            objective: o.objective,
            batch: o.batch,
            accumulation: o.accumulation,
            steps: n,
            stepsPerRun: Math.min(n, o.stepsPerRun),
            optimizer: o.optimizer,
            schedule: o.schedule,
            clipNorm: o.clipNorm,
            ...(o.mixedPrecision ? { mixedPrecision: o.mixedPrecision } : {}),
            seed: seedFor(o.seed, `online/train/${r}`),
            // The pool brings the adapters; trainDpo checks that it has them.
            lora: o.lora,
          },
          (run) => {
            const decorated = run.map((row) => {
              const out = row as OnlineStepMetrics;
              out.round = r;
              // Passes over the prompt set (mixed: over the offline pairs), as TRL counts online epochs.
              out.epoch = (r - 1 + (row.step - offset) / n) * perRound;
              Object.assign(out, objective);
              return out;
            });
            these.push(...decorated);
            hooks.onSteps?.(decorated);
          },
          { pool },
        );
        steps += n;
      }
      const trainingSeconds = (performance.now() - t4) / 1000;
      rows.push(...these);
      const stats: OnlineRoundStats = {
        round: r,
        prompts: slots.length,
        online_prompts: onlineSlots.length,
        ...(o.mixed ? { offline_pairs: offline, fallback_pairs: fallback } : {}),
        responses: made.responses,
        empty_responses: made.empty,
        unfinished_responses: made.unfinished,
        dropped: made.dropped,
        too_long: made.tooLong,
        online_pairs: made.pairs.length,
        pairs: pairs.length,
        steps: n,
        step: pool.step,
        refreshed,
        ...objective,
        ...(these.length > 0
          ? {
              loss: mean(these.map((x) => x.loss)),
              "rewards/accuracies": mean(these.map((x) => x["rewards/accuracies"] as number)),
              "rewards/margins": mean(these.map((x) => x["rewards/margins"] as number)),
            }
          : {}),
        seconds: {
          sampling: made.sampling,
          annotating: made.annotating,
          reference: referenceSeconds,
          training: trainingSeconds,
          total: (performance.now() - started) / 1000,
        },
      };
      rounds.push(stats);
      hooks.onRound?.(stats);
    }
  } finally {
    await generator?.close();
  }
  if (steps === 0)
    throw new OnlineError(
      `no round made a preference pair, so nothing was trained${
        o.annotator.kind === "rater"
          ? `: a prompt whose ${o.samples} responses all score within margin ${o.annotator.margin} of the best (or all the same) makes none; raise samples or prompts_per_round, or lower margin`
          : ""
      }`,
    );
  const adapters = pool.adapters();
  return adapters ? { model: pool.trained(), adapters, rows, rounds } : { model: pool.trained(), rows, rounds };
}
