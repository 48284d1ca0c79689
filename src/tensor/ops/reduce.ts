// Reductions (opset 18 form: axes as an int64 input), ArgMax and TopK.
import { isFloat } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { type Dim, normAxis, ShapeError } from "../ir/shape.ts";
import { int } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import { cast } from "./elementwise.ts";

export type ReduceOp = "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceLogSumExp" | "ReduceProd";

export function reducedShape(op: string, shape: readonly Dim[], axes: readonly number[], keepdims: boolean): { axes: number[]; shape: Dim[] } {
  const norm = [...new Set(axes.map((a) => normAxis(op, a, shape.length)))].sort((x, y) => x - y);
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!norm.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return { axes: norm, shape: out };
}

/** Reduces over `axes` (all axes when omitted). */
export function reduce(op: ReduceOp, x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  if (!isFloat(x.dtype) && op !== "ReduceSum" && op !== "ReduceMax" && op !== "ReduceMin")
    throw new ShapeError(`${op}: needs a floating-point input, got ${x.dtype}`);
  const all = axes ?? x.shape.map((_, i) => i);
  const r = reducedShape(op, x.shape, all, keepdims);
  if (r.axes.length === 0) return x;
  // ONNX Runtime 1.29's CUDA provider lacks bfloat16 reductions (measured: ReduceMean); reducing in float32 is also
  // what autocast does, for accuracy.
  if (x.dtype === "bfloat16") return cast(reduce(op, cast(x, "float32"), axes, keepdims), "bfloat16");
  const b = builderOf(x);
  return b.emit(op, [x, b.tensor("int64", r.axes)], [{ dtype: x.dtype, shape: r.shape }], { keepdims: int(keepdims ? 1 : 0) })[0]!;
}

export const reduceSum = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceSum", x, axes, keepdims);
export const reduceMean = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceMean", x, axes, keepdims);
export const reduceMax = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceMax", x, axes, keepdims);
export const reduceMin = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceMin", x, axes, keepdims);
export const reduceLogSumExp = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceLogSumExp", x, axes, keepdims);

export function argMax(x: Tensor, axis: number, keepdims = false): Tensor {
  const r = reducedShape("ArgMax", x.shape, [axis], keepdims);
  return builderOf(x).emit("ArgMax", [x], [{ dtype: "int64", shape: r.shape }], { axis: int(r.axes[0]!), keepdims: int(keepdims ? 1 : 0) })[0]!;
}

/** TopK along `axis`: [values, indices]. */
export function topK(x: Tensor, k: number, axis = -1, largest = true): [Tensor, Tensor] {
  const a = normAxis("TopK", axis, x.rank);
  const dim = x.shape[a]!;
  if (typeof dim === "number" && k > dim) throw new ShapeError(`TopK: k = ${k} is larger than dimension ${a} (${dim})`);
  const shape = x.shape.map((d, i) => (i === a ? k : d));
  const b = builderOf(x);
  const [v, i] = b.emit(
    "TopK",
    [x, b.tensor("int64", [k])],
    [
      { dtype: x.dtype, shape },
      { dtype: "int64", shape },
    ],
    {
      axis: int(a),
      largest: int(largest ? 1 : 0),
      sorted: int(1),
    },
  );
  return [v!, i!];
}
