// Reductions (opset 18: axes as an input), ArgMax, TopK and CumSum. Each works on "groups": the positions that
// combine into one result element (strided.ts).
import { input, ints, type Kernel, type KernelArgs, numAttr, optionalInput } from "../kernel.ts";
import { axisOf, groups } from "../strided.ts";
import { makeValue, type Value } from "../value.ts";

type Fold = (xs: number[]) => number;

const total = (xs: number[]) => xs.reduce((p, q) => p + q, 0);

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  if (!Number.isFinite(m)) return m; // all −∞ (or a +∞/NaN present): the naive formula gives the same
  return m + Math.log(total(xs.map((x) => Math.exp(x - m))));
}

/** Empty or absent axes reduce everything, unless noop_with_empty_axes = 1 (then the input passes through). */
function reduction(fold: Fold): Kernel {
  return (a) => {
    const x = input(a, 0);
    const axesIn = optionalInput(a, 1);
    const given = axesIn ? ints(axesIn) : [];
    if (given.length === 0 && numAttr(a, "noop_with_empty_axes", 0) === 1) return [x];
    const rank = x.shape.length;
    const axes = given.length ? given.map((v) => axisOf(a.node.op, v, rank)) : x.shape.map((_, i) => i);
    const keep = numAttr(a, "keepdims", 1) === 1;
    const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
    const parts = groups(x.shape, axes);
    return [
      makeValue(
        x.dtype,
        shape,
        Float64Array.from(parts, (g) => fold(g.map((f) => x.data[f]!))),
      ),
    ];
  };
}

/** Index of the first maximum (the last with select_last_index = 1). */
function argMax(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const axis = axisOf("ArgMax", numAttr(a, "axis", 0), x.shape.length);
  const last = numAttr(a, "select_last_index", 0) === 1;
  const keep = numAttr(a, "keepdims", 1) === 1;
  const shape = x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d]));
  const data = Float64Array.from(groups(x.shape, [axis]), (lane) => {
    let best = 0;
    lane.forEach((f, k) => {
      const v = x.data[f]!;
      const b = x.data[lane[best]!]!;
      if (v > b || (last && v === b)) best = k;
    });
    return best;
  });
  return [makeValue("int64", shape, data)];
}

/** The k largest (or smallest) along `axis`, sorted; equal values keep their index order, as in ORT. */
function topK(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const k = input(a, 1).data[0]!;
  const axis = axisOf("TopK", numAttr(a, "axis", -1), x.shape.length);
  const largest = numAttr(a, "largest", 1) === 1;
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
    outLanes[g]!.forEach((f, j) => {
      values.data[f] = x.data[lane[order[j]!]!]!;
      indices.data[f] = order[j]!;
    });
  });
  return [values, indices];
}

/** Running sums along the axis; exclusive leaves out the current element, reverse runs from the end. */
function cumSum(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const axis = axisOf("CumSum", input(a, 1).data[0]!, x.shape.length);
  const exclusive = numAttr(a, "exclusive", 0) === 1;
  const reverse = numAttr(a, "reverse", 0) === 1;
  const out = makeValue(x.dtype, x.shape);
  for (const lane of groups(x.shape, [axis])) {
    const order = reverse ? [...lane].reverse() : lane;
    let running = 0;
    for (const f of order) {
      if (exclusive) {
        out.data[f] = running;
        running += x.data[f]!;
      } else {
        running += x.data[f]!;
        out.data[f] = running;
      }
    }
  }
  return [out];
}

export const reduceKernels: Record<string, Kernel> = {
  ReduceSum: reduction(total),
  ReduceMean: reduction((xs) => total(xs) / xs.length),
  ReduceMax: reduction((xs) => Math.max(...xs)),
  ReduceMin: reduction((xs) => Math.min(...xs)),
  ReduceProd: reduction((xs) => xs.reduce((p, q) => p * q, 1)),
  ReduceLogSumExp: reduction(logSumExp),
  ArgMax: argMax,
  TopK: topK,
  CumSum: cumSum,
};
