// Softmax, LogSoftmax (opset 13: along one axis) and LayerNormalization (opset 17).
import { input, type Kernel, type KernelArgs, numAttr, optionalInput } from "../kernel.ts";
import { axisOf, broadcastOffset, groups, unravel } from "../strided.ts";
import { makeValue, type Value } from "../value.ts";

/** Applies `f` to each lane along the `axis` attribute (values in, values out, same order). */
function perLane(a: KernelArgs, f: (xs: number[]) => number[]): Value[] {
  const x = input(a, 0);
  const axis = axisOf(a.node.op, numAttr(a, "axis", -1), x.shape.length);
  const out = makeValue(x.dtype, x.shape);
  for (const lane of groups(x.shape, [axis])) {
    const ys = f(lane.map((p) => x.data[p]!));
    lane.forEach((p, k) => {
      out.data[p] = ys[k]!;
    });
  }
  return [out];
}

/** Shifted by the maximum so exp never overflows. */
function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((p, q) => p + q, 0);
  return e.map((v) => v / s);
}

function logSoftmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const lse = Math.log(xs.reduce((p, x) => p + Math.exp(x - m), 0));
  return xs.map((x) => x - m - lse);
}

/** Normalises over the axes from `axis` on (population variance); optional outputs Mean and InvStdDev. */
function layerNorm(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const scale = input(a, 1);
  const bias = optionalInput(a, 2);
  const rank = x.shape.length;
  const axis = axisOf("LayerNormalization", numAttr(a, "axis", -1), rank);
  const eps = numAttr(a, "epsilon", 1e-5);
  const normAxes = x.shape.map((_, i) => i).filter((i) => i >= axis);
  const statShape = x.shape.map((d, i) => (i >= axis ? 1 : d));
  const y = makeValue(x.dtype, x.shape);
  const mean = makeValue(x.dtype, statShape);
  const inv = makeValue(x.dtype, statShape);
  const normShape = x.shape.slice(axis);
  groups(x.shape, normAxes).forEach((group, g) => {
    const xs = group.map((p) => x.data[p]!);
    const mu = xs.reduce((p, q) => p + q, 0) / xs.length;
    const variance = xs.reduce((p, v) => p + (v - mu) * (v - mu), 0) / xs.length;
    const r = 1 / Math.sqrt(variance + eps);
    mean.data[g] = mu;
    inv.data[g] = r;
    group.forEach((p, k) => {
      // scale and bias are indexed by the position within the normalised block (broadcast to its shape).
      const local = unravel(k, normShape);
      const s = scale.data[broadcastOffset(local, scale.shape)]!;
      const b = bias ? bias.data[broadcastOffset(local, bias.shape)]! : 0;
      y.data[p] = (x.data[p]! - mu) * r * s + b;
    });
  });
  return [y, mean, inv];
}

export const nnKernels: Record<string, Kernel> = {
  Softmax: (a) => perLane(a, softmax),
  LogSoftmax: (a) => perLane(a, logSoftmax),
  LayerNormalization: layerNorm,
};
