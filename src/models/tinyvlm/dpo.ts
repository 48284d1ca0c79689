// TinyVLM's preference-training loss: the DPO family on (chosen, rejected) pairs with reference log-probs given as
// inputs (computed once, elsewhere, and cached). One forward pass over the chosen and rejected sequences stacked
// into a batch of 2B; per-sequence log-probs are summed or averaged over the answer tokens; then
//   h = (log π(y⁺) − log π(y⁻)) − (log π_ref(y⁺) − log π_ref(y⁻))
//   sigmoid (DPO):  ℓ = (1 − ε)·softplus(−β·h) + ε·softplus(β·h)      (ε: label smoothing, conservative DPO)
//   ipo:            ℓ = (h − 1/(2β))²
//   hinge (SLiC):   ℓ = max(0, 1 − β·h)
// averaged over pairs with per-pair weights w (Σ w·ℓ / B; the runtime gives the pairs of each dataset the weight
// γ_k·N/N_k, so several rejected answers of one chosen combine as γ·L₁ + (1 − γ)·L₂), plus sft_weight × the chosen
// answers' token cross-entropy. The metrics are the names TRL
// logs (reward = β·(log π − log π_ref), accuracy = share of pairs whose chosen reward is larger): rewards/* and
// logps/* weighted the same way; logits/* and nll_loss are plain means over the scored tokens, as in TRL. With
// accumulation, each micro-batch's weighted mean counts equally.
import type { Tensor } from "../../tensor/ir/graph.ts";
import * as op from "../../tensor/ops/index.ts";
import type { LossFn, TensorSpec } from "../../tensor/program/train-program.ts";
import { tokenLogProbs } from "../layers/losses.ts";
import { type DPO_METRICS, type PreferenceObjective, pairLoss } from "../layers/preference.ts";
import { imageTokens, type TinyVlmConfig } from "./config.ts";
import { vlmLogits } from "./forward.ts";

/** Both sequences of a pair share the image; tokens, labels and masks are as in sftBatch, once per side. */
export function dpoBatch(c: TinyVlmConfig, batch: number, length: number): Record<string, TensorSpec> {
  const seq = { dtype: "int64" as const, shape: [batch, length] };
  const mask = { dtype: c.dtype, shape: [batch, length] };
  return {
    pixels: { dtype: c.dtype, shape: [batch, c.imageSize, c.imageSize, 3] },
    image_keep: { dtype: c.dtype, shape: [batch, imageTokens(c)] },
    chosen_tokens: seq,
    chosen_labels: seq,
    chosen_loss_mask: mask,
    chosen_text_mask: mask,
    rejected_tokens: seq,
    rejected_labels: seq,
    rejected_loss_mask: mask,
    rejected_text_mask: mask,
    ref_chosen: { dtype: c.dtype, shape: [batch] },
    ref_rejected: { dtype: c.dtype, shape: [batch] },
    weight: { dtype: c.dtype, shape: [batch] },
  };
}

export function dpoLoss(c: TinyVlmConfig, o: PreferenceObjective): LossFn {
  return (w, b) => {
    const both = (name: string) => op.concat([b[`chosen_${name}`]!, b[`rejected_${name}`]!], 0);
    const lossMask = both("loss_mask");
    const logits = vlmLogits(c, (n): Tensor => w[n]!, {
      pixels: op.concat([b.pixels!, b.pixels!], 0),
      imageKeep: op.concat([b.image_keep!, b.image_keep!], 0),
      tokens: both("tokens"),
      textMask: both("text_mask"),
    });
    const perToken = tokenLogProbs(logits, both("labels"), lossMask); // [2B, T]
    const tokenCount = op.reduceSum(lossMask, [-1]); // [2B]
    const summed = op.reduceSum(perToken, [-1]);
    const seq = o.logps === "sum" ? summed : op.div(summed, op.max(tokenCount, 1));
    const batch = b.weight!.shape[0] as number;
    const chosen = op.slice(seq, [0], [batch], [0]);
    const rejected = op.slice(seq, [batch], [2 * batch], [0]);
    const chosenShift = op.sub(chosen, b.ref_chosen!);
    const rejectedShift = op.sub(rejected, b.ref_rejected!);
    const h = op.sub(chosenShift, rejectedShift);
    const perPair = pairLoss(h, o);
    const weight = b.weight!;
    // The loss is Σ w·ℓ over the B pairs of the micro-batch, divided by B (not by Σ w): the runtime scales weights to
    // mean 1 over the data, so a dataset's share of the loss is its γ even when a batch holds pairs of one dataset.
    // The metrics are weighted means, Σ w·x / Σ w.
    const totalWeight = op.max(op.reduceSum(weight), 1e-12);
    const weighted = (x: Tensor) => op.div(op.reduceSum(op.mul(x, weight)), totalWeight);
    // The chosen answers' token cross-entropy (mean over their answer tokens), for the optional SFT term.
    const chosenMask = b.chosen_loss_mask!;
    const nll = op.neg(op.div(op.reduceSum(op.slice(summed, [0], [batch], [0])), op.max(op.reduceSum(chosenMask), 1)));
    let loss = op.div(op.reduceSum(op.mul(perPair, weight)), batch);
    if (o.sftWeight > 0) loss = op.add(loss, op.mul(nll, o.sftWeight));
    const rewardChosen = op.mul(chosenShift, o.beta);
    const rewardRejected = op.mul(rejectedShift, o.beta);
    // Mean logit over the scored positions of each side (every vocabulary entry), as TRL logs logits/*.
    const vocab = logits.shape[2] as number;
    const logitSums = op.reduceSum(op.mul(op.reduceSum(logits, [-1]), lossMask), [-1]); // [2B]
    const meanLogit = (from: number, to: number) =>
      op.div(op.reduceSum(op.slice(logitSums, [from], [to], [0])), op.mul(op.max(op.reduceSum(op.slice(tokenCount, [from], [to], [0])), 1), vocab));
    const metrics: Record<(typeof DPO_METRICS)[number], Tensor> = {
      "rewards/chosen": weighted(rewardChosen),
      "rewards/rejected": weighted(rewardRejected),
      "rewards/accuracies": weighted(op.cast(op.greater(rewardChosen, rewardRejected), c.dtype)),
      "rewards/margins": weighted(op.sub(rewardChosen, rewardRejected)),
      "logps/chosen": weighted(chosen),
      "logps/rejected": weighted(rejected),
      "logits/chosen": meanLogit(0, batch),
      "logits/rejected": meanLogit(batch, 2 * batch),
      nll_loss: nll,
    };
    return { loss, metrics };
  };
}
