// The DPO family's per-pair losses, shared by every model's preference-training program (TinyVLM's, the Hugging Face
// decoders'): from h = (log π(y⁺) − log π(y⁻)) − (log π_ref(y⁺) − log π_ref(y⁻)),
//   sigmoid (DPO):  ℓ = (1 − ε)·softplus(−β·h) + ε·softplus(β·h)      (ε: label smoothing, conservative DPO)
//   ipo:            ℓ = (h − 1/(2β))²
//   hinge (SLiC):   ℓ = max(0, 1 − β·h)
import type { Tensor } from "../../tensor/ir/graph.ts";
import * as op from "../../tensor/ops/index.ts";

export type PreferenceLoss = "sigmoid" | "ipo" | "hinge";

export interface PreferenceObjective {
  loss: PreferenceLoss;
  beta: number;
  /** ε of conservative DPO (sigmoid only). */
  labelSmoothing: number;
  /** A sequence's log-prob: the sum of its answer tokens' log-probs, or their mean. */
  logps: "sum" | "mean";
  /** Weight of the added SFT loss on chosen answers (0: none). */
  sftWeight: number;
}

/** The metrics every preference loss reports, under TRL's names (besides loss, grad_norm and the learning rate the program adds). */
export const DPO_METRICS = [
  "rewards/chosen",
  "rewards/rejected",
  "rewards/accuracies",
  "rewards/margins",
  "logps/chosen",
  "logps/rejected",
  "logits/chosen",
  "logits/rejected",
  "nll_loss",
] as const;

/** The per-pair loss of the objective from h = chosen shift − rejected shift, [B]. */
export function pairLoss(h: Tensor, o: PreferenceObjective): Tensor {
  const z = op.mul(h, o.beta);
  switch (o.loss) {
    case "sigmoid": {
      // −log σ(z) = softplus(−z), stable for large |z|.
      const main = op.softplus(op.neg(z));
      return o.labelSmoothing > 0 ? op.add(op.mul(main, 1 - o.labelSmoothing), op.mul(op.softplus(z), o.labelSmoothing)) : main;
    }
    case "ipo": {
      const d = op.sub(h, 1 / (2 * o.beta));
      return op.mul(d, d);
    }
    case "hinge":
      return op.relu(op.sub(1, z));
  }
}
