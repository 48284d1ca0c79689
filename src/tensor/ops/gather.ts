// Indexing ops: Gather (embedding lookup), GatherElements, ScatterElements, ScatterND, OneHot. Negative indices count
// from the end of their axis; in the reference kernels an out-of-range index is an error (ORT rejects it too), except
// in OneHot where it selects nothing, as the ONNX spec says.
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import type { DType } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { normAxis, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { axisOf, ravel, size, unravel } from "../reference/strided.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { int, intAttr, str } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type OpDef } from "./op-def.ts";
import { zerosLike } from "./shape-ops.ts";

// ── constructors ──

function checkIndices(opType: string, indices: Tensor): void {
  if (indices.dtype !== "int64" && indices.dtype !== "int32") throw new ShapeError(`${opType}: indices must be int64 or int32, got ${indices.dtype}`);
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

// ── VJP ──

/**
 * Tables of at least this many rows get their gradient by ScatterND-add instead of OneHot + MatMul: the one-hot matrix
 * is [lookups, rows] — 1,024 tokens of a 151,936-token vocabulary make 0.6 GB — while the scatter writes [rows, width]
 * once. The one-hot product is deterministic on every provider; CUDA's ScatterND-add sums repeated rows with atomics,
 * so large-vocabulary embedding gradients are not bit-reproducible there (they are on the CPU). TinyVLM's vocabularies
 * and the test fixtures stay below it.
 */
export const SCATTER_GRADIENT_ROWS = 8192;

/** Embedding lookup (axis 0 only): the gradient scatters each looked-up row's gradient back, summing repeats. */
function gatherVjp(a: VjpArgs): (Tensor | null)[] {
  const [data, indices] = [a.inputs[0]!, a.inputs[1]!];
  if (intAttr(a.node.attrs, "axis", 0) !== 0) throw new ShapeError("autodiff: Gather has a gradient rule for axis 0 only");
  const rows = data.shape[0];
  if (typeof rows !== "number") throw new ShapeError("autodiff: Gather from a table with a named first dimension");
  const rest = data.shape.slice(1);
  const flatIdx = op.reshape(indices, [-1]);
  const width = rest.reduce<number>((p, d) => p * (d as number), 1);
  const g = op.reshape(dy(a), [-1, width]);
  if (rows >= SCATTER_GRADIENT_ROWS) {
    // Negative ids count from the end, as Gather's do; ScatterND takes them too. ORT's CUDA ScatterND has no bfloat16
    // kernel, so a bfloat16 gradient is summed in float32 (more exact too) and cast back.
    const sumIn = data.dtype === "bfloat16" ? "float32" : data.dtype;
    const updates = sumIn === g.dtype ? g : op.cast(g, sumIn);
    const summed = op.scatterND(op.full(g, [rows, width], 0, sumIn), op.unsqueeze(flatIdx, [1]), updates, "add");
    const table = summed.dtype === data.dtype ? summed : op.cast(summed, data.dtype);
    return [op.reshape(table, data.shape), null];
  }
  // ONNX's OneHot schema has no bfloat16 values (ORT refuses such a model): make it in float32 and cast (exact: 0s and 1s).
  const hot = data.dtype === "bfloat16" ? op.cast(op.oneHot(flatIdx, rows, "float32"), "bfloat16") : op.oneHot(flatIdx, rows, data.dtype);
  const table = op.matmul(op.transpose(hot), g);
  return [op.reshape(table, data.shape), null];
}

// ── reference kernels ──

function checkedIndex(a: ref.KernelArgs, v: number, dim: number): number {
  const i = v < 0 ? v + dim : v;
  if (i < 0 || i >= dim) throw new Error(`reference ${a.node.op} (node ${a.node.name}): index ${v} is out of range for a dimension of size ${dim}`);
  return i;
}

/** out[i₀…, j…, k…] = data[i₀…, indices[j…], k…] along `axis`. */
function gatherKernel(a: ref.KernelArgs): Value[] {
  const data = ref.input(a, 0);
  const indices = ref.input(a, 1);
  const axis = axisOf("Gather", ref.numAttr(a, "axis", 0), data.shape.length);
  const q = indices.shape.length;
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const out = makeValue(data.dtype, shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, shape);
    const j = indices.data[ravel(idx.slice(axis, axis + q), indices.shape)]!;
    const src = [...idx.slice(0, axis), checkedIndex(a, j, data.shape[axis]!), ...idx.slice(axis + q)];
    out.data[i] = data.data[ravel(src, data.shape)]!;
  }
  return [out];
}

/** out[idx] = data[idx with idx[axis] replaced by indices[idx]]. */
function gatherElementsKernel(a: ref.KernelArgs): Value[] {
  const data = ref.input(a, 0);
  const indices = ref.input(a, 1);
  const axis = axisOf("GatherElements", ref.numAttr(a, "axis", 0), data.shape.length);
  const out = makeValue(data.dtype, indices.shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, indices.shape);
    idx[axis] = checkedIndex(a, indices.data[i]!, data.shape[axis]!);
    out.data[i] = data.data[ravel(idx, data.shape)]!;
  }
  return [out];
}

function combiner(a: ref.KernelArgs): (old: number, update: number) => number {
  const reduction = ref.strAttr(a, "reduction", "none");
  switch (reduction) {
    case "none":
      return (_, u) => u;
    case "add":
      return (o, u) => o + u;
    case "mul":
      return (o, u) => o * u;
    case "max":
      return Math.max;
    case "min":
      return Math.min;
    default:
      throw new Error(`reference ${a.node.op}: unknown reduction ${reduction}`);
  }
}

/** A copy of data with data[idx with idx[axis] = indices[idx]] combined with updates[idx], in index order. */
function scatterElementsKernel(a: ref.KernelArgs): Value[] {
  const data = ref.input(a, 0);
  const indices = ref.input(a, 1);
  const updates = ref.input(a, 2);
  const axis = axisOf("ScatterElements", ref.numAttr(a, "axis", 0), data.shape.length);
  const combine = combiner(a);
  const out = makeValue(data.dtype, data.shape, data.data.slice());
  for (let i = 0; i < indices.data.length; i++) {
    const idx = unravel(i, indices.shape);
    idx[axis] = checkedIndex(a, indices.data[i]!, data.shape[axis]!);
    const at = ravel(idx, data.shape);
    out.data[at] = combine(out.data[at]!, updates.data[i]!);
  }
  return [out];
}

/** indices [..., k] address the first k axes of data; each update is the slice data[index] of the remaining axes. */
function scatterNDKernel(a: ref.KernelArgs): Value[] {
  const data = ref.input(a, 0);
  const indices = ref.input(a, 1);
  const updates = ref.input(a, 2);
  const combine = combiner(a);
  const k = indices.shape[indices.shape.length - 1]!;
  const sliceShape = data.shape.slice(k);
  const sliceSize = size(sliceShape);
  const out = makeValue(data.dtype, data.shape, data.data.slice());
  const count = size(indices.shape.slice(0, -1));
  for (let u = 0; u < count; u++) {
    const prefix = Array.from({ length: k }, (_, j) => checkedIndex(a, indices.data[u * k + j]!, data.shape[j]!));
    for (let s = 0; s < sliceSize; s++) {
      const at = ravel([...prefix, ...unravel(s, sliceShape)], data.shape);
      out.data[at] = combine(out.data[at]!, updates.data[u * sliceSize + s]!);
    }
  }
  return [out];
}

/** A new axis (default last) of size depth: values[1] where it equals the index (negative ones wrap), else values[0]. */
function oneHotKernel(a: ref.KernelArgs): Value[] {
  const indices = ref.input(a, 0);
  const depth = ref.input(a, 1).data[0]!;
  const values = ref.input(a, 2);
  const [off, on] = [values.data[0]!, values.data[1]!];
  const rank = indices.shape.length + 1;
  const axis = axisOf("OneHot", ref.numAttr(a, "axis", -1), rank);
  const shape = [...indices.shape.slice(0, axis), depth, ...indices.shape.slice(axis)];
  const out = makeValue(values.dtype, shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, shape);
    const position = idx[axis]!;
    idx.splice(axis, 1);
    const raw = indices.data[ravel(idx, indices.shape)]!;
    const hot = raw < 0 ? raw + depth : raw;
    out.data[i] = hot === position ? on : off;
  }
  return [out];
}

// ── the registry entries ──

export const gatherOps: readonly OpDef[] = [
  {
    onnxType: "Gather",
    vjp: gatherVjp,
    reference: gatherKernel,
    gradcheck: [
      {
        case: "embedding rows with repeats",
        inputs: [f("table", [5, 3]), { name: "ids", shape: [2, 3], kind: "int", values: [0, 4, 4, 1, 0, 2] }],
        build: (_b, i) => gather(i.table!, i.ids!, 0),
      },
    ],
  },
  {
    onnxType: "GatherElements",
    vjp: (a) => {
      const [data, indices] = [a.inputs[0]!, a.inputs[1]!];
      const axis = intAttr(a.node.attrs, "axis", 0);
      return [op.scatterElements(zerosLike(data), indices, dy(a), axis, "add"), null];
    },
    reference: gatherElementsKernel,
    gradcheck: [
      {
        case: "axis 1",
        inputs: [f("x", [2, 4]), { name: "idx", shape: [2, 3], kind: "int", values: [0, 3, 3, 1, 1, 2] }],
        build: (_b, i) => gatherElements(i.x!, i.idx!, 1),
      },
    ],
  },
  // No gradient rules: no model differentiates through these.
  { onnxType: "ScatterElements", reference: scatterElementsKernel },
  { onnxType: "ScatterND", reference: scatterNDKernel },
  { onnxType: "OneHot", reference: oneHotKernel },
];
