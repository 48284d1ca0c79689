// Lower-level batched generation through TinyVLM's generation program (KV cache, one Loop run per batch): each row
// brings its own prompt ids (already including <bos> and any forced prefix), its image (or none) and its image keep
// mask, so callers can continue given prefixes (BDHS) and hide image tokens per row. Rows are grouped by prompt
// width (rounded up to a multiple of 8); one program is compiled per (batch, prompt width, steps, sampling, stops)
// and kept by the Generator for the calls that follow.
//
// Sampling noise: the program's RandomUniformLike is seeded at build time and its stream advances with every run
// of a session. A Generator therefore loads its programs into a private Runtime (same provider and options as the
// one it is given), so the noise depends only on the seed and on the calls made through this Generator, never on
// what else ran in the process; close() releases those sessions.

import { imageTokens } from "../../../models/tinyvlm/config.ts";
import { buildGenerateProgram } from "../../../models/tinyvlm/generate.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import { serializeModel } from "../../../tensor/onnx/serialize.ts";
import { Rng } from "../../../util/random.ts";
import { type LoadedSession, Runtime } from "../../engine/session.ts";
import { generateInRounds, passByWidth } from "../generation-rounds.ts";
import { WORD_MARK } from "../tokenizer/format.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { FeedError } from "./feeds.ts";
import { paramShapes, type VlmModel } from "./model.ts";

export interface GenerateRow {
  /** Prompt token ids, <bos> and any forced prefix included. */
  promptIds: readonly number[];
  /** RGB bytes of an imageSize × imageSize image, or null for no image (every image token hidden). */
  rgb: Uint8Array | null;
  /** Pixels already scaled to [0, 1] (e.g. noised); when given they replace `rgb`. Values outside [0, 1] are allowed. */
  pixels?: Float32Array;
  /** One value per image token: 1 visible, 0 hidden. Ignored (all hidden) when the row has no image. */
  keep: Float32Array;
}

export interface GenerateRowsOptions {
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  topK?: number;
  seed: number;
  /** Token ids that end a row (kept in its output); default: <eos> only. */
  stopTokens?: readonly number[];
  /** Rows per generation run (default 64). */
  batch?: number;
  /**
   * Most new tokens per run: unfinished rows continue in further runs (prompt + their tokens) up to maxTokens.
   * The generation Loop always runs its full step count, so short rounds save the steps of rows that stopped early
   * (sentence completions); default maxTokens (one run).
   */
  roundTokens?: number;
}

export interface GeneratedRow {
  /** New token ids, the stop token included when one was generated. */
  tokens: number[];
  /** The new tokens decoded on their own (without <eos> and other special tokens), trimmed. */
  text: string;
  /** Sum of the new tokens' log-probabilities under the untempered model. */
  logprob: number;
  /** Whether a stop token ended the row (false: it ran into its token limit, or had no room at all). */
  stopped: boolean;
}

/** How many tokens, runs and seconds a Generator has spent. */
export interface GeneratorStats {
  /** Rows asked for (a row continued over several rounds counts once). */
  rows: number;
  /** Tokens generated, including any beyond a row's maxTokens in its last round (discarded). */
  tokens: number;
  runs: number;
  programs: number;
  seconds: number;
}

/** A 31-bit seed for one program shape, so programs of different shapes draw independent noise. */
function programSeed(seed: number, label: string): number {
  return new Rng(Math.trunc(seed)).fork(label).nextU32() & 0x7fffffff;
}

export class Generator {
  private readonly own: Runtime;
  private readonly sessions = new Map<string, Promise<LoadedSession>>();
  private readonly weights: Record<string, TensorData> = {};
  readonly stats: GeneratorStats = { rows: 0, tokens: 0, runs: 0, programs: 0, seconds: 0 };

  constructor(
    runtime: Runtime,
    readonly model: VlmModel,
  ) {
    this.own = new Runtime(runtime.options);
    for (const [name, t] of model.params) this.weights[`param/${name}`] = t;
  }

  /**
   * Generates for every row; the result is in row order. With `roundTokens`, rows are generated in rounds of at
   * most that many tokens: a row that has not stopped continues in the next round with its tokens appended to its
   * prompt (continuing from a prefix is the same as a longer prompt), until it stops, reaches maxTokens or fills
   * the context.
   */
  async generate(rows: readonly GenerateRow[], o: GenerateRowsOptions, onBatch?: (done: number, total: number) => void): Promise<GeneratedRow[]> {
    const tok = this.model.tokenizer;
    const ctx = this.model.config.textContext;
    const stops = [...new Set(o.stopTokens ?? [tok.eosId])].sort((a, b) => a - b);
    const stopSet = new Set(stops);
    const round = o.roundTokens !== undefined && o.roundTokens >= 1 ? Math.min(Math.floor(o.roundTokens), o.maxTokens) : o.maxTokens;
    rows.forEach((row, i) => {
      if (row.promptIds.length === 0) throw new FeedError(`generate: row ${i} has no prompt tokens (it needs at least <bos>)`);
    });
    this.stats.rows += rows.length;
    const state = await generateInRounds(
      rows,
      { maxTokens: o.maxTokens, round, stops: stopSet, context: ctx },
      (passRows, n) => this.pass(passRows, n, stops, o),
      onBatch,
    );
    return state.map((st) => {
      const said = st.tokens.filter((id) => id !== tok.eosId);
      const text = said.length > 0 ? tok.decode(said, { skipSpecial: true }).trim() : "";
      return { tokens: st.tokens, text, logprob: st.logprob, stopped: st.stopped };
    });
  }

  /** One generation pass of at most `maxTokens` new tokens per row (rows with room in the context). */
  private pass(rows: readonly GenerateRow[], maxTokens: number, stops: number[], o: GenerateRowsOptions): Promise<{ tokens: number[]; logprobs: number[] }[]> {
    return passByWidth(rows, { maxTokens, context: this.model.config.textContext, maxBatch: o.batch ?? 64 }, (batchRows, batch, width, steps) =>
      this.runBatch(batchRows, batch, width, steps, stops, o),
    );
  }

  private session(batch: number, width: number, steps: number, stops: number[], o: GenerateRowsOptions): Promise<LoadedSession> {
    const sampling = { temperature: o.temperature, topP: o.topP, topK: o.topK };
    const key = JSON.stringify({ batch, width, steps, stops, ...sampling, seed: o.seed });
    let s = this.sessions.get(key);
    if (!s) {
      const tok = this.model.tokenizer;
      const program = buildGenerateProgram(this.model.config, paramShapes(this.model), {
        batch,
        promptLength: width,
        steps,
        temperature: o.temperature,
        topP: o.topP,
        topK: o.topK,
        seed: programSeed(o.seed, key),
        stopTokens: stops,
        pad: tok.padId,
      });
      s = this.own.load(serializeModel(program.root));
      this.sessions.set(key, s);
      this.stats.programs++;
    }
    return s;
  }

  private async runBatch(
    rows: GenerateRow[],
    batch: number,
    width: number,
    steps: number,
    stops: number[],
    o: GenerateRowsOptions,
  ): Promise<{ tokens: number[]; logprobs: number[] }[]> {
    const c = this.model.config;
    const tok = this.model.tokenizer;
    const session = await this.session(batch, width, steps, stops, o);
    const t0 = performance.now();
    const side = c.imageSize;
    const area = side * side * 3;
    const p = imageTokens(c);
    const pixels = new Float32Array(batch * area);
    const keep = new Float32Array(batch * p);
    const prompt = new BigInt64Array(batch * width).fill(BigInt(tok.padId));
    const lengths = new BigInt64Array(batch);
    // Unused rows of the last batch repeat row 0; their outputs are ignored.
    for (let r = 0; r < batch; r++) {
      const row = rows[r < rows.length ? r : 0] as GenerateRow;
      if (row.pixels || row.rgb) {
        if (row.pixels) {
          if (row.pixels.length !== area) throw new FeedError(`generate: pixels of ${row.pixels.length} values, the model takes ${side}×${side}×3`);
          pixels.set(row.pixels, r * area);
        } else {
          const rgb = row.rgb as Uint8Array;
          if (rgb.length !== area) throw new FeedError(`generate: an image of ${rgb.length / 3} pixels, the model takes ${side}×${side}`);
          for (let i = 0; i < area; i++) pixels[r * area + i] = (rgb[i] as number) / 255;
        }
        if (row.keep.length !== p) throw new FeedError(`generate: a keep mask of ${row.keep.length} values, the model has ${p} image tokens`);
        keep.set(row.keep, r * p);
      }
      row.promptIds.forEach((id, i) => {
        prompt[r * width + i] = BigInt(id);
      });
      lengths[r] = BigInt(row.promptIds.length);
    }
    const out = await this.own.run(session, {
      ...this.weights,
      pixels: { dtype: "float32", shape: [batch, side, side, 3], data: pixels },
      prompt: { dtype: "int64", shape: [batch, width], data: prompt },
      prompt_length: { dtype: "int64", shape: [batch], data: lengths },
      image_keep: { dtype: "float32", shape: [batch, p], data: keep },
    });
    const tokens = out.tokens?.data as BigInt64Array;
    const logprobs = out.logprobs?.data as Float32Array;
    const counts = out.lengths?.data as BigInt64Array;
    const results: { tokens: number[]; logprobs: number[] }[] = [];
    for (let r = 0; r < rows.length; r++) {
      const n = Number(counts[r]);
      results.push({
        tokens: Array.from(tokens.subarray(r * steps, r * steps + n), Number),
        logprobs: Array.from(logprobs.subarray(r * steps, r * steps + n)),
      });
      this.stats.tokens += n;
    }
    this.stats.runs++;
    this.stats.seconds += (performance.now() - t0) / 1000;
    return results;
  }

  /** Releases the Generator's sessions. */
  async close(): Promise<void> {
    this.sessions.clear();
    await this.own.release();
  }
}

/** One-off generation: a Generator for one call, closed afterwards. */
export async function generateRows(runtime: Runtime, model: VlmModel, rows: readonly GenerateRow[], o: GenerateRowsOptions): Promise<GeneratedRow[]> {
  const g = new Generator(runtime, model);
  try {
    return await g.generate(rows, o);
  } finally {
    await g.close();
  }
}

/**
 * Token ids that end a sentence: <eos> and every token whose text ends with one of `endings` (default "."). alignc's
 * tokenizers isolate punctuation, so "." is one token; a tokenizer that merges "." into longer tokens ("e.", "..")
 * gets all of those too.
 */
export function sentenceStopTokens(tok: Tokenizer, endings: readonly string[] = ["."]): number[] {
  const ids = new Set<number>([tok.eosId]);
  for (let id = 0; id < tok.vocabSize; id++) {
    const piece = tok.tokenOf(id);
    if (piece === undefined) continue;
    const text = piece.replaceAll(WORD_MARK, " ");
    if (endings.some((e) => text.endsWith(e))) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * The text that `continuation` adds after `head` (both token ids), with the spacing the tokenizer gives it: the
 * decoded continuation of head + continuation, less the decoded head. Starts with a space when the continuation
 * begins a new word. <eos> and other special tokens are dropped.
 */
export function continuationText(tok: Tokenizer, head: readonly number[], continuation: readonly number[]): string {
  const said = continuation.filter((id) => id !== tok.eosId);
  if (said.length === 0) return "";
  const before = tok.decode(head, { skipSpecial: true });
  const whole = tok.decode([...head, ...said], { skipSpecial: true });
  if (whole.startsWith(before)) return whole.slice(before.length);
  // A decoder that rewrites across the boundary: decode on its own and restore a leading word boundary.
  const alone = tok.decode(said, { skipSpecial: true });
  const first = tok.tokenOf(said[0] as number) ?? "";
  return before !== "" && first.startsWith(WORD_MARK) && !alone.startsWith(" ") ? ` ${alone}` : alone;
}
