// Neural-network ops that ONNX has as single nodes: Softmax, LogSoftmax (opset 13: along one axis) and
// LayerNormalization (opset 17).
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import { isFloat } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { formatShape, normAxis, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { axisOf, broadcastOffset, groups, unravel } from "../reference/strided.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { float, int, intAttr } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type OpDef } from "./op-def.ts";
import { unbroadcast } from "./reduce.ts";

// ── constructors ──

function floatOnly(opType: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new ShapeError(`${opType}: needs a floating-point input, got ${x.dtype}`);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  floatOnly("Softmax", x);
  return builderOf(x).emit("Softmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: int(normAxis("Softmax", axis, x.rank)) })[0]!;
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  floatOnly("LogSoftmax", x);
  return builderOf(x).emit("LogSoftmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: int(normAxis("LogSoftmax", axis, x.rank)) })[0]!;
}

/** LayerNormalization-17 over the axes from `axis` to the end; scale and bias have the normalised shape. */
export function layerNorm(x: Tensor, scale: Tensor, bias: Tensor | null, axis = -1, epsilon = 1e-5): Tensor {
  floatOnly("LayerNormalization", x);
  const a = normAxis("LayerNormalization", axis, x.rank);
  const normalised = x.shape.slice(a);
  const fits = (t: Tensor) => t.rank === normalised.length && t.shape.every((d, i) => d === normalised[i]);
  if (!fits(scale) || (bias && !fits(bias)))
    throw new ShapeError(
      `LayerNormalization: scale/bias must have shape ${formatShape(normalised)}, got ${formatShape(scale.shape)}${bias ? ` and ${formatShape(bias.shape)}` : ""}`,
    );
  const inputs = bias ? [x, scale, bias] : [x, scale];
  const y = { dtype: x.dtype, shape: x.shape };
  // In float32 the node also gives its mean and 1/σ (optional outputs, float32 by stash_type): the backward reads them
  // instead of recomputing both (layerNormVjp). Half inputs would need casts of float32 statistics, so they recompute.
  const stats = (name: string) => ({ name, dtype: x.dtype, shape: x.shape.map((d, i) => (i < a ? d : 1)) });
  const outputs = x.dtype === "float32" ? [y, stats("ln_mean"), stats("ln_inv_std")] : [y];
  return builderOf(x).emit("LayerNormalization", inputs, outputs, { axis: int(a), epsilon: float(epsilon) })[0]!;
}

// ── VJP ──

/**
 * Reads the forward's mean and 1/σ where the node gives them (float32), else recomputes both with standard ops
 * (LayerNormalization's optional outputs are float32 whatever the input, so a half node does not give them).
 */
function layerNormVjp(a: VjpArgs): (Tensor | null)[] {
  const [x, scale, bias] = [a.inputs[0]!, a.inputs[1]!, a.inputs[2] ?? null];
  const axis = intAttr(a.node.attrs, "axis", -1);
  const first = axis < 0 ? axis + x.rank : axis;
  const eps = a.node.attrs.epsilon?.type === "float" ? a.node.attrs.epsilon.value : 1e-5;
  const axes = x.shape.map((_, i) => i).filter((i) => i >= first);
  const mean = (t: Tensor) => op.reduceMean(t, axes, true);
  const [given, givenInv] = [a.outputs[1], a.outputs[2]];
  const xc = op.sub(x, given ?? mean(x));
  const inv = givenInv ?? op.reciprocal(op.sqrt(op.add(mean(op.mul(xc, xc)), eps)));
  const xhat = op.mul(xc, inv);
  const g = dy(a);
  let dx = null;
  if (a.needs[0]) {
    const dxhat = op.mul(g, scale);
    dx = op.mul(inv, op.sub(op.sub(dxhat, mean(dxhat)), op.mul(xhat, mean(op.mul(dxhat, xhat)))));
  }
  const dScale = a.needs[1] ? unbroadcast(op.mul(g, xhat), scale.shape) : null;
  const dBias = bias && a.needs[2] ? unbroadcast(g, bias.shape) : null;
  return [dx, dScale, dBias];
}

// ── reference kernels ──

/** Applies `fn` to each lane along the `axis` attribute (values in, values out, same order). */
function perLane(a: ref.KernelArgs, fn: (xs: number[]) => number[]): Value[] {
  const x = ref.input(a, 0);
  const axis = axisOf(a.node.op, ref.numAttr(a, "axis", -1), x.shape.length);
  const out = makeValue(x.dtype, x.shape);
  for (const lane of groups(x.shape, [axis])) {
    const ys = fn(lane.map((p) => x.data[p]!));
    lane.forEach((p, k) => {
      out.data[p] = ys[k]!;
    });
  }
  return [out];
}

/** Shifted by the maximum so exp never overflows. */
function softmaxOf(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((p, q) => p + q, 0);
  return e.map((v) => v / s);
}

function logSoftmaxOf(xs: number[]): number[] {
  const m = Math.max(...xs);
  const lse = Math.log(xs.reduce((p, x) => p + Math.exp(x - m), 0));
  return xs.map((x) => x - m - lse);
}

/** Normalises over the axes from `axis` on (population variance); optional outputs Mean and InvStdDev. */
function layerNormKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const scale = ref.input(a, 1);
  const bias = ref.optionalInput(a, 2);
  const rank = x.shape.length;
  const axis = axisOf("LayerNormalization", ref.numAttr(a, "axis", -1), rank);
  const eps = ref.numAttr(a, "epsilon", 1e-5);
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

// ── the registry entries ──

export const nnOps: readonly OpDef[] = [
  {
    onnxType: "Softmax",
    // dx = y·(dy − Σ dy·y)
    vjp: (a) => {
      const axis = intAttr(a.node.attrs, "axis", -1);
      const y = a.outputs[0]!;
      const g = dy(a);
      return [op.mul(y, op.sub(g, op.reduceSum(op.mul(g, y), [axis], true)))];
    },
    reference: (a) => perLane(a, softmaxOf),
    gradcheck: [
      { case: "axis -1", inputs: [f("x", [2, 4])], build: (_b, i) => softmax(i.x!, -1) },
      { case: "axis 0", inputs: [f("x", [3, 2])], build: (_b, i) => softmax(i.x!, 0) },
    ],
  },
  {
    onnxType: "LogSoftmax",
    // dx = dy − exp(y)·Σ dy
    vjp: (a) => {
      const axis = intAttr(a.node.attrs, "axis", -1);
      const y = a.outputs[0]!;
      const g = dy(a);
      return [op.sub(g, op.mul(op.exp(y), op.reduceSum(g, [axis], true)))];
    },
    reference: (a) => perLane(a, logSoftmaxOf),
    gradcheck: [
      { case: "axis -1", inputs: [f("x", [2, 4])], build: (_b, i) => logSoftmax(i.x!, -1) },
      { case: "[2,3,4] axis 1", inputs: [f("x", [2, 3, 4])], build: (_b, i) => logSoftmax(i.x!, 1) },
    ],
  },
  {
    onnxType: "LayerNormalization",
    vjp: layerNormVjp,
    reference: layerNormKernel,
    gradcheck: [
      {
        case: "last axis, scale and bias",
        inputs: [f("x", [3, 4]), f("g", [4]), f("bias", [4])],
        build: (_b, i) => layerNorm(i.x!, i.g!, i.bias!, -1, 1e-5),
      },
      {
        case: "axis 1 of [2,2,3]",
        inputs: [f("x", [2, 2, 3]), f("g", [2, 3])],
        build: (_b, i) => layerNorm(i.x!, i.g!, null, 1, 1e-5),
      },
    ],
  },
];
