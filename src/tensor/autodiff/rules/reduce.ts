// VJP rules of reductions: bring the gradient back to the input's shape (keepdims, then expand).
import type { Tensor } from "../../ir/graph.ts";
import { ShapeError } from "../../ir/shape.ts";
import { intAttr } from "../../ops/attrs.ts";
import * as op from "../../ops/index.ts";
import { initializerValues } from "../constants.ts";
import { expandLike, keepDims } from "../helpers.ts";
import { dy, type VjpArgs, type VjpRule } from "../rule.ts";

function reduction(a: VjpArgs): { x: Tensor; axes: number[]; g: Tensor; y: Tensor } {
  const x = a.inputs[0]!;
  const axes = (a.inputs[1] ? initializerValues(a.inputs[1], a.node.op) : x.shape.map((_, i) => i)).map((v) => (v < 0 ? v + x.rank : v)).sort((p, q) => p - q);
  const keep = intAttr(a.node.attrs, "keepdims", 1) === 1;
  return { x, axes, g: keepDims(dy(a), axes, keep), y: keepDims(a.outputs[0]!, axes, keep) };
}

function count(x: Tensor, axes: number[]): number {
  return axes.reduce((p, i) => {
    const d = x.shape[i];
    if (typeof d !== "number") throw new ShapeError("autodiff: ReduceMean over a named dimension");
    return p * d;
  }, 1);
}

export const reduceRules: Record<string, VjpRule> = {
  ReduceSum: (a) => {
    const r = reduction(a);
    return [expandLike(r.g, r.x), null];
  },
  ReduceMean: (a) => {
    const r = reduction(a);
    return [expandLike(op.div(r.g, count(r.x, r.axes)), r.x), null];
  },
  // The maximum's gradient is shared equally among tied maxima.
  ReduceMax: (a) => {
    const r = reduction(a);
    const mask = op.cast(op.equal(r.x, r.y), r.x.dtype);
    const ties = op.reduceSum(mask, r.axes, true);
    return [op.mul(mask, op.div(r.g, ties)), null];
  },
  ReduceLogSumExp: (a) => {
    const r = reduction(a);
    return [op.mul(r.g, op.exp(op.sub(r.x, r.y))), null];
  },
};
