// Index arithmetic shared by the kernels: row-major strides, flat index ↔ multi-index, and numpy broadcasting.
// Kernels loop over output multi-indices and map them to input offsets; slow, but each step is easy to check.

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The multi-index of flat position `flat` in a row-major tensor of `shape`. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    idx[i] = flat % d;
    flat = Math.floor(flat / d);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let i = 0; i < shape.length; i++) flat = flat * shape[i]! + idx[i]!;
  return flat;
}

/** Numpy broadcasting of concrete shapes. */
export function broadcast(op: string, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1 || d === dim) continue;
      if (dim === 1) dim = d;
      else throw new Error(`reference ${op}: shapes ${shapes.map((x) => `[${x.join(", ")}]`).join(" and ")} do not broadcast`);
    }
    out.push(dim);
  }
  return out;
}

/**
 * Offset into a tensor of shape `from` for the multi-index `outIdx` of a broadcast result: leading result axes are
 * dropped, and axes where `from` has size 1 read index 0.
 */
export function broadcastOffset(outIdx: readonly number[], from: readonly number[]): number {
  const lead = outIdx.length - from.length;
  let flat = 0;
  for (let i = 0; i < from.length; i++) {
    const d = from[i]!;
    flat = flat * d + (d === 1 ? 0 : outIdx[lead + i]!);
  }
  return flat;
}

/** Normalises a possibly negative axis. */
export function axisOf(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`reference ${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/**
 * Partitions the flat positions of a tensor of `shape` by their index outside `axes`: group g lists, in row-major
 * order, the positions that a reduction over `axes` combines into element g of the keepdims result.
 */
export function groups(shape: readonly number[], axes: readonly number[]): number[][] {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out: number[][] = Array.from({ length: size(kept) }, () => []);
  for (let f = 0; f < size(shape); f++) {
    const idx = unravel(f, shape).map((v, i) => (axes.includes(i) ? 0 : v));
    out[ravel(idx, kept)]!.push(f);
  }
  return out;
}
