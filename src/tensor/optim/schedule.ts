// Learning-rate multipliers f(t) for optimizer step t (0-based), as numbers (for tests and reports) and as graph
// expressions of a float step tensor (inside the training Loop).
import type { Tensor } from "../ir/graph.ts";
import * as op from "../ops/index.ts";
import type { ScheduleConfig } from "./types.ts";

export function scheduleFactor(s: ScheduleConfig, t: number): number {
  if (t < s.warmupSteps) return t / Math.max(1, s.warmupSteps);
  if (s.kind === "constant") return 1;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  if (s.kind === "linear") return Math.max(0, (s.totalSteps - t) / span);
  const progress = (t - s.warmupSteps) / span;
  const cosine = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * (s.cycles ?? 0.5) * 2 * progress)));
  const floor = s.minRatio ?? 0;
  return floor + (1 - floor) * cosine;
}

/** f(t) as a scalar tensor of t's dtype. */
export function scheduleFactorTensor(s: ScheduleConfig, t: Tensor): Tensor {
  const warm = op.div(t, Math.max(1, s.warmupSteps));
  let after: Tensor;
  if (s.kind === "constant") after = op.add(op.mul(t, 0), 1);
  else {
    const span = Math.max(1, s.totalSteps - s.warmupSteps);
    if (s.kind === "linear") after = op.max(op.div(op.sub(s.totalSteps, t), span), 0);
    else {
      const progress = op.div(op.sub(t, s.warmupSteps), span);
      after = op.max(op.mul(0.5, op.add(1, op.cos(op.mul(progress, Math.PI * (s.cycles ?? 0.5) * 2)))), 0);
      const floor = s.minRatio ?? 0;
      if (floor > 0) after = op.add(floor, op.mul(1 - floor, after));
    }
  }
  return s.warmupSteps > 0 ? op.where(op.less(t, s.warmupSteps), warm, after) : after;
}
