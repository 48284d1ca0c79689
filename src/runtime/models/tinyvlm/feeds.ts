// Turning examples (prompt, answer, optional image) into TinyVLM feeds. A sequence is
// [<bos>] prompt answer [<eos>], right-padded; the labels are the next tokens; the loss mask scores only the
// answer and <eos> (SFT on answers); text-only examples hide every image token with image_keep = 0.

import { imageTokens, type TinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface Example {
  id: string;
  prompt: string;
  answer: string;
  /** RGB bytes of an imageSize × imageSize image, or null for text-only examples. */
  rgb: Uint8Array | null;
}

/** How the SFT loss averages: over all answer tokens of a batch, or per example first (each example's answer weighs 1). */
export type LossAverage = "token" | "example";

export class FeedError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7007";
  override name = "FeedError";
}

export interface EncodedExample {
  tokens: number[];
  labels: number[];
  lossMask: number[];
  textMask: number[];
}

/** One example's token rows of width `length`; a sequence that does not fit is an error naming the example. */
export function encodeExample(tok: Tokenizer, ex: Example, length: number): EncodedExample {
  const prompt = tok.encode(ex.prompt);
  const answer = [...tok.encode(ex.answer), tok.eosId];
  const seq = [tok.bosId, ...prompt, ...answer];
  if (seq.length > length + 1)
    throw new FeedError(`example ${ex.id}: ${seq.length - 1} tokens do not fit the sequence length ${length}; shorten the prompt or raise the length`);
  const out: EncodedExample = { tokens: [], labels: [], lossMask: [], textMask: [] };
  const answerStart = 1 + prompt.length;
  for (let i = 0; i < length; i++) {
    const real = i < seq.length - 1;
    out.tokens.push(real ? seq[i]! : tok.padId);
    out.labels.push(real ? seq[i + 1]! : tok.padId);
    out.textMask.push(i < seq.length ? 1 : 0);
    // Position i predicts token i+1: score it when that token belongs to the answer (or is <eos>).
    out.lossMask.push(real && i + 1 >= answerStart ? 1 : 0);
  }
  return out;
}

/** Staged SFT feeds for `steps` micro-batches of `batch` examples, taken from `examples` in order (wrapping around). */
export function sftFeeds(
  c: TinyVlmConfig,
  tok: Tokenizer,
  examples: readonly Example[],
  batch: number,
  steps: number,
  length: number,
  offset = 0,
  average: LossAverage = "token",
): Record<string, TensorData> {
  if (examples.length === 0) throw new FeedError("no examples to train on");
  const n = steps * batch;
  const side = c.imageSize;
  const p = imageTokens(c);
  const pixels = new Float32Array(n * side * side * 3);
  const keep = new Float32Array(n * p);
  const tokens = new BigInt64Array(n * length);
  const labels = new BigInt64Array(n * length);
  const lossMask = new Float32Array(n * length);
  const textMask = new Float32Array(n * length);
  for (let k = 0; k < n; k++) {
    const ex = examples[(offset + k) % examples.length]!;
    if (ex.rgb) {
      if (ex.rgb.length !== side * side * 3)
        throw new FeedError(`example ${ex.id}: the image has ${ex.rgb.length / 3} pixels, the model expects ${side}×${side}`);
      for (let i = 0; i < ex.rgb.length; i++) pixels[k * side * side * 3 + i] = ex.rgb[i]! / 255;
      keep.fill(1, k * p, (k + 1) * p);
    }
    const e = encodeExample(tok, ex, length);
    // Per-example weighting: each example's answer tokens share a weight of 1, so a one-word answer counts as much as a caption.
    const scored = average === "example" ? e.lossMask.reduce((a, b) => a + b, 0) : 1;
    for (let i = 0; i < length; i++) {
      tokens[k * length + i] = BigInt(e.tokens[i]!);
      labels[k * length + i] = BigInt(e.labels[i]!);
      lossMask[k * length + i] = e.lossMask[i]! / scored;
      textMask[k * length + i] = e.textMask[i]!;
    }
  }
  const rows = [steps, batch];
  return {
    pixels: { dtype: "float32", shape: [...rows, side, side, 3], data: pixels },
    image_keep: { dtype: "float32", shape: [...rows, p], data: keep },
    tokens: { dtype: "int64", shape: [...rows, length], data: tokens },
    labels: { dtype: "int64", shape: [...rows, length], data: labels },
    loss_mask: { dtype: "float32", shape: [...rows, length], data: lossMask },
    text_mask: { dtype: "float32", shape: [...rows, length], data: textMask },
  };
}
