// Indexing kernels: Gather, GatherElements, ScatterElements, ScatterND, OneHot. Negative indices count from the
// end of their axis; an out-of-range index is an error (ORT rejects it too), except in OneHot where it selects
// nothing, as the ONNX spec says.
import { input, type Kernel, type KernelArgs, numAttr, strAttr } from "../kernel.ts";
import { axisOf, ravel, size, unravel } from "../strided.ts";
import { makeValue, type Value } from "../value.ts";

function index(a: KernelArgs, v: number, dim: number): number {
  const i = v < 0 ? v + dim : v;
  if (i < 0 || i >= dim) throw new Error(`reference ${a.node.op} (node ${a.node.name}): index ${v} is out of range for a dimension of size ${dim}`);
  return i;
}

/** out[i₀…, j…, k…] = data[i₀…, indices[j…], k…] along `axis`. */
function gather(a: KernelArgs): Value[] {
  const data = input(a, 0);
  const indices = input(a, 1);
  const axis = axisOf("Gather", numAttr(a, "axis", 0), data.shape.length);
  const q = indices.shape.length;
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const out = makeValue(data.dtype, shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, shape);
    const j = indices.data[ravel(idx.slice(axis, axis + q), indices.shape)]!;
    const src = [...idx.slice(0, axis), index(a, j, data.shape[axis]!), ...idx.slice(axis + q)];
    out.data[i] = data.data[ravel(src, data.shape)]!;
  }
  return [out];
}

/** out[idx] = data[idx with idx[axis] replaced by indices[idx]]. */
function gatherElements(a: KernelArgs): Value[] {
  const data = input(a, 0);
  const indices = input(a, 1);
  const axis = axisOf("GatherElements", numAttr(a, "axis", 0), data.shape.length);
  const out = makeValue(data.dtype, indices.shape);
  for (let i = 0; i < out.data.length; i++) {
    const idx = unravel(i, indices.shape);
    idx[axis] = index(a, indices.data[i]!, data.shape[axis]!);
    out.data[i] = data.data[ravel(idx, data.shape)]!;
  }
  return [out];
}

function combiner(a: KernelArgs): (old: number, update: number) => number {
  const reduction = strAttr(a, "reduction", "none");
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
function scatterElements(a: KernelArgs): Value[] {
  const data = input(a, 0);
  const indices = input(a, 1);
  const updates = input(a, 2);
  const axis = axisOf("ScatterElements", numAttr(a, "axis", 0), data.shape.length);
  const combine = combiner(a);
  const out = makeValue(data.dtype, data.shape, data.data.slice());
  for (let i = 0; i < indices.data.length; i++) {
    const idx = unravel(i, indices.shape);
    idx[axis] = index(a, indices.data[i]!, data.shape[axis]!);
    const at = ravel(idx, data.shape);
    out.data[at] = combine(out.data[at]!, updates.data[i]!);
  }
  return [out];
}

/** indices [..., k] address the first k axes of data; each update is the slice data[index] of the remaining axes. */
function scatterND(a: KernelArgs): Value[] {
  const data = input(a, 0);
  const indices = input(a, 1);
  const updates = input(a, 2);
  const combine = combiner(a);
  const k = indices.shape[indices.shape.length - 1]!;
  const sliceShape = data.shape.slice(k);
  const sliceSize = size(sliceShape);
  const out = makeValue(data.dtype, data.shape, data.data.slice());
  const count = size(indices.shape.slice(0, -1));
  for (let u = 0; u < count; u++) {
    const prefix = Array.from({ length: k }, (_, j) => index(a, indices.data[u * k + j]!, data.shape[j]!));
    for (let s = 0; s < sliceSize; s++) {
      const at = ravel([...prefix, ...unravel(s, sliceShape)], data.shape);
      out.data[at] = combine(out.data[at]!, updates.data[u * sliceSize + s]!);
    }
  }
  return [out];
}

/** A new axis (default last) of size depth: values[1] where it equals the index (negative ones wrap), else values[0]. */
function oneHot(a: KernelArgs): Value[] {
  const indices = input(a, 0);
  const depth = input(a, 1).data[0]!;
  const values = input(a, 2);
  const [off, on] = [values.data[0]!, values.data[1]!];
  const rank = indices.shape.length + 1;
  const axis = axisOf("OneHot", numAttr(a, "axis", -1), rank);
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

export const gatherKernels: Record<string, Kernel> = {
  Gather: gather,
  GatherElements: gatherElements,
  ScatterElements: scatterElements,
  ScatterND: scatterND,
  OneHot: oneHot,
};
