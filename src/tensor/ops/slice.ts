// Ops that cut, join and pad tensors along axes: Concat, Split, Slice, Pad, and Trilu (which keeps a triangle of the
// last two axes). Each one's gradient is the opposite movement. Shape arguments are folded into int64 constants.
import { initializerValues } from "../autodiff/constants.ts";
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import type { Tensor } from "../ir/graph.ts";
import { type Dim, formatShape, normAxis, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { axisOf, ravel, unravel } from "../reference/strided.ts";
import { gatherBy, makeValue, type Value } from "../reference/value.ts";
import { int, intAttr, str } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type OpDef } from "./op-def.ts";
import { zerosLike } from "./shape-ops.ts";
import { inKernelDtype } from "./unary.ts";

// ── constructors ──

function sumDims(opType: string, dims: readonly Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, c) => a + c, 0);
  throw new ShapeError(`${opType}: the axis must have static sizes, got ${formatShape(dims)}`);
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
  return inKernelDtype("Pad", x, (y) => {
    // A zero fill is Pad's default: leaving the value out keeps a shared scalar 0 from being needed on the host (the
    // CUDA kernel reads the value from host memory) and on the GPU at once, which costs a copy inside loops.
    const inputs = value === 0 ? [y, b.tensor("int64", pads)] : [y, b.tensor("int64", pads), b.tensor(y.dtype, value)];
    return b.emit("Pad", inputs, [{ dtype: y.dtype, shape }], { mode: str("constant") })[0]!;
  });
}

/** Lower (upper = false) or upper triangle of the last two axes, shifted by k. */
export function trilu(x: Tensor, upper: boolean, k = 0): Tensor {
  const b = builderOf(x);
  return b.emit("Trilu", [x, b.tensor("int64", k)], [{ dtype: x.dtype, shape: x.shape }], { upper: int(upper ? 1 : 0) })[0]!;
}

// ── VJP ──

/** Slice with steps of 1 is undone by zero padding; other steps would need a scatter (none of our models use them). */
function sliceVjp(a: VjpArgs): (Tensor | null)[] {
  const x = a.inputs[0]!;
  const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => (a.inputs[i] ? initializerValues(a.inputs[i]!, "Slice") : undefined));
  const ax = (axes ?? starts!.map((_, i) => i)).map((v) => (v < 0 ? v + x.rank : v));
  if (steps?.some((s) => s !== 1)) throw new ShapeError("autodiff: Slice with steps other than 1 has no gradient rule");
  const pads = new Array<number>(2 * x.rank).fill(0);
  ax.forEach((axis, k) => {
    const dim = x.shape[axis];
    if (typeof dim !== "number") throw new ShapeError("autodiff: Slice along a named dimension");
    const norm = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const s = norm(starts![k]!);
    const e = Math.max(norm(ends![k]!), s);
    pads[axis] = s;
    pads[axis + x.rank] = dim - e;
  });
  return [op.pad(dy(a), pads, 0), null, null, null, null];
}

// ── reference kernels ──

function concatKernel(a: ref.KernelArgs): Value[] {
  const xs = a.inputs.map((_, i) => ref.input(a, i));
  const first = xs[0]!;
  const axis = axisOf("Concat", ref.numAttr(a, "axis", 0), first.shape.length);
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
function splitKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const axis = axisOf("Split", ref.numAttr(a, "axis", 0), x.shape.length);
  const sizesIn = ref.optionalInput(a, 1);
  const parts = ref.numAttr(a, "num_outputs", a.node.outputs.length);
  const dim = x.shape[axis]!;
  const chunk = Math.ceil(dim / parts);
  const sizes = sizesIn ? ref.ints(sizesIn) : Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
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
function sliceKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const starts = ref.ints(ref.input(a, 1));
  const ends = ref.ints(ref.input(a, 2));
  const axesIn = ref.optionalInput(a, 3);
  const stepsIn = ref.optionalInput(a, 4);
  const axes = axesIn ? ref.ints(axesIn).map((v) => axisOf("Slice", v, x.shape.length)) : starts.map((_, i) => i);
  const steps = stepsIn ? ref.ints(stepsIn) : starts.map(() => 1);
  const begin = x.shape.map(() => 0);
  const step = x.shape.map(() => 1);
  const shape = [...x.shape];
  axes.forEach((axis, k) => {
    const dim = x.shape[axis]!;
    const st = steps[k]!;
    if (st === 0) ref.fail(a, "step 0");
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
function padKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  if (ref.strAttr(a, "mode", "constant") !== "constant") ref.fail(a, `mode ${ref.strAttr(a, "mode", "")} is not supported`);
  const rank = x.shape.length;
  const given = ref.ints(ref.input(a, 1));
  const value = ref.optionalInput(a, 2)?.data[0] ?? 0;
  const axesIn = ref.optionalInput(a, 3);
  const axes = axesIn ? ref.ints(axesIn).map((v) => axisOf("Pad", v, rank)) : x.shape.map((_, i) => i);
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

/** Keeps elements with j − i ≥ k (upper) or j − i ≤ k (lower) in the last two axes; zeroes the rest. */
function triluKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const k = ref.optionalInput(a, 1)?.data[0] ?? 0;
  const upper = ref.numAttr(a, "upper", 1) === 1;
  const rank = x.shape.length;
  const out = makeValue(x.dtype, x.shape);
  for (let p = 0; p < x.data.length; p++) {
    const idx = unravel(p, x.shape);
    const d = idx[rank - 1]! - idx[rank - 2]!;
    out.data[p] = (upper ? d >= k : d <= k) ? x.data[p]! : 0;
  }
  return [out];
}

// ── the registry entries ──

export const sliceOps: readonly OpDef[] = [
  {
    onnxType: "Concat",
    vjp: (a) => {
      const axis = intAttr(a.node.attrs, "axis", 0);
      const sizes = a.inputs.map((t) => t!.shape[axis]);
      if (!sizes.every((s): s is number => typeof s === "number")) throw new ShapeError("autodiff: Concat along a named dimension");
      return op.split(dy(a), axis, sizes).map((g, i) => (a.needs[i] ? g : null));
    },
    reference: concatKernel,
    gradcheck: [{ case: "axis 1", inputs: [f("x", [2, 3]), f("y", [2, 2])], build: (_b, i) => concat([i.x!, op.exp(i.y!), i.x!], 1) }],
  },
  {
    onnxType: "Split",
    vjp: (a) => {
      const axis = intAttr(a.node.attrs, "axis", 0);
      const parts = a.grads.map((g, i) => g ?? zerosLike(a.outputs[i]!));
      return [op.concat(parts, axis), null];
    },
    reference: splitKernel,
    gradcheck: [
      {
        case: "axis 1, one part unused",
        inputs: [f("x", [2, 5])],
        build: (_b, i) => {
          const [p, , r] = split(i.x!, 1, [2, 1, 2]);
          return op.mul(p!, r!);
        },
      },
    ],
  },
  {
    onnxType: "Slice",
    vjp: sliceVjp,
    reference: sliceKernel,
    gradcheck: [{ case: "negative indices", inputs: [f("x", [3, 4])], build: (_b, i) => slice(i.x!, [1, -3], [3, -1], [0, 1]) }],
  },
  {
    onnxType: "Pad",
    vjp: (a) => {
      const x = a.inputs[0]!;
      const pads = initializerValues(a.inputs[1]!, "Pad");
      const starts = x.shape.map((_, i) => pads[i]!);
      const ends = x.shape.map((d, i) => {
        if (typeof d !== "number") throw new ShapeError("autodiff: Pad along a named dimension");
        return pads[i]! + d;
      });
      return [op.slice(dy(a), starts, ends), null, null];
    },
    reference: padKernel,
    gradcheck: [{ case: "both sides", inputs: [f("x", [2, 3])], build: (_b, i) => pad(i.x!, [1, 0, 0, 2], 0.5) }],
  },
  {
    onnxType: "Trilu",
    vjp: (a) => {
      const k = a.inputs[1] ? initializerValues(a.inputs[1], "Trilu")[0]! : 0;
      return [op.trilu(dy(a), intAttr(a.node.attrs, "upper", 1) === 1, k), null];
    },
    reference: triluKernel,
    gradcheck: [{ case: "lower", inputs: [f("x", [3, 3])], build: (_b, i) => trilu(i.x!, false) }],
  },
];
