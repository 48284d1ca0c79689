// Ops that move data without arithmetic: reshape, transpose, squeeze/unsqueeze, concat/split, slice/pad,
// expand, gather/scatter, one-hot, cumsum, trilu, shape. Shape arguments are folded into int64 constants.
import { type DType, fromNumbers } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { type Dim, formatShape, normAxis, ShapeError } from "../ir/shape.ts";
import { int, str } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import { cast } from "./elementwise.ts";

/**
 * Reshape to `dims`: numbers are static sizes, -1 is inferred, and a string must name the input's dimension at the
 * same position (it is kept, emitted as 0 = copy).
 */
export function reshape(x: Tensor, dims: readonly Dim[]): Tensor {
  const emitted: number[] = [];
  const shape: Dim[] = [];
  let inferAt = -1;
  for (const [i, d] of dims.entries()) {
    if (typeof d === "string") {
      if (x.shape[i] !== d) throw new ShapeError(`Reshape: named dimension "${d}" must stay at position ${i} of ${formatShape(x.shape)}`);
      emitted.push(0);
      shape.push(d);
    } else if (d === -1) {
      if (inferAt >= 0) throw new ShapeError("Reshape: only one dimension may be -1");
      inferAt = i;
      emitted.push(-1);
      shape.push(-1);
    } else {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError(`Reshape: invalid dimension ${d}`);
      emitted.push(d);
      shape.push(d);
    }
  }
  const named = (s: readonly Dim[]) =>
    s
      .filter((d) => typeof d === "string")
      .sort()
      .join(",");
  const staticProduct = (s: readonly Dim[]) => s.reduce<number>((p, d) => (typeof d === "number" && d !== -1 ? p * d : p), 1);
  const inNamed = named(x.shape);
  const outNamed = named(shape);
  if (inNamed !== outNamed) throw new ShapeError(`Reshape: ${formatShape(x.shape)} to ${formatShape(dims)} must keep the same named dimensions`);
  const total = staticProduct(x.shape);
  if (inferAt >= 0) {
    const rest = staticProduct(shape);
    if (rest === 0 || total % rest !== 0) throw new ShapeError(`Reshape: cannot infer -1 reshaping ${formatShape(x.shape)} to ${formatShape(dims)}`);
    shape[inferAt] = total / rest;
  } else if (staticProduct(shape) !== total) {
    throw new ShapeError(`Reshape: ${formatShape(x.shape)} has ${total} elements per named index, ${formatShape(dims)} has ${staticProduct(shape)}`);
  }
  const b = builderOf(x);
  return b.emit("Reshape", [x, b.tensor("int64", emitted)], [{ dtype: x.dtype, shape }])[0]!;
}

export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort((a, c) => a - c).some((v, i) => v !== i))
    throw new ShapeError(`Transpose: [${p.join(", ")}] is not a permutation of rank ${x.rank}`);
  return builderOf(x).emit("Transpose", [x], [{ dtype: x.dtype, shape: p.map((i) => x.shape[i]!) }], { perm: { type: "ints", value: [...p] } })[0]!;
}

export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normAxis("Unsqueeze", a, rank)).sort((a, c) => a - c);
  const shape: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[k++]!);
  const b = builderOf(x);
  return b.emit("Unsqueeze", [x, b.tensor("int64", norm)], [{ dtype: x.dtype, shape }])[0]!;
}

export function squeeze(x: Tensor, axes: readonly number[]): Tensor {
  const norm = axes.map((a) => normAxis("Squeeze", a, x.rank));
  for (const a of norm) if (x.shape[a] !== 1) throw new ShapeError(`Squeeze: dimension ${a} of ${formatShape(x.shape)} is not 1`);
  const b = builderOf(x);
  const shape = x.shape.filter((_, i) => !norm.includes(i));
  return b.emit("Squeeze", [x, b.tensor("int64", norm)], [{ dtype: x.dtype, shape }])[0]!;
}

function sumDims(op: string, dims: readonly Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, c) => a + c, 0);
  throw new ShapeError(`${op}: the axis must have static sizes, got ${formatShape(dims)}`);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError("Concat: needs at least one input");
  const first = xs[0]!;
  const a = normAxis("Concat", axis, first.rank);
  for (const t of xs) {
    if (t.rank !== first.rank || t.dtype !== first.dtype || t.shape.some((d, i) => i !== a && d !== first.shape[i]))
      throw new ShapeError(`Concat: ${xs.map((u) => `${u.dtype}${formatShape(u.shape)}`).join(", ")} differ outside axis ${a}`);
  }
  const shape = first.shape.map((d, i) =>
    i === a
      ? sumDims(
          "Concat",
          xs.map((t) => t.shape[a]!),
        )
      : d,
  );
  return builderOf(first).emit("Concat", xs, [{ dtype: first.dtype, shape }], { axis: int(a) })[0]!;
}

export function split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const a = normAxis("Split", axis, x.rank);
  if (sumDims("Split", sizes) !== x.shape[a])
    throw new ShapeError(`Split: sizes [${sizes.join(", ")}] do not add up to dimension ${a} of ${formatShape(x.shape)}`);
  const b = builderOf(x);
  const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a ? s : d)) }));
  return b.emit("Split", [x, b.tensor("int64", sizes)], outs, { axis: int(a) });
}

/** Slice with static starts/ends/steps along `axes` (numpy semantics, negative indices allowed). */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): Tensor {
  const ax = (axes ?? starts.map((_, i) => i)).map((v) => normAxis("Slice", v, x.rank));
  const st = steps ?? ax.map(() => 1);
  const shape = [...x.shape];
  ax.forEach((axis, k) => {
    const dim = x.shape[axis]!;
    if (typeof dim !== "number") throw new ShapeError(`Slice: dimension ${axis} of ${formatShape(x.shape)} must be static`);
    const step = st[k]!;
    if (step === 0) throw new ShapeError("Slice: step 0");
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const norm = (v: number) => (v < 0 ? v + dim : v);
    // ONNX: with a negative step, starts clamp to [0, dim-1] and ends to [-1, dim-1].
    const s = step > 0 ? clamp(norm(starts[k]!), 0, dim) : clamp(norm(starts[k]!), 0, dim - 1);
    const e = step > 0 ? clamp(norm(ends[k]!), 0, dim) : clamp(norm(ends[k]!), -1, dim - 1);
    shape[axis] = Math.max(0, Math.ceil((e - s) / step));
  });
  const b = builderOf(x);
  const big = (v: number) => Math.max(Math.min(v, 2 ** 53), -(2 ** 53));
  const inputs = [x, b.tensor("int64", starts.map(big)), b.tensor("int64", ends.map(big)), b.tensor("int64", ax), b.tensor("int64", st)];
  return b.emit("Slice", inputs, [{ dtype: x.dtype, shape }])[0]!;
}

/** Constant padding: `pads` = [begin_0, …, begin_n, end_0, …, end_n] as in ONNX. */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length !== 2 * x.rank) throw new ShapeError(`Pad: needs ${2 * x.rank} pad values for rank ${x.rank}`);
  const shape = x.shape.map((d, i) => {
    if (pads[i] === 0 && pads[i + x.rank] === 0) return d;
    if (typeof d !== "number") throw new ShapeError(`Pad: dimension ${i} must be static`);
    return d + pads[i]! + pads[i + x.rank]!;
  });
  const b = builderOf(x);
  // ONNX Runtime's CUDA Pad has no bfloat16 kernel: pad in float32 (exact both ways).
  if (x.dtype === "bfloat16") return cast(pad(cast(x, "float32"), pads, value), "bfloat16");
  // A zero fill is Pad's default: leaving the value out keeps a shared scalar 0 from being needed on the host (the
  // CUDA kernel reads the value from host memory) and on the GPU at once, which costs a copy inside loops.
  const inputs = value === 0 ? [x, b.tensor("int64", pads)] : [x, b.tensor("int64", pads), b.tensor(x.dtype, value)];
  return b.emit("Pad", inputs, [{ dtype: x.dtype, shape }], { mode: str("constant") })[0]!;
}

/** Broadcast `x` to `shape` (strings must match x's aligned named dimension and are emitted as 1). */
export function expand(x: Tensor, shape: readonly Dim[]): Tensor {
  const rank = Math.max(shape.length, x.rank);
  const emitted: number[] = [];
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const want = shape[i - (rank - shape.length)] ?? 1;
    const have = x.shape[i - (rank - x.rank)] ?? 1;
    if (typeof want === "string") {
      if (have !== want) throw new ShapeError(`Expand: named dimension "${want}" must already be in ${formatShape(x.shape)}`);
      emitted.push(1);
      out.push(want);
    } else {
      if (have !== 1 && have !== want && want !== 1) throw new ShapeError(`Expand: cannot expand ${formatShape(x.shape)} to ${formatShape(shape)}`);
      emitted.push(want);
      out.push(have === 1 ? want : have);
    }
  }
  const b = builderOf(x);
  return b.emit("Expand", [x, b.tensor("int64", emitted)], [{ dtype: x.dtype, shape: out }])[0]!;
}

function checkIndices(op: string, indices: Tensor): void {
  if (indices.dtype !== "int64" && indices.dtype !== "int32") throw new ShapeError(`${op}: indices must be int64 or int32, got ${indices.dtype}`);
}

/** Gather along `axis` (embedding lookup is `gather(table, ids, 0)`). */
export function gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
  checkIndices("Gather", indices);
  const a = normAxis("Gather", axis, data.rank);
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return builderOf(data).emit("Gather", [data, indices], [{ dtype: data.dtype, shape }], { axis: int(a) })[0]!;
}

export function gatherElements(data: Tensor, indices: Tensor, axis: number): Tensor {
  checkIndices("GatherElements", indices);
  const a = normAxis("GatherElements", axis, data.rank);
  if (indices.rank !== data.rank) throw new ShapeError(`GatherElements: indices rank ${indices.rank} differs from data rank ${data.rank}`);
  return builderOf(data).emit("GatherElements", [data, indices], [{ dtype: data.dtype, shape: indices.shape }], { axis: int(a) })[0]!;
}

export function scatterElements(data: Tensor, indices: Tensor, updates: Tensor, axis: number, reduction: "none" | "add" = "none"): Tensor {
  checkIndices("ScatterElements", indices);
  const a = normAxis("ScatterElements", axis, data.rank);
  return builderOf(data).emit("ScatterElements", [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], {
    axis: int(a),
    reduction: str(reduction),
  })[0]!;
}

export function scatterND(data: Tensor, indices: Tensor, updates: Tensor, reduction: "none" | "add" = "none"): Tensor {
  checkIndices("ScatterND", indices);
  return builderOf(data).emit("ScatterND", [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], { reduction: str(reduction) })[0]!;
}

/** One-hot along a new last axis, values (off, on) of `dtype`. */
export function oneHot(indices: Tensor, depth: number, dtype: DType, off = 0, on = 1): Tensor {
  checkIndices("OneHot", indices);
  const b = builderOf(indices);
  const inputs = [indices, b.tensor("int64", depth), b.tensor(dtype, [off, on])];
  return b.emit("OneHot", inputs, [{ dtype, shape: [...indices.shape, depth] }], { axis: int(-1) })[0]!;
}

export function cumSum(x: Tensor, axis: number, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
  const a = normAxis("CumSum", axis, x.rank);
  const b = builderOf(x);
  const attrs = { exclusive: int(options.exclusive ? 1 : 0), reverse: int(options.reverse ? 1 : 0) };
  return b.emit("CumSum", [x, b.tensor("int64", a)], [{ dtype: x.dtype, shape: x.shape }], attrs)[0]!;
}

/** Lower (upper = false) or upper triangle of the last two axes, shifted by k. */
export function trilu(x: Tensor, upper: boolean, k = 0): Tensor {
  const b = builderOf(x);
  return b.emit("Trilu", [x, b.tensor("int64", k)], [{ dtype: x.dtype, shape: x.shape }], { upper: int(upper ? 1 : 0) })[0]!;
}

/** x's shape as an int64 vector: a folded constant when the shape is static, a Shape node otherwise. */
export function shapeOf(x: Tensor): Tensor {
  const b = builderOf(x);
  if (x.shape.every((d) => typeof d === "number")) return b.tensor("int64", x.shape as number[]);
  return b.emit("Shape", [x], [{ dtype: "int64", shape: [x.rank] }])[0]!;
}

/** A tensor of `shape` filled with `value`, computed at run time (no large constant stored). */
export function full(like: Tensor, shape: readonly number[], value: number, dtype: DType = like.dtype): Tensor {
  const b = builderOf(like);
  const v = { type: "tensor" as const, value: { dtype, shape: [1], data: fromNumbers(dtype, [value]) } };
  return b.emit("ConstantOfShape", [b.tensor("int64", [...shape])], [{ dtype, shape }], { value: v })[0]!;
}
