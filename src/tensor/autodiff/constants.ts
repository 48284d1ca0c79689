// Rules of ops whose shape arguments are inputs (Slice, Pad, CumSum…) need those arguments' values: the
// builder folds them into int64 initializers, so they are read back here.
import { toNumbers } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { ShapeError } from "../ir/shape.ts";

export function initializerValues(t: Tensor, op: string): number[] {
  for (let g: typeof t.graph | undefined = t.graph; g; g = g.parent) {
    const data = g.initializers.get(t);
    if (data) return toNumbers(data.data);
  }
  throw new ShapeError(`autodiff: ${op} needs a constant argument, but "${t.name}" is computed at run time`);
}
