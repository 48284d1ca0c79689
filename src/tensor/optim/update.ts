// One optimizer update as graph ops, following PyTorch's AdamW and SGD exactly (so results can be compared).
// `step` is the 1-based optimizer step as a float scalar (global, from the run's step offset); `lr` a float scalar:
// the parameter's own learning rate (the training program passes lr·lrScale for a parameter with a scale, so
// weight decay and the step both use it, as PyTorch does for a parameter group's lr).
import type { Tensor } from "../ir/graph.ts";
import * as op from "../ops/index.ts";
import type { OptimizerConfig } from "./types.ts";

export interface ParamUpdate {
  param: Tensor;
  /** Optimizer state in the order of `stateNames(config)`. */
  state: Tensor[];
}

/**
 * The scalars of one step that every update with this step and learning rate shares — AdamW's bias corrections and
 * decay factor, SGD's first-step flag. The training program makes them once per step and learning rate, not once per
 * update group.
 */
export interface StepScalars {
  lr: Tensor;
  /** AdamW: √(1 − β₂ᵗ). */
  sqrtC2?: Tensor;
  /** AdamW: lr / (1 − β₁ᵗ). */
  lrOverC1?: Tensor;
  /** AdamW with weight decay: 1 − lr·λ. */
  decay?: Tensor;
  /** SGD with momentum: whether this is the first step. */
  first?: Tensor;
}

/** `step` is the 1-based optimizer step as a float scalar, `lr` the learning rate (both in the parameters' dtype). */
export function stepScalars(config: OptimizerConfig, step: Tensor, lr: Tensor): StepScalars {
  if (config.kind === "adamw") {
    const c1 = op.sub(1, op.pow(config.beta1, step));
    const c2 = op.sub(1, op.pow(config.beta2, step));
    return { lr, sqrtC2: op.sqrt(c2), lrOverC1: op.div(lr, c1), ...(config.weightDecay > 0 ? { decay: op.sub(1, op.mul(lr, config.weightDecay)) } : {}) };
  }
  return { lr, ...(config.momentum !== 0 ? { first: op.equal(step, 1) } : {}) };
}

export function applyUpdate(config: OptimizerConfig, param: Tensor, gradient: Tensor, state: readonly Tensor[], s: StepScalars): ParamUpdate {
  if (config.kind === "adamw") {
    const [m, v] = state as [Tensor, Tensor];
    // Decoupled weight decay first: p ← p·(1 − lr·λ).
    const decayed = s.decay ? op.mul(param, s.decay) : param;
    const m2 = op.add(op.mul(m, config.beta1), op.mul(gradient, 1 - config.beta1));
    const v2 = op.add(op.mul(v, config.beta2), op.mul(op.mul(gradient, gradient), 1 - config.beta2));
    // p ← p − lr/c1 · m / (√(v/c2) + ε)
    const denom = op.add(op.div(op.sqrt(v2), s.sqrtC2!), config.eps);
    const updated = op.sub(decayed, op.mul(s.lrOverC1!, op.div(m2, denom)));
    return { param: updated, state: [m2, v2] };
  }
  const g = config.weightDecay > 0 ? op.add(gradient, op.mul(param, config.weightDecay)) : gradient;
  if (config.momentum === 0) return { param: op.sub(param, op.mul(s.lr, g)), state: [] };
  const [buf] = state as [Tensor];
  // PyTorch starts the buffer at g on the first step (no dampening then).
  const blended = op.add(op.mul(buf, config.momentum), op.mul(g, 1 - config.dampening));
  const buf2 = op.where(s.first!, g, blended);
  const direction = config.nesterov ? op.add(g, op.mul(buf2, config.momentum)) : buf2;
  return { param: op.sub(param, op.mul(s.lr, direction)), state: [buf2] };
}
