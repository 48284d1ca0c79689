// Reductions (opset 18 form: axes as an int64 input), ArgMax, TopK, and the running sum CumSum; also `unbroadcast`,
// the reduction that undoes broadcasting in gradients. Reduction kernels work on "groups": the positions that combine
// into one result element (reference/strided.ts).
import { initializerValues } from "../autodiff/constants.ts";
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import { isFloat } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { type Dim, normAxis, type Shape, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { axisOf, groups } from "../reference/strided.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { int, intAttr } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type OpDef } from "./op-def.ts";
import { expandLike } from "./shape-ops.ts";
import { inKernelDtype } from "./unary.ts";

// ── constructors ──

export type ReduceOp = "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceLogSumExp" | "ReduceProd" | "ReduceSumSquare";

export function reducedShape(opType: string, shape: readonly Dim[], axes: readonly number[], keepdims: boolean): { axes: number[]; shape: Dim[] } {
  const norm = [...new Set(axes.map((a) => normAxis(opType, a, shape.length)))].sort((x, y) => x - y);
  const result: Dim[] = [];
  shape.forEach((d, i) => {
    if (!norm.includes(i)) result.push(d);
    else if (keepdims) result.push(1);
  });
  return { axes: norm, shape: result };
}

/** Reduces over `axes` (all axes when omitted). */
export function reduce(opType: ReduceOp, x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  if (!isFloat(x.dtype) && opType !== "ReduceSum" && opType !== "ReduceMax" && opType !== "ReduceMin")
    throw new ShapeError(`${opType}: needs a floating-point input, got ${x.dtype}`);
  const all = axes ?? x.shape.map((_, i) => i);
  const r = reducedShape(opType, x.shape, all, keepdims);
  if (r.axes.length === 0) return x;
  return inKernelDtype(opType, x, (y) => {
    const b = builderOf(y);
    return b.emit(opType, [y, b.tensor("int64", r.axes)], [{ dtype: y.dtype, shape: r.shape }], { keepdims: int(keepdims ? 1 : 0) })[0]!;
  });
}

export const reduceSum = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceSum", x, axes, keepdims);
export const reduceMean = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceMean", x, axes, keepdims);
export const reduceMax = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceMax", x, axes, keepdims);
export const reduceMin = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceMin", x, axes, keepdims);
export const reduceLogSumExp = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceLogSumExp", x, axes, keepdims);
/** Σ x² over `axes`: one kernel where Mul + ReduceSum would be two (gradient norms). */
export const reduceSumSquare = (x: Tensor, axes?: readonly number[], keepdims = false) => reduce("ReduceSumSquare", x, axes, keepdims);

/** Sums `g` over the axes that broadcasting added or stretched, so it gets `target`'s shape (gradients of broadcasts). */
export function unbroadcast(g: Tensor, target: Shape): Tensor {
  const lead = g.rank - target.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (target[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  // Only leading axes: one ReduceSum that drops them (keepdims 0) instead of a ReduceSum and a Squeeze.
  if (lead > 0 && axes.length === lead) return reduceSum(g, axes, false);
  let result = axes.length ? reduceSum(g, axes, true) : g;
  if (lead > 0)
    result = op.squeeze(
      result,
      Array.from({ length: lead }, (_, i) => i),
    );
  return result;
}

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

export function cumSum(x: Tensor, axis: number, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
  const a = normAxis("CumSum", axis, x.rank);
  const b = builderOf(x);
  const attrs = { exclusive: int(options.exclusive ? 1 : 0), reverse: int(options.reverse ? 1 : 0) };
  return b.emit("CumSum", [x, b.tensor("int64", a)], [{ dtype: x.dtype, shape: x.shape }], attrs)[0]!;
}

// ── VJP helpers: bring the gradient back to the input's shape (keepdims, then expand) ──

/** Re-inserts reduced axes (as size 1) into a gradient of a reduction that had keepdims = 0. */
function keepDims(g: Tensor, axes: readonly number[], keepdims: boolean): Tensor {
  return keepdims || axes.length === 0 ? g : op.unsqueeze(g, axes);
}

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

// ── reference kernels ──

type Fold = (xs: number[]) => number;

const total = (xs: number[]) => xs.reduce((p, q) => p + q, 0);

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  if (!Number.isFinite(m)) return m; // all −∞ (or a +∞/NaN present): the naive formula gives the same
  return m + Math.log(total(xs.map((x) => Math.exp(x - m))));
}

/** Empty or absent axes reduce everything, unless noop_with_empty_axes = 1 (then the input passes through). */
function reductionKernel(fold: Fold): ref.Kernel {
  return (a) => {
    const x = ref.input(a, 0);
    const axesIn = ref.optionalInput(a, 1);
    const given = axesIn ? ref.ints(axesIn) : [];
    if (given.length === 0 && ref.numAttr(a, "noop_with_empty_axes", 0) === 1) return [x];
    const rank = x.shape.length;
    const axes = given.length ? given.map((v) => axisOf(a.node.op, v, rank)) : x.shape.map((_, i) => i);
    const keep = ref.numAttr(a, "keepdims", 1) === 1;
    const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
    const parts = groups(x.shape, axes);
    return [
      makeValue(
        x.dtype,
        shape,
        Float64Array.from(parts, (g) => fold(g.map((p) => x.data[p]!))),
      ),
    ];
  };
}

/** Index of the first maximum (the last with select_last_index = 1). */
function argMaxKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const axis = axisOf("ArgMax", ref.numAttr(a, "axis", 0), x.shape.length);
  const last = ref.numAttr(a, "select_last_index", 0) === 1;
  const keep = ref.numAttr(a, "keepdims", 1) === 1;
  const shape = x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d]));
  const data = Float64Array.from(groups(x.shape, [axis]), (lane) => {
    let best = 0;
    lane.forEach((p, k) => {
      const v = x.data[p]!;
      const b = x.data[lane[best]!]!;
      if (v > b || (last && v === b)) best = k;
    });
    return best;
  });
  return [makeValue("int64", shape, data)];
}

/** The k largest (or smallest) along `axis`, sorted; equal values keep their index order, as in ORT. */
function topKKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const k = ref.input(a, 1).data[0]!;
  const axis = axisOf("TopK", ref.numAttr(a, "axis", -1), x.shape.length);
  const largest = ref.numAttr(a, "largest", 1) === 1;
  const shape = x.shape.map((d, i) => (i === axis ? k : d));
  const values = makeValue(x.dtype, shape);
  const indices = makeValue("int64", shape);
  const outLanes = groups(shape, [axis]);
  groups(x.shape, [axis]).forEach((lane, g) => {
    const order = lane
      .map((_, j) => j)
      .sort((p, q) => {
        const [vp, vq] = [x.data[lane[p]!]!, x.data[lane[q]!]!];
        return vp === vq ? p - q : largest ? vq - vp : vp - vq;
      });
    outLanes[g]!.forEach((at, j) => {
      values.data[at] = x.data[lane[order[j]!]!]!;
      indices.data[at] = order[j]!;
    });
  });
  return [values, indices];
}

/** Running sums along the axis; exclusive leaves out the current element, reverse runs from the end. */
function cumSumKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const axis = axisOf("CumSum", ref.input(a, 1).data[0]!, x.shape.length);
  const exclusive = ref.numAttr(a, "exclusive", 0) === 1;
  const reverse = ref.numAttr(a, "reverse", 0) === 1;
  const result = makeValue(x.dtype, x.shape);
  for (const lane of groups(x.shape, [axis])) {
    const order = reverse ? [...lane].reverse() : lane;
    let running = 0;
    for (const p of order) {
      if (exclusive) {
        result.data[p] = running;
        running += x.data[p]!;
      } else {
        running += x.data[p]!;
        result.data[p] = running;
      }
    }
  }
  return [result];
}

// ── the registry entries ──

export const reduceOps: readonly OpDef[] = [
  {
    onnxType: "ReduceSum",
    vjp: (a) => {
      const r = reduction(a);
      return [expandLike(r.g, r.x), null];
    },
    reference: reductionKernel(total),
    gradcheck: [
      { case: "axis 1", inputs: [f("x", [2, 3, 2])], build: (_b, i) => reduceSum(i.x!, [1]) },
      { case: "axes 0,2 keepdims", inputs: [f("x", [2, 3, 2])], build: (_b, i) => reduceSum(i.x!, [0, 2], true) },
      { case: "all", inputs: [f("x", [2, 3])], build: (_b, i) => reduceSum(i.x!) },
    ],
  },
  {
    onnxType: "ReduceSumSquare",
    // d Σx² / dx = 2x
    vjp: (a) => {
      const r = reduction(a);
      return [op.mul(expandLike(r.g, r.x), op.mul(r.x, 2)), null];
    },
    reference: reductionKernel((xs) => total(xs.map((x) => x * x))),
    gradcheck: [
      { case: "axis 1", inputs: [f("x", [2, 3, 2])], build: (_b, i) => reduceSumSquare(i.x!, [1]) },
      { case: "all", inputs: [f("x", [2, 3])], build: (_b, i) => reduceSumSquare(i.x!) },
    ],
  },
  {
    onnxType: "ReduceMean",
    vjp: (a) => {
      const r = reduction(a);
      return [expandLike(op.div(r.g, count(r.x, r.axes)), r.x), null];
    },
    reference: reductionKernel((xs) => total(xs) / xs.length),
    gradcheck: [
      { case: "axis -1", inputs: [f("x", [2, 3])], build: (_b, i) => reduceMean(i.x!, [-1]) },
      { case: "axis 0 keepdims", inputs: [f("x", [2, 3])], build: (_b, i) => reduceMean(i.x!, [0], true) },
    ],
  },
  {
    onnxType: "ReduceMax",
    // The maximum's gradient is shared equally among tied maxima.
    vjp: (a) => {
      const r = reduction(a);
      const mask = op.cast(op.equal(r.x, r.y), r.x.dtype);
      const ties = op.reduceSum(mask, r.axes, true);
      return [op.mul(mask, op.div(r.g, ties)), null];
    },
    reference: reductionKernel((xs) => Math.max(...xs)),
    gradcheck: [
      { case: "axis 1", inputs: [f("x", [2, 3])], build: (_b, i) => reduceMax(i.x!, [1]) },
      { case: "axis 0 keepdims", inputs: [f("x", [3, 2])], build: (_b, i) => reduceMax(i.x!, [0], true) },
    ],
  },
  {
    onnxType: "ReduceLogSumExp",
    vjp: (a) => {
      const r = reduction(a);
      return [op.mul(r.g, op.exp(op.sub(r.x, r.y))), null];
    },
    reference: reductionKernel(logSumExp),
    gradcheck: [
      { case: "axis 1", inputs: [f("x", [2, 3])], build: (_b, i) => reduceLogSumExp(i.x!, [1]) },
      { case: "axis 0 keepdims", inputs: [f("x", [2, 3])], build: (_b, i) => reduceLogSumExp(i.x!, [0], true) },
    ],
  },
  { onnxType: "ReduceMin", reference: reductionKernel((xs) => Math.min(...xs)) },
  { onnxType: "ReduceProd", reference: reductionKernel((xs) => xs.reduce((p, q) => p * q, 1)) },
  {
    onnxType: "CumSum",
    vjp: (a) => {
      const axis = initializerValues(a.inputs[1]!, "CumSum")[0]!;
      const exclusive = intAttr(a.node.attrs, "exclusive", 0) === 1;
      const reverse = intAttr(a.node.attrs, "reverse", 0) === 1;
      return [op.cumSum(dy(a), axis, { exclusive, reverse: !reverse }), null];
    },
    reference: cumSumKernel,
    gradcheck: [
      { case: "axis 1", inputs: [f("x", [2, 4])], build: (_b, i) => cumSum(i.x!, 1) },
      { case: "exclusive reverse", inputs: [f("x", [2, 4])], build: (_b, i) => cumSum(i.x!, 1, { exclusive: true, reverse: true }) },
    ],
  },
  // Integer results: no gradient.
  { onnxType: "ArgMax", reference: argMaxKernel },
  { onnxType: "TopK", reference: topKKernel },
];
