// Ops that change a tensor's shape, not its elements: Reshape, Transpose, Squeeze/Unsqueeze, Expand; Shape and
// ConstantOfShape; and the "like" constructors gradients use, which read another tensor's shape at run time. Shape
// arguments are folded into int64 constants.
import { dy } from "../autodiff/rule.ts";
import { type DType, fromNumbers } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { type Dim, formatShape, normAxis, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { axisOf, broadcast, broadcastOffset, ravel, size } from "../reference/strided.ts";
import { fromTensorData, gatherBy, makeValue, type Value } from "../reference/value.ts";
import { intsAttr } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type OpDef } from "./op-def.ts";
import { unbroadcast } from "./reduce.ts";

// ── constructors ──

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

/** Zeros with `t`'s shape and dtype, sized at run time (works for named dimensions). */
export function zerosLike(t: Tensor): Tensor {
  const b = builderOf(t);
  const value = { type: "tensor" as const, value: { dtype: t.dtype, shape: [1], data: fromNumbers(t.dtype, [0]) } };
  return b.emit("ConstantOfShape", [shapeOf(t)], [{ dtype: t.dtype, shape: t.shape }], { value })[0]!;
}

/** Reshape `g` to `like`'s shape, read at run time. */
export function reshapeLike(g: Tensor, like: Tensor): Tensor {
  return builderOf(g).emit("Reshape", [g, shapeOf(like)], [{ dtype: g.dtype, shape: like.shape }])[0]!;
}

/** Broadcast `g` (reduced with keepdims) back to `like`'s shape. */
export function expandLike(g: Tensor, like: Tensor): Tensor {
  return builderOf(g).emit("Expand", [g, shapeOf(like)], [{ dtype: g.dtype, shape: like.shape }])[0]!;
}

// ── reference kernels ──

/** Same data, new shape (row-major order is unchanged). */
const withShape = (x: Value, shape: number[]): Value => ({ dtype: x.dtype, shape, data: x.data.slice() });

/** 0 copies the input dimension (allowzero = 0), -1 is inferred from the element count. */
function reshapeKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  if (ref.numAttr(a, "allowzero", 0) !== 0) ref.fail(a, "allowzero = 1 is not supported");
  const dims = ref.ints(ref.input(a, 1)).map((d, i) => (d === 0 ? x.shape[i]! : d));
  const known = dims.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const shape = dims.map((d) => (d === -1 ? size(x.shape) / known : d));
  if (size(shape) !== size(x.shape) || !shape.every(Number.isInteger)) ref.fail(a, `cannot reshape [${x.shape}] to [${dims}]`);
  return [withShape(x, shape)];
}

function transposeKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const perm = ref.intsAttr(a, "perm") ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  const shape = perm.map((p) => x.shape[p]!);
  return [
    gatherBy(x, shape, (idx) => {
      const src = new Array<number>(x.shape.length);
      perm.forEach((p, i) => {
        src[p] = idx[i]!;
      });
      return ravel(src, x.shape);
    }),
  ];
}

function squeezeKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const axesIn = ref.optionalInput(a, 1);
  const axes = axesIn ? ref.ints(axesIn).map((v) => axisOf("Squeeze", v, x.shape.length)) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const ax of axes) if (x.shape[ax] !== 1) ref.fail(a, `dimension ${ax} of [${x.shape}] is not 1`);
  return [
    withShape(
      x,
      x.shape.filter((_, i) => !axes.includes(i)),
    ),
  ];
}

function unsqueezeKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const rank = x.shape.length + ref.input(a, 1).data.length;
  const axes = ref.ints(ref.input(a, 1)).map((v) => axisOf("Unsqueeze", v, rank));
  const rest = [...x.shape];
  const shape = Array.from({ length: rank }, (_, i) => (axes.includes(i) ? 1 : rest.shift()!));
  return [withShape(x, shape)];
}

/** Bidirectional broadcast of the input with the requested shape. */
function expandKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const shape = broadcast("Expand", [x.shape, ref.ints(ref.input(a, 1))]);
  return [gatherBy(x, shape, (idx) => broadcastOffset(idx, x.shape))];
}

/** Shape with the optional `start`/`end` attributes (opset 15), clamped like Python slicing. */
function shapeKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const rank = x.shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const dims = x.shape.slice(clamp(ref.numAttr(a, "start", 0)), clamp(ref.numAttr(a, "end", rank)));
  return [makeValue("int64", [dims.length], Float64Array.from(dims))];
}

function constantOfShapeKernel(a: ref.KernelArgs): Value[] {
  const shape = ref.ints(ref.input(a, 0));
  const at = a.node.attrs.value;
  const fill = at?.type === "tensor" ? fromTensorData(at.value) : makeValue("float32", [1]);
  return [makeValue(fill.dtype, shape, new Float64Array(size(shape)).fill(fill.data[0] ?? 0))];
}

// ── the registry entries ──

export const shapeOps: readonly OpDef[] = [
  {
    onnxType: "Reshape",
    vjp: (a) => [reshapeLike(dy(a), a.inputs[0]!), null],
    reference: reshapeKernel,
    gradcheck: [{ case: "[2,3,2]→[3,4]", inputs: [f("x", [2, 3, 2])], build: (_b, i) => reshape(i.x!, [3, -1]) }],
  },
  {
    onnxType: "Transpose",
    vjp: (a) => {
      const perm = intsAttr(a.node.attrs, "perm") ?? a.inputs[0]!.shape.map((_, i, s) => s.length - 1 - i);
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return [op.transpose(dy(a), inverse)];
    },
    reference: transposeKernel,
    gradcheck: [{ case: "perm [2,0,1]", inputs: [f("x", [2, 3, 4])], build: (_b, i) => transpose(i.x!, [2, 0, 1]) }],
  },
  {
    onnxType: "Squeeze",
    vjp: (a) => [reshapeLike(dy(a), a.inputs[0]!), null],
    reference: squeezeKernel,
    gradcheck: [{ case: "axis 1", inputs: [f("x", [2, 1, 3])], build: (_b, i) => squeeze(i.x!, [1]) }],
  },
  {
    onnxType: "Unsqueeze",
    vjp: (a) => [reshapeLike(dy(a), a.inputs[0]!), null],
    reference: unsqueezeKernel,
    gradcheck: [{ case: "axes 0,-1", inputs: [f("x", [2, 3])], build: (_b, i) => unsqueeze(i.x!, [0, -1]) }],
  },
  {
    onnxType: "Expand",
    vjp: (a) => [unbroadcast(dy(a), a.inputs[0]!.shape), null],
    reference: expandKernel,
    gradcheck: [{ case: "[3,1]→[2,3,4]", inputs: [f("x", [3, 1])], build: (_b, i) => expand(i.x!, [2, 3, 4]) }],
  },
  // Shape arguments computed at run time: integer results, no gradient.
  { onnxType: "Shape", reference: shapeKernel },
  { onnxType: "ConstantOfShape", reference: constantOfShapeKernel },
];
