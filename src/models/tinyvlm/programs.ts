// TinyVLM's non-generating programs, built on the shared training/evaluation program builders:
//  • SFT: masked next-token cross-entropy (the mask selects answer tokens), with token accuracy as a metric;
//  • log-probs of given completions: per token, summed and averaged over the scored tokens (DPO's inputs);
//  • embeddings: mean-pooled final hidden states of the real text tokens (for similarity functions).
import type { Tensor } from "../../tensor/ir/graph.ts";
import { Builder } from "../../tensor/ops/builder.ts";
import * as op from "../../tensor/ops/index.ts";
import type { LossFn, TensorSpec } from "../../tensor/program/train-program.ts";
import { maskedCrossEntropy, sequenceLogProbs, tokenLogProbs } from "../layers/losses.ts";
import { imageTokens, type TinyVlmConfig } from "./config.ts";
import { textHidden, vlmLogits } from "./forward.ts";

/** The fields of one micro-batch: images, which image tokens are visible (0 for text-only examples), input tokens, next-token labels, the loss mask, the padding mask. */
export function sftBatch(c: TinyVlmConfig, batch: number, length: number): Record<string, TensorSpec> {
  return {
    pixels: { dtype: c.dtype, shape: [batch, c.imageSize, c.imageSize, 3] },
    image_keep: { dtype: c.dtype, shape: [batch, imageTokens(c)] },
    tokens: { dtype: "int64", shape: [batch, length] },
    labels: { dtype: "int64", shape: [batch, length] },
    loss_mask: { dtype: c.dtype, shape: [batch, length] },
    text_mask: { dtype: c.dtype, shape: [batch, length] },
  };
}

export function sftLoss(c: TinyVlmConfig): LossFn {
  return (w, b) => {
    const logits = vlmLogits(c, (n): Tensor => w[n]!, { pixels: b.pixels!, tokens: b.tokens!, textMask: b.text_mask!, imageKeep: b.image_keep! });
    const correct = op.cast(op.equal(op.argMax(logits, -1), b.labels!), c.dtype);
    // Scored positions, whatever their loss weights: token accuracy stays a share of tokens.
    const scored = op.cast(op.greater(b.loss_mask!, 0), c.dtype);
    const accuracy = op.div(op.reduceSum(op.mul(correct, scored)), op.max(op.reduceSum(scored), 1));
    return { loss: maskedCrossEntropy(logits, b.labels!, b.loss_mask!), metrics: { token_accuracy: accuracy } };
  };
}

/**
 * Inputs: `param/<name>`, `pixels`, `tokens`, `labels`, `loss_mask` (which label positions are scored),
 * `text_mask`, `image_keep`. Outputs: `token_logprobs` [B, T] (0 where not scored), `sum` [B], `mean` [B].
 */
export function buildLogProbProgram(c: TinyVlmConfig, params: { name: string; shape: number[] }[], batch: number, length: number): Builder {
  const b = new Builder("logprobs");
  const w = new Map(params.map((p) => [p.name, b.input(`param/${p.name}`, c.dtype, p.shape)]));
  const weight = (n: string) => w.get(n)!;
  const fields = sftBatch(c, batch, length);
  const t = Object.fromEntries(Object.entries(fields).map(([name, s]) => [name, b.input(name, s.dtype, s.shape)]));
  const logits = vlmLogits(c, weight, { pixels: t.pixels!, tokens: t.tokens!, textMask: t.text_mask!, imageKeep: t.image_keep! });
  const perToken = tokenLogProbs(logits, t.labels!, t.loss_mask!);
  b.output(perToken, "token_logprobs");
  b.output(sequenceLogProbs(perToken, t.loss_mask!, "sum"), "sum");
  b.output(sequenceLogProbs(perToken, t.loss_mask!, "mean"), "mean");
  return b;
}

/** Inputs as the log-prob program without labels/loss_mask; output `embeddings` [B, text.width]. */
export function buildEmbeddingProgram(c: TinyVlmConfig, params: { name: string; shape: number[] }[], batch: number, length: number): Builder {
  const b = new Builder("embed");
  const w = new Map(params.map((p) => [p.name, b.input(`param/${p.name}`, c.dtype, p.shape)]));
  const pixels = b.input("pixels", c.dtype, [batch, c.imageSize, c.imageSize, 3]);
  const tokens = b.input("tokens", "int64", [batch, length]);
  const textMask = b.input("text_mask", c.dtype, [batch, length]);
  const imageKeep = b.input("image_keep", c.dtype, [batch, imageTokens(c)]);
  const h = textHidden(c, (n) => w.get(n)!, { pixels, tokens, textMask, imageKeep });
  const pooled = op.div(op.reduceSum(op.mul(h, op.unsqueeze(textMask, [2])), [1]), op.max(op.reduceSum(textMask, [1], true), 1));
  b.output(pooled, "embeddings");
  return b;
}
