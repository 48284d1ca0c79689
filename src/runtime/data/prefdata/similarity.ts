// Similarity functions between a candidate text and a reference (BDHS rejects answers too similar to the ground
// truth; docs/bdhs.md):
//  • lexical: ROUGE-L F-measure (longest common subsequence of lowercased words) or the Jaccard overlap of the
//    word sets — no model;
//  • cosine: the cosine of two texts' pooled final hidden states under a TinyVLM (alignc's stand-in for a sentence
//    embedder), text only (every image token hidden), batched through ONNX Runtime; with a Hugging Face sentence
//    encoder (all-mpnet-base-v2, as the BDHS paper) it is encoder-similarity.ts.

import { imageTokens, type TinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import { textHidden } from "../../../models/tinyvlm/forward.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import { serializeModel } from "../../../tensor/onnx/serialize.ts";
import { Builder } from "../../../tensor/ops/builder.ts";
import * as op from "../../../tensor/ops/index.ts";
import type { LoadedSession, Runtime } from "../../engine/session.ts";
import { EmbeddingSimilarity } from "./embedding-batches.ts";
import { checkLengths, type Similarity, SimilarityError } from "./similarity-contract.ts";

export { cosine } from "./embedding-batches.ts";
export { checkLengths, type Similarity, SimilarityError } from "./similarity-contract.ts";

import { paramShapes, type VlmModel } from "../../models/tinyvlm/model.ts";

export type SimilarityKind = "lexical" | "cosine";
export type LexicalMeasure = "rouge_l" | "token_jaccard";
export type Pooling = "mean" | "last";

// ── lexical ─────────────────────────────────────────────────────────────────

/** Lowercased words: runs of letters, digits and marks; punctuation and spaces separate them. */
export function wordTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
}

/** Length of the longest common subsequence of two token lists (O(|a|·|b|) time, O(|b|) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? (prev[j - 1] as number) + 1 : Math.max(prev[j] as number, cur[j - 1] as number);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length] as number;
}

/** ROUGE-L F1 over lowercased words: 2PR/(P+R) with P = LCS/|candidate|, R = LCS/|reference|. Two empty texts score 1, one empty text 0. */
export function rougeL(candidate: string, reference: string): number {
  const c = wordTokens(candidate);
  const r = wordTokens(reference);
  if (c.length === 0 && r.length === 0) return 1;
  const lcs = lcsLength(c, r);
  if (lcs === 0) return 0;
  const p = lcs / c.length;
  const rec = lcs / r.length;
  return (2 * p * rec) / (p + rec);
}

/** |A ∩ B| / |A ∪ B| of the two texts' sets of lowercased words. Two empty texts score 1. */
export function tokenJaccard(candidate: string, reference: string): number {
  const a = new Set(wordTokens(candidate));
  const b = new Set(wordTokens(reference));
  if (a.size === 0 && b.size === 0) return 1;
  let both = 0;
  for (const w of a) if (b.has(w)) both++;
  return both / (a.size + b.size - both);
}

export function lexicalSimilarity(measure: LexicalMeasure = "rouge_l"): Similarity {
  if (measure !== "rouge_l" && measure !== "token_jaccard")
    throw new SimilarityError(`lexical: unknown measure ${JSON.stringify(measure)}; use rouge_l or token_jaccard`);
  const f = measure === "rouge_l" ? rougeL : tokenJaccard;
  return {
    name: `lexical(${measure})`,
    async scores(candidates, references) {
      checkLengths(candidates, references);
      return candidates.map((c, i) => f(c, references[i] as string));
    },
  };
}

// ── cosine ──────────────────────────────────────────────────────────────────

/**
 * The pooling program: final hidden states of [<bos>] text (every image token hidden), pooled with per-position
 * weights `pool` [B, T] — the text tokens' mean (not <bos>) or the last text token. Inputs `param/<name>`,
 * `pixels`, `tokens`, `text_mask`, `image_keep`, `pool`; output `embeddings` [B, width].
 */
export function buildPooledEmbeddingProgram(c: TinyVlmConfig, params: { name: string; shape: number[] }[], batch: number, length: number): Builder {
  const b = new Builder("pooled_embed");
  const w = new Map(params.map((p) => [p.name, b.input(`param/${p.name}`, c.dtype, p.shape)]));
  const pixels = b.input("pixels", c.dtype, [batch, c.imageSize, c.imageSize, 3]);
  const tokens = b.input("tokens", "int64", [batch, length]);
  const textMask = b.input("text_mask", c.dtype, [batch, length]);
  const imageKeep = b.input("image_keep", c.dtype, [batch, imageTokens(c)]);
  const pool = b.input("pool", c.dtype, [batch, length]);
  const h = textHidden(c, (n) => w.get(n)!, { pixels, tokens, textMask, imageKeep });
  const pooled = op.div(op.reduceSum(op.mul(h, op.unsqueeze(pool, [2])), [1]), op.max(op.reduceSum(pool, [1], true), 1e-12));
  b.output(pooled, "embeddings");
  return b;
}

/** Cosine similarity of a TinyVLM's pooled hidden states. Embeddings are cached by text, so a reference compared many times is embedded once. */
export class CosineSimilarity extends EmbeddingSimilarity {
  readonly name: string;
  readonly maxLength: number;
  private readonly sessions = new Map<string, Promise<LoadedSession>>();
  private readonly weights: Record<string, TensorData> = {};

  constructor(
    private readonly runtime: Runtime,
    private readonly model: VlmModel,
    readonly pooling: Pooling = "mean",
    batch = 64,
  ) {
    super(batch);
    if (pooling !== "mean" && pooling !== "last") throw new SimilarityError(`cosine: unknown pooling ${JSON.stringify(pooling)}; use mean or last`);
    this.name = `cosine(${pooling})`;
    this.maxLength = model.config.textContext;
    for (const [n, t] of model.params) this.weights[`param/${n}`] = t;
  }

  /** <bos> and the text's tokens, cut to the context (text only; every image token hidden). */
  encode(text: string): number[] {
    return [this.model.tokenizer.bosId, ...this.model.tokenizer.encode(text)].slice(0, this.maxLength);
  }

  async run(rows: number[][], batch: number, length: number): Promise<Float32Array[]> {
    const c = this.model.config;
    const tok = this.model.tokenizer;
    const key = `${batch}x${length}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = this.runtime.load(serializeModel(buildPooledEmbeddingProgram(c, paramShapes(this.model), batch, length).root));
      this.sessions.set(key, session);
    }
    const side = c.imageSize;
    const tokens = new BigInt64Array(batch * length).fill(BigInt(tok.padId));
    const textMask = new Float32Array(batch * length);
    const pool = new Float32Array(batch * length);
    for (let r = 0; r < batch; r++) {
      const ids = rows[r < rows.length ? r : 0] as number[];
      ids.forEach((id, i) => {
        tokens[r * length + i] = BigInt(id);
        textMask[r * length + i] = 1;
      });
      if (ids.length === 1)
        pool[r * length] = 1; // empty text: only <bos> to pool
      else if (this.pooling === "last") pool[r * length + ids.length - 1] = 1;
      else pool.fill(1, r * length + 1, r * length + ids.length);
    }
    const out = await this.runtime.run(await session, {
      ...this.weights,
      pixels: { dtype: "float32", shape: [batch, side, side, 3], data: new Float32Array(batch * side * side * 3) },
      tokens: { dtype: "int64", shape: [batch, length], data: tokens },
      text_mask: { dtype: "float32", shape: [batch, length], data: textMask },
      image_keep: { dtype: "float32", shape: [batch, imageTokens(c)], data: new Float32Array(batch * imageTokens(c)) },
      pool: { dtype: "float32", shape: [batch, length], data: pool },
    });
    const data = out.embeddings?.data as Float32Array;
    const width = c.text.width;
    return rows.map((_, r) => data.slice(r * width, (r + 1) * width));
  }
}

// ── construction ────────────────────────────────────────────────────────────

export interface SimilarityDeps {
  /** Needed by cosine. */
  runtime?: Runtime;
  /** Needed by cosine: the embedding model. */
  model?: VlmModel;
}

/** A similarity from its declaration: lexical { measure }, or cosine(model) { pooling } (params as in the catalog). */
export function createSimilarity(kind: SimilarityKind, params: Record<string, unknown>, deps: SimilarityDeps = {}): Similarity {
  if (kind === "lexical") return lexicalSimilarity((params.measure ?? "rouge_l") as LexicalMeasure);
  if (kind === "cosine") {
    if (!deps.runtime || !deps.model) throw new SimilarityError("cosine: needs a model and an ONNX Runtime to embed texts");
    const batch = typeof params.batch === "number" ? params.batch : 64;
    return new CosineSimilarity(deps.runtime, deps.model, (params.pooling ?? "mean") as Pooling, batch);
  }
  throw new SimilarityError(`unknown similarity kind ${JSON.stringify(kind)}; use lexical or cosine`);
}
