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

export function applyUpdate(config: OptimizerConfig, param: Tensor, gradient: Tensor, state: readonly Tensor[], step: Tensor, lr: Tensor): ParamUpdate {
  if (config.kind === "adamw") {
    const [m, v] = state as [Tensor, Tensor];
    const s = stepScalars(step, lr, `adamw ${config.beta1} ${config.beta2} ${config.weightDecay}`, () => {
      const c1 = op.sub(1, op.pow(config.beta1, step));
      const c2 = op.sub(1, op.pow(config.beta2, step));
      return [op.sqrt(c2), op.div(lr, c1), ...(config.weightDecay > 0 ? [op.sub(1, op.mul(lr, config.weightDecay))] : [])];
    });
    const [sqrtC2, lrOverC1, decay] = s as [Tensor, Tensor, Tensor | undefined];
    // Decoupled weight decay first: p ← p·(1 − lr·λ).
    const decayed = decay ? op.mul(param, decay) : param;
    const m2 = op.add(op.mul(m, config.beta1), op.mul(gradient, 1 - config.beta1));
    const v2 = op.add(op.mul(v, config.beta2), op.mul(op.mul(gradient, gradient), 1 - config.beta2));
    // p ← p − lr/c1 · m / (√(v/c2) + ε)
    const denom = op.add(op.div(op.sqrt(v2), sqrtC2), config.eps);
    const updated = op.sub(decayed, op.mul(lrOverC1, op.div(m2, denom)));
    return { param: updated, state: [m2, v2] };
  }
  const g = config.weightDecay > 0 ? op.add(gradient, op.mul(param, config.weightDecay)) : gradient;
  if (config.momentum === 0) return { param: op.sub(param, op.mul(lr, g)), state: [] };
  const [buf] = state as [Tensor];
  // PyTorch starts the buffer at g on the first step (no dampening then).
  const [first] = stepScalars(step, lr, "sgd", () => [op.equal(step, 1)]) as [Tensor];
  const blended = op.add(op.mul(buf, config.momentum), op.mul(g, 1 - config.dampening));
  const buf2 = op.where(first, g, blended);
  const direction = config.nesterov ? op.add(g, op.mul(buf2, config.momentum)) : buf2;
  return { param: op.sub(param, op.mul(lr, direction)), state: [buf2] };
}

/**
 * The scalars of one step that every parameter (group) shares — AdamW's bias corrections and decay factor, SGD's
 * first-step flag — made once per step, learning rate and optimizer settings rather than once per update: the same
 * values, a few kernels fewer per update group.
 */
const scalarsByStep = new WeakMap<Tensor, Map<Tensor, Map<string, Tensor[]>>>();

function stepScalars(step: Tensor, lr: Tensor, key: string, make: () => Tensor[]): Tensor[] {
  const byLr = scalarsByStep.get(step) ?? new Map<Tensor, Map<string, Tensor[]>>();
  scalarsByStep.set(step, byLr);
  const byKey = byLr.get(lr) ?? new Map<string, Tensor[]>();
  byLr.set(lr, byKey);
  const made = byKey.get(key) ?? make();
  byKey.set(key, made);
  return made;
}
