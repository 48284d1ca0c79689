// Data-movement kernels: reshape, transpose, squeeze/unsqueeze, concat/split, slice/pad, expand, shape,
// constant-of-shape, trilu.
import { input, ints, intsAttr, type Kernel, type KernelArgs, numAttr, optionalInput, strAttr } from "../kernel.ts";
import { axisOf, broadcast, broadcastOffset, ravel, size, unravel } from "../strided.ts";
import { fromTensorData, makeValue, type Value } from "../value.ts";

const fail = (a: KernelArgs, msg: string): never => {
  throw new Error(`reference ${a.node.op} (node ${a.node.name}): ${msg}`);
};

/** Same data, new shape (row-major order is unchanged). */
const withShape = (x: Value, shape: number[]): Value => ({ dtype: x.dtype, shape, data: x.data.slice() });

/** Builds a value of `shape` by reading, for each output multi-index, the input element `source` names. */
function gatherBy(x: Value, shape: number[], source: (idx: number[]) => number): Value {
  const out = makeValue(x.dtype, shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = x.data[source(unravel(i, shape))]!;
  return out;
}

/** 0 copies the input dimension (allowzero = 0), -1 is inferred from the element count. */
function reshape(a: KernelArgs): Value[] {
  const x = input(a, 0);
  if (numAttr(a, "allowzero", 0) !== 0) fail(a, "allowzero = 1 is not supported");
  const dims = ints(input(a, 1)).map((d, i) => (d === 0 ? x.shape[i]! : d));
  const known = dims.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const shape = dims.map((d) => (d === -1 ? size(x.shape) / known : d));
  if (size(shape) !== size(x.shape) || !shape.every(Number.isInteger)) fail(a, `cannot reshape [${x.shape}] to [${dims}]`);
  return [withShape(x, shape)];
}

function transpose(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const perm = intsAttr(a, "perm") ?? x.shape.map((_, i) => x.shape.length - 1 - i);
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

function squeeze(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const axesIn = optionalInput(a, 1);
  const axes = axesIn ? ints(axesIn).map((v) => axisOf("Squeeze", v, x.shape.length)) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const ax of axes) if (x.shape[ax] !== 1) fail(a, `dimension ${ax} of [${x.shape}] is not 1`);
  return [
    withShape(
      x,
      x.shape.filter((_, i) => !axes.includes(i)),
    ),
  ];
}

function unsqueeze(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const rank = x.shape.length + input(a, 1).data.length;
  const axes = ints(input(a, 1)).map((v) => axisOf("Unsqueeze", v, rank));
  const rest = [...x.shape];
  const shape = Array.from({ length: rank }, (_, i) => (axes.includes(i) ? 1 : rest.shift()!));
  return [withShape(x, shape)];
}

function concat(a: KernelArgs): Value[] {
  const xs = a.inputs.map((_, i) => input(a, i));
  const first = xs[0]!;
  const axis = axisOf("Concat", numAttr(a, "axis", 0), first.shape.length);
  const shape = [...first.shape];
  shape[axis] = xs.reduce((p, x) => p + x.shape[axis]!, 0);
  const out = makeValue(first.dtype, shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, shape);
    let k = 0;
    // Walk past the inputs that lie before this position along the axis.
    while (idx[axis]! >= xs[k]!.shape[axis]!) idx[axis] = idx[axis]! - xs[k++]!.shape[axis]!;
    out.data[i] = xs[k]!.data[ravel(idx, xs[k]!.shape)]!;
  }
  return [out];
}

/** Sizes from the `split` input, else `num_outputs` (or the node's output count) near-equal parts. */
function split(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const axis = axisOf("Split", numAttr(a, "axis", 0), x.shape.length);
  const sizesIn = optionalInput(a, 1);
  const parts = numAttr(a, "num_outputs", a.node.outputs.length);
  const dim = x.shape[axis]!;
  const chunk = Math.ceil(dim / parts);
  const sizes = sizesIn ? ints(sizesIn) : Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  let offset = 0;
  return sizes.map((s) => {
    const shape = x.shape.map((d, i) => (i === axis ? s : d));
    const start = offset;
    offset += s;
    return gatherBy(x, shape, (idx) =>
      ravel(
        idx.map((v, i) => (i === axis ? v + start : v)),
        x.shape,
      ),
    );
  });
}

/** ONNX Slice: negative starts/ends count from the end, then are clamped to the ranges the spec gives. */
function slice(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const starts = ints(input(a, 1));
  const ends = ints(input(a, 2));
  const axesIn = optionalInput(a, 3);
  const stepsIn = optionalInput(a, 4);
  const axes = axesIn ? ints(axesIn).map((v) => axisOf("Slice", v, x.shape.length)) : starts.map((_, i) => i);
  const steps = stepsIn ? ints(stepsIn) : starts.map(() => 1);
  const begin = x.shape.map(() => 0);
  const step = x.shape.map(() => 1);
  const shape = [...x.shape];
  axes.forEach((axis, k) => {
    const dim = x.shape[axis]!;
    const st = steps[k]!;
    if (st === 0) fail(a, "step 0");
    const norm = (v: number) => (v < 0 ? v + dim : v);
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    // The spec's ranges: starts in [0, dim] (step > 0) or [0, dim-1] (step < 0); ends in [0, dim] or [-1, dim-1].
    const s = st > 0 ? clamp(norm(starts[k]!), 0, dim) : clamp(norm(starts[k]!), 0, dim - 1);
    const e = st > 0 ? clamp(norm(ends[k]!), 0, dim) : clamp(norm(ends[k]!), -1, dim - 1);
    begin[axis] = s;
    step[axis] = st;
    shape[axis] = Math.max(0, Math.ceil((e - s) / st));
  });
  return [
    gatherBy(x, shape, (idx) =>
      ravel(
        idx.map((v, i) => begin[i]! + v * step[i]!),
        x.shape,
      ),
    ),
  ];
}

/** Constant padding; negative pads crop. `axes` (opset 18) restricts which axes `pads` refers to. */
function pad(a: KernelArgs): Value[] {
  const x = input(a, 0);
  if (strAttr(a, "mode", "constant") !== "constant") fail(a, `mode ${strAttr(a, "mode", "")} is not supported`);
  const rank = x.shape.length;
  const given = ints(input(a, 1));
  const value = optionalInput(a, 2)?.data[0] ?? 0;
  const axesIn = optionalInput(a, 3);
  const axes = axesIn ? ints(axesIn).map((v) => axisOf("Pad", v, rank)) : x.shape.map((_, i) => i);
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  axes.forEach((axis, k) => {
    before[axis] = given[k]!;
    after[axis] = given[k + axes.length]!;
  });
  const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const out = makeValue(x.dtype, shape);
  for (let i = 0; i < out.data.length; i++) {
    const src = unravel(i, shape).map((v, j) => v - before[j]!);
    const inside = src.every((v, j) => v >= 0 && v < x.shape[j]!);
    out.data[i] = inside ? x.data[ravel(src, x.shape)]! : value;
  }
  return [out];
}

/** Bidirectional broadcast of the input with the requested shape. */
function expand(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const shape = broadcast("Expand", [x.shape, ints(input(a, 1))]);
  return [gatherBy(x, shape, (idx) => broadcastOffset(idx, x.shape))];
}

/** Shape with the optional `start`/`end` attributes (opset 15), clamped like Python slicing. */
function shapeOp(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const rank = x.shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const dims = x.shape.slice(clamp(numAttr(a, "start", 0)), clamp(numAttr(a, "end", rank)));
  return [makeValue("int64", [dims.length], Float64Array.from(dims))];
}

function constantOfShape(a: KernelArgs): Value[] {
  const shape = ints(input(a, 0));
  const at = a.node.attrs.value;
  const fill = at?.type === "tensor" ? fromTensorData(at.value) : makeValue("float32", [1]);
  return [makeValue(fill.dtype, shape, new Float64Array(size(shape)).fill(fill.data[0] ?? 0))];
}

/** Keeps elements with j − i ≥ k (upper) or j − i ≤ k (lower) in the last two axes; zeroes the rest. */
function trilu(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const k = optionalInput(a, 1)?.data[0] ?? 0;
  const upper = numAttr(a, "upper", 1) === 1;
  const rank = x.shape.length;
  const out = makeValue(x.dtype, x.shape);
  for (let f = 0; f < x.data.length; f++) {
    const idx = unravel(f, x.shape);
    const d = idx[rank - 1]! - idx[rank - 2]!;
    out.data[f] = (upper ? d >= k : d <= k) ? x.data[f]! : 0;
  }
  return [out];
}

export const shapeKernels: Record<string, Kernel> = {
  Reshape: reshape,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Expand: expand,
  Shape: shapeOp,
  ConstantOfShape: constantOfShape,
  Trilu: trilu,
};
