// Building blocks shared by VJP rules: undoing broadcasting, zeros, reshaping to another tensor's shape.
import { fromNumbers } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import type { Shape } from "../ir/shape.ts";
import { builderOf } from "../ops/builder.ts";
import * as op from "../ops/index.ts";

/** Sums `g` over the axes that broadcasting added or stretched, so it gets `target`'s shape. */
export function unbroadcast(g: Tensor, target: Shape): Tensor {
  const lead = g.rank - target.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (target[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  let out = axes.length ? op.reduceSum(g, axes, true) : g;
  if (lead > 0)
    out = op.squeeze(
      out,
      Array.from({ length: lead }, (_, i) => i),
    );
  return out;
}

/** Zeros with `t`'s shape and dtype, sized at run time (works for named dimensions). */
export function zerosLike(t: Tensor): Tensor {
  const b = builderOf(t);
  const value = { type: "tensor" as const, value: { dtype: t.dtype, shape: [1], data: fromNumbers(t.dtype, [0]) } };
  return b.emit("ConstantOfShape", [op.shapeOf(t)], [{ dtype: t.dtype, shape: t.shape }], { value })[0]!;
}

/** Reshape `g` to `like`'s shape, read at run time. */
export function reshapeLike(g: Tensor, like: Tensor): Tensor {
  return builderOf(g).emit("Reshape", [g, op.shapeOf(like)], [{ dtype: g.dtype, shape: like.shape }])[0]!;
}

/** Broadcast `g` (reduced with keepdims) back to `like`'s shape. */
export function expandLike(g: Tensor, like: Tensor): Tensor {
  return builderOf(g).emit("Expand", [g, op.shapeOf(like)], [{ dtype: g.dtype, shape: like.shape }])[0]!;
}

/** Swaps the last two axes. */
export function transposeLast2(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  perm[t.rank - 1] = t.rank - 2;
  perm[t.rank - 2] = t.rank - 1;
  return op.transpose(t, perm);
}

/** Re-inserts reduced axes (as size 1) into a gradient of a reduction that had keepdims = 0. */
export function keepDims(g: Tensor, axes: readonly number[], keepdims: boolean): Tensor {
  return keepdims || axes.length === 0 ? g : op.unsqueeze(g, axes);
}
