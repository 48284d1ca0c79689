// Sequence log-probabilities and the losses built on them.
import type { Tensor } from "../../tensor/ir/graph.ts";
import * as op from "../../tensor/ops/index.ts";

/**
 * Per-token log p(label) from logits [B, T, V] and int64 labels [B, T]; `mask` ([B, T], 0/1 in the logits' dtype)
 * zeroes positions that are not scored (prompt, padding).
 */
export function tokenLogProbs(logits: Tensor, labels: Tensor, mask: Tensor): Tensor {
  const logp = op.logSoftmax(logits, -1);
  const picked = op.squeeze(op.gatherElements(logp, op.unsqueeze(labels, [-1]), -1), [-1]);
  return op.mul(picked, mask);
}

/** Sum (or mean over scored tokens) of token log-probs per sequence: [B]. */
export function sequenceLogProbs(tokenLogp: Tensor, mask: Tensor, reduction: "sum" | "mean" = "sum"): Tensor {
  const total = op.reduceSum(tokenLogp, [-1]);
  return reduction === "sum" ? total : op.div(total, op.max(op.reduceSum(mask, [-1]), 1));
}

/** Mean token cross-entropy over scored positions (SFT loss). */
export function maskedCrossEntropy(logits: Tensor, labels: Tensor, mask: Tensor): Tensor {
  const lp = tokenLogProbs(logits, labels, mask);
  return op.neg(op.div(op.reduceSum(lp), op.max(op.reduceSum(mask), 1)));
}

/**
 * The DPO sigmoid loss of Rafailov et al.: −log σ(β·((π_c − ref_c) − (π_r − ref_r))), averaged over the batch.
 * Inputs are per-sequence log-probs [B]; the reference ones are constants.
 */
export function dpoSigmoidLoss(policyChosen: Tensor, policyRejected: Tensor, refChosen: Tensor, refRejected: Tensor, beta: number): Tensor {
  const margin = op.sub(op.sub(policyChosen, refChosen), op.sub(policyRejected, refRejected));
  // −log σ(z) = softplus(−z), stable for large |z|.
  return op.reduceMean(op.softplus(op.neg(op.mul(margin, beta))));
}
