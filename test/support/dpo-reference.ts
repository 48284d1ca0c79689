// A float64 reference for TinyVLM's DPO-family loss (src/models/tinyvlm/dpo.ts), written from the
// definitions rather than from the compiler's code: TRL's dpo_loss (sigmoid with label smoothing, IPO, hinge), its
// rewards and the metrics TRL logs (names as TRL's DPOTrainer logs them: docs/preference-training.md).
//
// Logits come from the reference interpreter (src/tensor/evaluate.ts), which runs the TinyVLM forward
// graph in float64; everything after the logits (log-softmax, token log-probs, sequence sums and means, the
// losses, rewards and metrics) is plain TypeScript arithmetic here.

import type { TinyVlmConfig } from "../../src/models/tinyvlm/config.ts";
import { vlmLogits } from "../../src/models/tinyvlm/forward.ts";
import { evaluate } from "../../src/tensor/evaluate.ts";
import type { Tensor, TensorData } from "../../src/tensor/ir/graph.ts";
import { Builder } from "../../src/tensor/ops/builder.ts";

export type ReferenceLoss = "sigmoid" | "ipo" | "hinge";

export interface ReferenceObjective {
  loss: ReferenceLoss;
  beta: number;
  labelSmoothing: number;
  logps: "sum" | "mean";
  sftWeight: number;
}

/** One scored sequence, from its logits. */
export interface SequenceStats {
  /** log p(label) at every position (0 where not scored). */
  tokenLogps: number[];
  /** Scored positions. */
  count: number;
  sum: number;
  /** sum / count (0 for a sequence with no scored token). */
  mean: number;
  /** Σ over scored positions of Σ over the vocabulary of the logits (for logits/*). */
  logitSum: number;
}

export interface ReferencePair {
  chosen: SequenceStats;
  rejected: SequenceStats;
  refChosen: number;
  refRejected: number;
  weight: number;
}

export interface ReferenceResult {
  loss: number;
  /** Per-pair loss ℓ before weighting. */
  perPair: number[];
  /** Per-pair h = (log π⁺ − log π_ref⁺) − (log π⁻ − log π_ref⁻). */
  h: number[];
  metrics: Record<string, number>;
}

/** log σ(x), stable on both sides. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/** Token log-probs and sums of one sequence, from its logits [T·V] (row-major), labels [T] and 0/1 loss mask [T]. */
export function sequenceStats(logits: ArrayLike<number>, vocab: number, labels: readonly number[], lossMask: readonly number[]): SequenceStats {
  const length = labels.length;
  if (logits.length !== length * vocab) throw new Error(`dpo-reference: ${logits.length} logits for ${length} positions × ${vocab}`);
  const tokenLogps: number[] = [];
  let count = 0;
  let sum = 0;
  let logitSum = 0;
  for (let t = 0; t < length; t++) {
    const m = lossMask[t] as number;
    if (m === 0) {
      tokenLogps.push(0);
      continue;
    }
    if (m !== 1) throw new Error(`dpo-reference: loss mask values must be 0 or 1, got ${m}`);
    let max = Number.NEGATIVE_INFINITY;
    let rowSum = 0;
    for (let v = 0; v < vocab; v++) {
      const x = logits[t * vocab + v] as number;
      max = Math.max(max, x);
      rowSum += x;
    }
    let z = 0;
    for (let v = 0; v < vocab; v++) z += Math.exp((logits[t * vocab + v] as number) - max);
    const label = labels[t] as number;
    const lp = (logits[t * vocab + label] as number) - max - Math.log(z);
    tokenLogps.push(lp);
    count += 1;
    sum += lp;
    logitSum += rowSum;
  }
  return { tokenLogps, count, sum, mean: count > 0 ? sum / count : 0, logitSum };
}

/** TRL's per-pair loss of the objective at h (the "logits" of dpo_loss). */
export function pairLossReference(h: number, o: ReferenceObjective): number {
  switch (o.loss) {
    case "sigmoid":
      return -logSigmoid(o.beta * h) * (1 - o.labelSmoothing) - logSigmoid(-o.beta * h) * o.labelSmoothing;
    case "ipo":
      return (h - 1 / (2 * o.beta)) ** 2;
    case "hinge":
      return Math.max(0, 1 - o.beta * h);
  }
}

/** Loss, rewards and every metric of dpo.ts (DPO_METRICS), computed from per-sequence statistics. */
export function dpoReference(pairs: readonly ReferencePair[], o: ReferenceObjective, vocab: number): ReferenceResult {
  const seq = (s: SequenceStats) => (o.logps === "sum" ? s.sum : s.mean);
  const totalWeight = pairs.reduce((a, p) => a + p.weight, 0);
  const weighted = (f: (p: ReferencePair, i: number) => number) => pairs.reduce((a, p, i) => a + p.weight * f(p, i), 0) / totalWeight;
  const h = pairs.map((p) => seq(p.chosen) - p.refChosen - (seq(p.rejected) - p.refRejected));
  const perPair = h.map((x) => pairLossReference(x, o));
  const rewardChosen = pairs.map((p) => o.beta * (seq(p.chosen) - p.refChosen));
  const rewardRejected = pairs.map((p) => o.beta * (seq(p.rejected) - p.refRejected));
  // TRL's nll_loss: cross-entropy over every scored token of the chosen answers.
  const chosenTokens = pairs.reduce((a, p) => a + p.chosen.count, 0);
  const rejectedTokens = pairs.reduce((a, p) => a + p.rejected.count, 0);
  const nll = -pairs.reduce((a, p) => a + p.chosen.sum, 0) / chosenTokens;
  // The loss divides Σ w·ℓ by the number of pairs, not by Σ w (the metrics are weighted means).
  const lossSum = pairs.reduce((a, p, i) => a + p.weight * (perPair[i] as number), 0);
  const loss = lossSum / pairs.length + (o.sftWeight > 0 ? o.sftWeight * nll : 0);
  const metrics: Record<string, number> = {
    "rewards/chosen": weighted((_, i) => rewardChosen[i] as number),
    "rewards/rejected": weighted((_, i) => rewardRejected[i] as number),
    "rewards/accuracies": weighted((_, i) => ((rewardChosen[i] as number) > (rewardRejected[i] as number) ? 1 : 0)),
    "rewards/margins": weighted((_, i) => (rewardChosen[i] as number) - (rewardRejected[i] as number)),
    "logps/chosen": weighted((p) => seq(p.chosen)),
    "logps/rejected": weighted((p) => seq(p.rejected)),
    // TRL: the mean of the logits over the scored positions (and the vocabulary) of each side, unweighted.
    "logits/chosen": pairs.reduce((a, p) => a + p.chosen.logitSum, 0) / (chosenTokens * vocab),
    "logits/rejected": pairs.reduce((a, p) => a + p.rejected.logitSum, 0) / (rejectedTokens * vocab),
    nll_loss: nll,
  };
  return { loss, perPair, h, metrics };
}

/** float32/float64 parameters as float64 tensors. */
export function toFloat64(t: TensorData): TensorData {
  return { dtype: "float64", shape: [...t.shape], data: Float64Array.from(t.data as ArrayLike<number>) };
}

/**
 * TinyVLM logits [B, T, vocab] in float64 by the reference interpreter, for one batch of sequences: `params` by
 * name (any float type), pixels [B, H, W, 3], tokens [B, T] (int64), text_mask [B, T], image_keep [B, P].
 */
export function referenceLogits(
  c: TinyVlmConfig,
  params: ReadonlyMap<string, TensorData>,
  batch: { pixels: TensorData; tokens: TensorData; text_mask: TensorData; image_keep: TensorData },
): Float64Array {
  const c64: TinyVlmConfig = { ...c, dtype: "float64" };
  const b = new Builder("reference-logits");
  const w = new Map([...params].map(([name, t]) => [name, b.input(`param/${name}`, "float64", t.shape)]));
  const input = (name: string, t: TensorData) => b.input(name, t.dtype === "int64" ? "int64" : "float64", t.shape);
  const logits = vlmLogits(c64, (n): Tensor => w.get(n) as Tensor, {
    pixels: input("pixels", batch.pixels),
    tokens: input("tokens", batch.tokens),
    textMask: input("text_mask", batch.text_mask),
    imageKeep: input("image_keep", batch.image_keep),
  });
  b.output(logits, "logits");
  const feeds: Record<string, TensorData> = {};
  for (const [name, t] of params) feeds[`param/${name}`] = toFloat64(t);
  for (const [name, t] of Object.entries(batch)) feeds[name] = t.dtype === "int64" ? t : toFloat64(t);
  return evaluate(b.root, feeds).logits?.data as Float64Array;
}

/** Splits dpoFeeds' staged fields ([1, B, …]) into the reference's pairs (logits by the reference interpreter). */
export function referencePairs(c: TinyVlmConfig, params: ReadonlyMap<string, TensorData>, feeds: Record<string, TensorData>): ReferencePair[] {
  const field = (name: string) => {
    const t = feeds[name];
    if (!t) throw new Error(`dpo-reference: no feed "${name}"`);
    if (t.shape[0] !== 1) throw new Error(`dpo-reference: expected one staged micro-batch, "${name}" has ${t.shape[0]}`);
    return { ...t, shape: t.shape.slice(1) };
  };
  const [batch, length] = field("chosen_tokens").shape as [number, number];
  const stats = (side: "chosen" | "rejected"): SequenceStats[] => {
    const logits = referenceLogits(c, params, {
      pixels: field("pixels"),
      tokens: field(`${side}_tokens`),
      text_mask: field(`${side}_text_mask`),
      image_keep: field("image_keep"),
    });
    const labels = Array.from(field(`${side}_labels`).data as BigInt64Array, Number);
    const mask = Array.from(field(`${side}_loss_mask`).data as Float32Array, Number);
    return Array.from({ length: batch }, (_, i) =>
      sequenceStats(
        logits.subarray(i * length * c.vocab, (i + 1) * length * c.vocab),
        c.vocab,
        labels.slice(i * length, (i + 1) * length),
        mask.slice(i * length, (i + 1) * length),
      ),
    );
  };
  const chosen = stats("chosen");
  const rejected = stats("rejected");
  const num = (name: string, i: number) => Number(field(name).data[i]);
  return chosen.map((s, i) => ({
    chosen: s,
    rejected: rejected[i] as SequenceStats,
    refChosen: num("ref_chosen", i),
    refRejected: num("ref_rejected", i),
    weight: num("weight", i),
  }));
}
