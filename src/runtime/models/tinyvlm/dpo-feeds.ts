// Turning preference pairs into the DPO program's feeds (src/models/tinyvlm/dpo.ts): each pair is
// two sequences, [<bos>] prompt chosen [<eos>] and [<bos>] prompt rejected [<eos>], encoded as SFT encodes one
// (feeds.ts), sharing the image; with its reference log-probs and its weight.

import { imageTokens, type TinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { encodeExample, FeedError } from "./feeds.ts";
import type { VlmModel } from "./model.ts";

export interface PairExample {
  id: string;
  prompt: string;
  chosen: string;
  rejected: string;
  /** RGB bytes of an imageSize × imageSize image, or null for text-only pairs. */
  rgb: Uint8Array | null;
  /** Weight of this pair in the loss (γ or 1 − γ when two pair datasets combine; else 1). */
  weight: number;
  /** Reference log-probs of the chosen and rejected answers (0 and 0 when training reference-free). */
  refChosen: number;
  refRejected: number;
}

/** Text positions a pair needs (the longer of its two sequences), rounded up to a multiple of 8; too long is an error naming it. */
export function pairLengths(model: VlmModel, pairs: readonly PairExample[]): number[] {
  const limit = model.config.textContext;
  const tok = model.tokenizer;
  return pairs.map((p) => {
    const prompt = 1 + tok.encode(p.prompt).length;
    const n = Math.max(prompt + tok.encode(p.chosen).length, prompt + tok.encode(p.rejected).length);
    if (n > limit)
      throw new FeedError(
        `pair ${p.id}: ${n} tokens do not fit the model's text context of ${limit}; shorten the prompt or the answers, or filter such pairs out (filter(pairs) { where: rejected_words <= 30 })`,
      );
    return Math.min(limit, Math.ceil(n / 8) * 8);
  });
}

/** Staged feeds for `steps` micro-batches of `batch` pairs taken from `pairs` in order (wrapping around). */
export function dpoFeeds(
  c: TinyVlmConfig,
  tok: Tokenizer,
  pairs: readonly PairExample[],
  batch: number,
  steps: number,
  length: number,
): Record<string, TensorData> {
  if (pairs.length === 0) throw new FeedError("no pairs to train on");
  const n = steps * batch;
  const side = c.imageSize;
  const p = imageTokens(c);
  const pixels = new Float32Array(n * side * side * 3);
  const keep = new Float32Array(n * p);
  const seq = () => ({
    tokens: new BigInt64Array(n * length),
    labels: new BigInt64Array(n * length),
    lossMask: new Float32Array(n * length),
    textMask: new Float32Array(n * length),
  });
  const sides = { chosen: seq(), rejected: seq() };
  const refChosen = new Float32Array(n);
  const refRejected = new Float32Array(n);
  const weight = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const pair = pairs[k % pairs.length] as PairExample;
    if (pair.rgb) {
      if (pair.rgb.length !== side * side * 3)
        throw new FeedError(`pair ${pair.id}: the image has ${pair.rgb.length / 3} pixels, the model expects ${side}×${side}`);
      for (let i = 0; i < pair.rgb.length; i++) pixels[k * side * side * 3 + i] = (pair.rgb[i] as number) / 255;
      keep.fill(1, k * p, (k + 1) * p);
    }
    for (const name of ["chosen", "rejected"] as const) {
      const e = encodeExample(tok, { id: pair.id, prompt: pair.prompt, answer: pair[name], rgb: pair.rgb }, length);
      const out = sides[name];
      for (let i = 0; i < length; i++) {
        out.tokens[k * length + i] = BigInt(e.tokens[i] as number);
        out.labels[k * length + i] = BigInt(e.labels[i] as number);
        out.lossMask[k * length + i] = e.lossMask[i] as number;
        out.textMask[k * length + i] = e.textMask[i] as number;
      }
    }
    refChosen[k] = pair.refChosen;
    refRejected[k] = pair.refRejected;
    weight[k] = pair.weight;
  }
  const rows = [steps, batch];
  const feeds: Record<string, TensorData> = {
    pixels: { dtype: "float32", shape: [...rows, side, side, 3], data: pixels },
    image_keep: { dtype: "float32", shape: [...rows, p], data: keep },
    ref_chosen: { dtype: "float32", shape: rows, data: refChosen },
    ref_rejected: { dtype: "float32", shape: rows, data: refRejected },
    weight: { dtype: "float32", shape: rows, data: weight },
  };
  for (const name of ["chosen", "rejected"] as const) {
    const s = sides[name];
    feeds[`${name}_tokens`] = { dtype: "int64", shape: [...rows, length], data: s.tokens };
    feeds[`${name}_labels`] = { dtype: "int64", shape: [...rows, length], data: s.labels };
    feeds[`${name}_loss_mask`] = { dtype: "float32", shape: [...rows, length], data: s.lossMask };
    feeds[`${name}_text_mask`] = { dtype: "float32", shape: [...rows, length], data: s.textMask };
  }
  return feeds;
}
