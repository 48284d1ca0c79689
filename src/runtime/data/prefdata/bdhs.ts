// Bias-Driven Hallucination Sampling (Amirloo et al., Algorithm 1; docs/bdhs.md): rejected answers written by the
// model itself while it barely sees the image, guided by prefixes of the ground truth.
//
// For a batch of items and attempts i = 1 … N: every pending item draws a fresh keep mask (image token visible iff
// u ≥ ρ) — or, with noise "pixels", noised pixels and every token kept. If N > 1 and i = N the model answers the
// prompt unguided; otherwise each ground-truth sentence s (of every pending item, all in one batched generation)
// may have its leading yes/no swapped, is cut at a random position, and the model completes the kept prefix from
// the prompt, the ground-truth sentences before s and the prefix, until a full stop or <eos>. The answer (prefix +
// completion over the sentences) is accepted when its similarity to the ground truth is below ε; the others try
// again with fresh masks and cuts. An item no attempt satisfied keeps its last attempt, marked accepted: null.
import { imageTokens } from "../../../models/tinyvlm/config.ts";
import { Rng } from "../../../util/random.ts";
import { continuationText, type GenerateRow, type Generator, sentenceStopTokens } from "../../models/tinyvlm/generate-rows.ts";
import type { WorldItem } from "../../world/format.ts";
import type { BdhsTry, PairRecord } from "./records.ts";
import { type CutUnit, cutSentence, joinSentences, maybeFlipYesNo, splitSentences, type Uniform } from "./sentences.ts";
import type { Similarity } from "./similarity.ts";

export type BdhsNoise = "latent" | "pixels";

export interface BdhsOptions {
  /** ρ: an image token stays visible iff u ≥ ρ (latent noise), or the pixels' noise level (pixels noise). */
  rho: number;
  /** ε: an attempt is accepted when its similarity to the ground truth is below ε. */
  epsilon: number;
  /** N ≥ 1: attempts per item; with N > 1 the last is unguided. */
  tries: number;
  /** Probability of swapping a sentence's leading yes/no. */
  yesNoFlip: number;
  cut: CutUnit;
  noise: BdhsNoise;
  /** Decoding temperature of completions (0 = greedy). */
  temperature: number;
  topP?: number;
  topK?: number;
  /** Most new tokens per completion (per sentence when guided, per answer when unguided). */
  maxTokens: number;
  seed: number;
  /** Rows per generation run (default 64). */
  batch?: number;
  /** Most new tokens per generation run; unfinished completions continue in another run (default 16; see generate-rows.ts). */
  roundTokens?: number;
  /** Items taken through all attempts together (default 256); bounds memory and sets the progress granularity. */
  chunk?: number;
}

export interface BdhsItem {
  item: WorldItem;
  /** RGB bytes at the model's image size, or null for a text-only item. */
  rgb: Uint8Array | null;
}

export const HISTOGRAM_BINS = 10;

export interface BdhsStats {
  items: number;
  pairs: number;
  tries: number;
  epsilon: number;
  /** Items accepted at attempt i (index i − 1). */
  accepted_at: number[];
  /** accepted_at / items, and its running sum: the share accepted within the first i attempts. */
  accepted_share: number[];
  accepted_share_cumulative: number[];
  /** Items no attempt satisfied (emitted with their last attempt, accepted: null). */
  not_accepted: number;
  /** Similarities in HISTOGRAM_BINS equal bins over [0, 1] (values below 0 count in the first, 1 and above in the last). */
  similarity_histogram: { bins: number; all_tries: number[]; emitted: number[] };
  similarity_mean_emitted: number;
  /** Guided sentences completed and how many had their yes/no swapped. */
  guided_sentences: number;
  flips: number;
  /** Mean image tokens left visible per attempt with an image. */
  visible_mean: number;
  /** Generation rows (sentence completions and unguided answers), their new tokens, and the time spent generating. */
  completions: number;
  completion_tokens: number;
  generation_seconds: number;
  completions_per_second: number;
  tokens_per_second: number;
  seconds: number;
}

export interface BdhsResult {
  pairs: PairRecord[];
  stats: BdhsStats;
}

/** The keep mask of one attempt: token j visible (1) iff u_j ≥ ρ. ρ = 1 hides every token, ρ = 0 none. */
export function keepMask(rng: Uniform, tokens: number, rho: number): Float32Array {
  const keep = new Float32Array(tokens);
  for (let j = 0; j < tokens; j++) keep[j] = rng.uniform() >= rho ? 1 : 0;
  return keep;
}

/**
 * Diffusion-style forward noise on pixels: in the model's centred range c = 2x − 1,
 * c' = √(1 − ρ)·c + √ρ·ε with ε ~ N(0, 1) per channel, returned as x' = (c' + 1)/2 (not clipped). ρ = 0 leaves the
 * image as it is, ρ = 1 is pure noise.
 */
export function noisePixels(rgb: Uint8Array, rho: number, rng: Rng): Float32Array {
  const a = Math.sqrt(1 - rho);
  const s = Math.sqrt(rho);
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) {
    const c = (2 * (rgb[i] as number)) / 255 - 1;
    out[i] = (a * c + s * rng.normal() + 1) / 2;
  }
  return out;
}

function histogram(values: readonly number[]): number[] {
  const bins = new Array<number>(HISTOGRAM_BINS).fill(0);
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    const i = Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(v * HISTOGRAM_BINS)));
    bins[i] = (bins[i] as number) + 1;
  }
  return bins;
}

function checkOptions(o: BdhsOptions): void {
  const fail = (msg: string) => {
    throw new RangeError(`bdhs: ${msg}`);
  };
  if (!(o.rho >= 0 && o.rho <= 1)) fail(`rho must be in [0, 1], got ${o.rho}`);
  if (!(o.yesNoFlip >= 0 && o.yesNoFlip <= 1)) fail(`yes_no_flip must be in [0, 1], got ${o.yesNoFlip}`);
  if (!Number.isInteger(o.tries) || o.tries < 1) fail(`tries must be a positive integer, got ${o.tries}`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) fail(`max_tokens must be a positive integer, got ${o.maxTokens}`);
  if (!(o.temperature >= 0)) fail(`temperature must be ≥ 0, got ${o.temperature}`);
  if (!Number.isFinite(o.epsilon)) fail(`epsilon must be a number, got ${o.epsilon}`);
}

/** One pending item's state. */
interface Pending {
  index: number;
  entry: BdhsItem;
  sentences: string[];
  tries: BdhsTry[];
}

/** One attempt's plan for an item: its image input and, when guided, each sentence's prefix and context. */
interface Plan {
  pending: Pending;
  guided: boolean;
  keep: Float32Array;
  pixels?: Float32Array;
  visible: number;
  sentences: { prefix: string; flipped: boolean; head: number[] }[];
  /** Indices of this plan's rows in the attempt's row list. */
  rows: number[];
}

/**
 * Runs BDHS over `items` (each with a non-empty ground-truth answer). `generator` holds the model that completes;
 * `similarity` compares attempts with the ground truth. Returns one pair per item, in item order, and the stats.
 * Deterministic for equal inputs, options and a fresh Generator (on CPU).
 */
export async function runBdhs(
  generator: Generator,
  similarity: Similarity,
  items: readonly BdhsItem[],
  o: BdhsOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<BdhsResult> {
  checkOptions(o);
  const t0 = performance.now();
  const model = generator.model;
  const tok = model.tokenizer;
  const c = model.config;
  const p = imageTokens(c);
  const root = new Rng(Math.trunc(o.seed));
  const sentenceStops = sentenceStopTokens(tok);
  const answerStops = [tok.eosId];
  const genBase = { temperature: o.temperature, topP: o.topP, topK: o.topK, seed: o.seed, batch: o.batch ?? 64, roundTokens: o.roundTokens ?? 16 };

  const pairs: PairRecord[] = new Array(items.length);
  const acceptedAt = new Array<number>(o.tries).fill(0);
  const allSims: number[] = [];
  const emittedSims: number[] = [];
  let guidedSentences = 0;
  let flips = 0;
  let visibleSum = 0;
  let visibleCount = 0;
  let completions = 0;
  let completionTokens = 0;
  let genSeconds = 0;
  let done = 0;
  const chunkSize = Math.max(1, Math.floor(o.chunk ?? 256));

  for (let start = 0; start < items.length; start += chunkSize) {
    let pending: Pending[] = items.slice(start, start + chunkSize).map((entry, k) => {
      const sentences = splitSentences(entry.item.answer);
      if (sentences.length === 0) throw new RangeError(`bdhs: item ${entry.item.id} has an empty answer; BDHS needs a ground truth to guide it`);
      return { index: start + k, entry, sentences, tries: [] };
    });
    for (let attempt = 1; attempt <= o.tries && pending.length > 0; attempt++) {
      const guided = !(o.tries > 1 && attempt === o.tries);
      const rows: GenerateRow[] = [];
      const plans: Plan[] = pending.map((pd) => {
        const rng = root.fork(`${pd.entry.item.id}\u0000${pd.index}\u0000${attempt}`);
        const rgb = pd.entry.rgb;
        let keep: Float32Array;
        let pixels: Float32Array | undefined;
        if (!rgb) keep = new Float32Array(p);
        else if (o.noise === "pixels") {
          keep = new Float32Array(p).fill(1);
          pixels = noisePixels(rgb, o.rho, rng);
        } else keep = keepMask(rng, p, o.rho);
        const visible = keep.reduce((a, v) => a + v, 0);
        if (rgb) {
          visibleSum += visible;
          visibleCount++;
        }
        const promptIds = [tok.bosId, ...tok.encode(pd.entry.item.prompt)];
        const plan: Plan = { pending: pd, guided, keep, visible, sentences: [], rows: [] };
        if (pixels) plan.pixels = pixels;
        const image = { rgb, keep, ...(pixels ? { pixels } : {}) };
        if (!guided) {
          plan.rows.push(rows.length);
          rows.push({ promptIds, ...image });
          return plan;
        }
        pd.sentences.forEach((s, j) => {
          const flip = maybeFlipYesNo(s, o.yesNoFlip, rng);
          const cut = cutSentence(flip.text, o.cut, rng, { keepAtLeast: flip.flipped ? flip.wordEnd : 0, tokenizer: tok });
          const before = pd.sentences.slice(0, j).join(" ");
          const headText = cut.prefix === "" ? before : before === "" ? cut.prefix : `${before} ${cut.prefix}`;
          const head = headText === "" ? [] : tok.encode(headText);
          plan.sentences.push({ prefix: cut.prefix, flipped: flip.flipped, head });
          plan.rows.push(rows.length);
          rows.push({ promptIds: [...promptIds, ...head], ...image });
        });
        return plan;
      });

      const before = { seconds: generator.stats.seconds };
      const out = await generator.generate(rows, { ...genBase, maxTokens: o.maxTokens, stopTokens: guided ? sentenceStops : answerStops });
      genSeconds += generator.stats.seconds - before.seconds;
      completions += rows.length;
      completionTokens += out.reduce((a, r) => a + r.tokens.length, 0);

      const attemptTexts = plans.map((plan) => {
        if (!plan.guided) return { text: out[plan.rows[0] as number]?.text ?? "", sentences: [] as BdhsTry["sentences"] };
        const sentences = plan.sentences.map((s, j) => {
          const gen = out[plan.rows[j] as number];
          const completion = continuationText(tok, s.head, gen?.tokens ?? []).trimEnd();
          guidedSentences++;
          if (s.flipped) flips++;
          return { prefix: s.prefix, completion: s.prefix === "" ? completion.trimStart() : completion, flipped: s.flipped };
        });
        return { text: joinSentences(sentences.map((s) => s.prefix + s.completion)), sentences };
      });
      const sims = await similarity.scores(
        attemptTexts.map((a) => a.text),
        plans.map((plan) => plan.pending.entry.item.answer),
      );

      const still: Pending[] = [];
      plans.forEach((plan, k) => {
        const pd = plan.pending;
        const sim = sims[k] as number;
        const accepted = sim < o.epsilon;
        allSims.push(sim);
        const a = attemptTexts[k] as { text: string; sentences: BdhsTry["sentences"] };
        pd.tries.push({ attempt, guided: plan.guided, visible: plan.visible, sentences: a.sentences, text: a.text, similarity: sim, accepted });
        if (accepted) acceptedAt[attempt - 1] = (acceptedAt[attempt - 1] as number) + 1;
        if (accepted || attempt === o.tries) {
          const item = pd.entry.item;
          pairs[pd.index] = {
            id: `${item.id}/bdhs`,
            item,
            chosen: item.answer,
            rejected: a.text,
            source: { kind: "bdhs", tries: pd.tries, accepted: accepted ? attempt : null, similarity: sim },
          };
          emittedSims.push(sim);
          done++;
        } else still.push(pd);
      });
      pending = still;
      onProgress?.(done, items.length);
    }
  }

  const n = items.length;
  const shares = acceptedAt.map((a) => (n > 0 ? a / n : 0));
  let running = 0;
  const cumulative = shares.map((s) => {
    running += s;
    return running;
  });
  const seconds = (performance.now() - t0) / 1000;
  const stats: BdhsStats = {
    items: n,
    pairs: pairs.length,
    tries: o.tries,
    epsilon: o.epsilon,
    accepted_at: acceptedAt,
    accepted_share: shares,
    accepted_share_cumulative: cumulative,
    not_accepted: n - acceptedAt.reduce((a, b) => a + b, 0),
    similarity_histogram: { bins: HISTOGRAM_BINS, all_tries: histogram(allSims), emitted: histogram(emittedSims) },
    similarity_mean_emitted: emittedSims.length > 0 ? emittedSims.reduce((a, b) => a + b, 0) / emittedSims.length : 0,
    guided_sentences: guidedSentences,
    flips,
    visible_mean: visibleCount > 0 ? visibleSum / visibleCount : 0,
    completions,
    completion_tokens: completionTokens,
    generation_seconds: genSeconds,
    completions_per_second: genSeconds > 0 ? completions / genSeconds : 0,
    tokens_per_second: genSeconds > 0 ? completionTokens / genSeconds : 0,
    seconds,
  };
  return { pairs, stats };
}
