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
//
// The model that completes is a BdhsCompleter (bdhs-completers.ts): TinyVLM's generator or a Hugging Face
// vision-language model's, whose generation programs hide the image tokens the keep mask hides from every query.
import { Rng } from "../../../util/random.ts";
import type { GeneratedRow, GenerateRowsOptions, GeneratorStats } from "../../models/tinyvlm/generate-rows.ts";
import type { WorldItem } from "../../world/format.ts";
import { type BdhsStats, BdhsTally } from "./bdhs-tally.ts";
import type { BdhsTry, PairRecord } from "./records.ts";
import { type CutTokenizer, type CutUnit, cutSentence, joinSentences, maybeFlipYesNo, splitSentences, type Uniform } from "./sentences.ts";
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
  /** TinyVLM: RGB bytes at the model's image size, or null for a text-only item (a Hugging Face model reads `item.image`). */
  rgb: Uint8Array | null;
}

/** What BDHS needs of the model that completes (see the file comment). */
export interface BdhsCompleter {
  /** Encodes the ground truth's heads and cuts sentences in tokens. */
  readonly tokenizer: CutTokenizer;
  /** The item's prompt ids, its image's tokens included. */
  promptIds(entry: BdhsItem): number[];
  /** Image tokens the item's image takes (its keep mask's length); 0 without an image. */
  imageTokens(entry: BdhsItem): number;
  /** Whether noise "pixels" is possible: the model's input is the pixels BDHS noises (TinyVLM's). */
  readonly pixelNoise: boolean;
  /** Token ids that end a sentence (and the answer), and those that end an answer. */
  readonly sentenceStops: readonly number[];
  readonly answerStops: readonly number[];
  /** The text `continuation` adds after `head` (token ids), with the spacing the tokenizer gives it. */
  continuationText(head: readonly number[], continuation: readonly number[]): string;
  generate(rows: readonly BdhsRow[], o: GenerateRowsOptions): Promise<GeneratedRow[]>;
  readonly stats: GeneratorStats;
}

/** One generation row of an attempt: the item, the prompt (and guiding head) ids, the keep mask, noised pixels. */
export interface BdhsRow {
  entry: BdhsItem;
  promptIds: number[];
  /** Per image token: 1 visible, 0 hidden (empty without an image). */
  keep: Float32Array;
  /** Noised pixels in [0, 1]-ish (noise "pixels"; TinyVLM only). */
  pixels?: Float32Array;
}

export { type BdhsStats, HISTOGRAM_BINS } from "./bdhs-tally.ts";

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

function checkOptions(o: BdhsOptions, completer: BdhsCompleter): void {
  const fail = (msg: string) => {
    throw new RangeError(`bdhs: ${msg}`);
  };
  if (!(o.rho >= 0 && o.rho <= 1)) fail(`rho must be in [0, 1], got ${o.rho}`);
  if (!(o.yesNoFlip >= 0 && o.yesNoFlip <= 1)) fail(`yes_no_flip must be in [0, 1], got ${o.yesNoFlip}`);
  if (!Number.isInteger(o.tries) || o.tries < 1) fail(`tries must be a positive integer, got ${o.tries}`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) fail(`max_tokens must be a positive integer, got ${o.maxTokens}`);
  if (!(o.temperature >= 0)) fail(`temperature must be ≥ 0, got ${o.temperature}`);
  if (!Number.isFinite(o.epsilon)) fail(`epsilon must be a number, got ${o.epsilon}`);
  if (o.noise === "pixels" && !completer.pixelNoise)
    fail(
      'noise "pixels" noises a TinyVLM\'s input pixels; a Hugging Face model\'s image goes through its processor and tower, so mask its image tokens with noise "latent"',
    );
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

/** An attempt's answer: the whole text and, when guided, each sentence's prefix and completion. */
interface AttemptText {
  text: string;
  sentences: BdhsTry["sentences"];
}

/** What every attempt of one run shares. */
interface BdhsRun {
  generator: BdhsCompleter;
  similarity: Similarity;
  o: BdhsOptions;
  /** Every item's attempt forks its own stream from this one, so results do not depend on chunking. */
  root: Rng;
  /** Pairs by item index, filled as items are emitted. */
  pairs: PairRecord[];
  tally: BdhsTally;
}

/**
 * Runs BDHS over `items` (each with a non-empty ground-truth answer). `generator` is the model that completes;
 * `similarity` compares attempts with the ground truth. Returns one pair per item, in item order, and the stats.
 * Deterministic for equal inputs, options and a fresh Generator (on CPU).
 */
export async function runBdhs(
  generator: BdhsCompleter,
  similarity: Similarity,
  items: readonly BdhsItem[],
  o: BdhsOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<BdhsResult> {
  checkOptions(o, generator);
  const t0 = performance.now();
  const run: BdhsRun = {
    generator,
    similarity,
    o,
    root: new Rng(Math.trunc(o.seed)),
    pairs: new Array(items.length),
    tally: new BdhsTally(o.tries),
  };
  // Items go through their attempts a chunk at a time: memory stays bounded and progress moves in steps.
  const chunkSize = Math.max(1, Math.floor(o.chunk ?? 256));
  for (let start = 0; start < items.length; start += chunkSize) {
    let pending = pendingItems(items, start, chunkSize);
    for (let attempt = 1; attempt <= o.tries && pending.length > 0; attempt++) {
      pending = await runAttempt(run, pending, attempt);
      onProgress?.(run.tally.done, items.length);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { pairs: run.pairs, stats: run.tally.stats(items.length, run.pairs.length, o.tries, o.epsilon, seconds) };
}

function pendingItems(items: readonly BdhsItem[], start: number, count: number): Pending[] {
  return items.slice(start, start + count).map((entry, k) => {
    const sentences = splitSentences(entry.item.answer);
    if (sentences.length === 0) throw new RangeError(`bdhs: item ${entry.item.id} has an empty answer; BDHS needs a ground truth to guide it`);
    return { index: start + k, entry, sentences, tries: [] };
  });
}

/** Attempt `attempt` for every pending item, in one batched generation; returns the items still pending after it. */
async function runAttempt(run: BdhsRun, pending: Pending[], attempt: number): Promise<Pending[]> {
  const guided = !(run.o.tries > 1 && attempt === run.o.tries);
  const rows: BdhsRow[] = [];
  const plans = pending.map((pd) => planAttempt(run, pd, attempt, guided, rows));
  const out = await generate(run, rows, guided);
  const texts = plans.map((plan) => attemptText(run, plan, out));
  const sims = await run.similarity.scores(
    texts.map((a) => a.text),
    plans.map((plan) => plan.pending.entry.item.answer),
  );
  return settleAttempt(run, plans, texts, sims, attempt);
}

/** One item's attempt: its image input, and its generation rows (appended to `rows`): one per sentence when guided. */
function planAttempt(run: BdhsRun, pd: Pending, attempt: number, guided: boolean, rows: BdhsRow[]): Plan {
  const { o, generator } = run;
  const tok = generator.tokenizer;
  const rng = run.root.fork(`${pd.entry.item.id}\u0000${pd.index}\u0000${attempt}`);
  const tokens = generator.imageTokens(pd.entry);
  const { keep, pixels } = attemptImage(run, pd.entry, tokens, rng);
  const visible = keep.reduce((a, v) => a + v, 0);
  if (tokens > 0) {
    run.tally.visibleSum += visible;
    run.tally.visibleCount++;
  }
  const promptIds = generator.promptIds(pd.entry);
  const plan: Plan = { pending: pd, guided, keep, visible, sentences: [], rows: [] };
  if (pixels) plan.pixels = pixels;
  const image = { entry: pd.entry, keep, ...(pixels ? { pixels } : {}) };
  if (!guided) {
    plan.rows.push(rows.length);
    rows.push({ promptIds, ...image });
    return plan;
  }
  pd.sentences.forEach((s, j) => {
    const flip = maybeFlipYesNo(s, o.yesNoFlip, rng);
    const cut = cutSentence(flip.text, o.cut, rng, { keepAtLeast: flip.flipped ? flip.wordEnd : 0, tokenizer: tok });
    // The model completes the kept prefix after the ground-truth sentences before this one.
    const before = pd.sentences.slice(0, j).join(" ");
    const headText = cut.prefix === "" ? before : before === "" ? cut.prefix : `${before} ${cut.prefix}`;
    const head = headText === "" ? [] : tok.encode(headText);
    plan.sentences.push({ prefix: cut.prefix, flipped: flip.flipped, head });
    plan.rows.push(rows.length);
    rows.push({ promptIds: [...promptIds, ...head], ...image });
  });
  return plan;
}

/** What the model sees of the image in one attempt: a keep mask over its `tokens` image tokens, or (noise "pixels") noised pixels with every token kept. */
function attemptImage(run: BdhsRun, entry: BdhsItem, tokens: number, rng: Rng): { keep: Float32Array; pixels?: Float32Array } {
  if (tokens === 0) return { keep: new Float32Array(0) };
  if (run.o.noise === "pixels" && entry.rgb) return { keep: new Float32Array(tokens).fill(1), pixels: noisePixels(entry.rgb, run.o.rho, rng) };
  return { keep: keepMask(rng, tokens, run.o.rho) };
}

async function generate(run: BdhsRun, rows: BdhsRow[], guided: boolean): Promise<GeneratedRow[]> {
  const { o, generator, tally } = run;
  const options = { temperature: o.temperature, topP: o.topP, topK: o.topK, seed: o.seed, batch: o.batch ?? 64, roundTokens: o.roundTokens ?? 16 };
  const secondsBefore = generator.stats.seconds;
  const out = await generator.generate(rows, { ...options, maxTokens: o.maxTokens, stopTokens: guided ? generator.sentenceStops : generator.answerStops });
  tally.generationSeconds += generator.stats.seconds - secondsBefore;
  tally.completions += rows.length;
  tally.completionTokens += out.reduce((a, r) => a + r.tokens.length, 0);
  return out;
}

/** The answer an attempt gave: the unguided row's text, or every sentence's prefix and completion joined. */
function attemptText(run: BdhsRun, plan: Plan, out: readonly GeneratedRow[]): AttemptText {
  if (!plan.guided) return { text: out[plan.rows[0] as number]?.text ?? "", sentences: [] };
  const sentences = plan.sentences.map((s, j) => {
    const gen = out[plan.rows[j] as number];
    const completion = run.generator.continuationText(s.head, gen?.tokens ?? []).trimEnd();
    run.tally.guidedSentences++;
    if (s.flipped) run.tally.flips++;
    return { prefix: s.prefix, completion: s.prefix === "" ? completion.trimStart() : completion, flipped: s.flipped };
  });
  return { text: joinSentences(sentences.map((s) => s.prefix + s.completion)), sentences };
}

/** Records each item's attempt; an accepted item, or one out of attempts, becomes its pair. Returns the others. */
function settleAttempt(run: BdhsRun, plans: readonly Plan[], texts: readonly AttemptText[], sims: readonly number[], attempt: number): Pending[] {
  const { o, tally } = run;
  const still: Pending[] = [];
  plans.forEach((plan, k) => {
    const pd = plan.pending;
    const sim = sims[k] as number;
    const accepted = sim < o.epsilon;
    tally.allSims.push(sim);
    const a = texts[k] as AttemptText;
    pd.tries.push({ attempt, guided: plan.guided, visible: plan.visible, sentences: a.sentences, text: a.text, similarity: sim, accepted });
    if (accepted) tally.acceptedAt[attempt - 1] = (tally.acceptedAt[attempt - 1] as number) + 1;
    if (accepted || attempt === o.tries) {
      const item = pd.entry.item;
      run.pairs[pd.index] = {
        id: `${item.id}/bdhs`,
        item,
        chosen: item.answer,
        rejected: a.text,
        source: { kind: "bdhs", tries: pd.tries, accepted: accepted ? attempt : null, similarity: sim },
      };
      tally.emittedSims.push(sim);
      tally.done++;
    } else still.push(pd);
  });
  return still;
}
