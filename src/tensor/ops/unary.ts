// Elementwise ops of one operand: arithmetic and transcendental functions, activations, Cast, Identity (and the
// stop-gradient made of it), and the finite-value test mixed precision uses. Also where the provider dtype policy
// (onnx/provider-policy.ts) is applied: `inKernelDtype`.
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import { type DType, isFloat, ONNX_DTYPE } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { ShapeError } from "../ir/shape.ts";
import { kernelDtype } from "../onnx/provider-policy.ts";
import { erf as erfOf } from "../reference/erf.ts";
import * as ref from "../reference/kernel.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { str, strAttr } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type GradCheckCase, type GradInput, type OpDef } from "./op-def.ts";

// ── constructors (shape rule: the input's) ──

/**
 * Emits `opType` on `x` through `emit`, in the dtype every provider has a kernel for (onnx/provider-policy.ts): when
 * that is not x's, between a cast to it and a cast back. For ops whose result has their input's dtype.
 */
export function inKernelDtype(opType: string, x: Tensor, emit: (x: Tensor) => Tensor): Tensor {
  const dtype = kernelDtype(opType, x.dtype);
  return dtype === x.dtype ? emit(x) : cast(emit(cast(x, dtype)), x.dtype);
}

function emitUnary(opType: string, x: Tensor, requireFloat = true): Tensor {
  if (requireFloat && !isFloat(x.dtype)) throw new ShapeError(`${opType}: needs a floating-point input, got ${x.dtype}`);
  return inKernelDtype(opType, x, (y) => builderOf(y).emit(opType, [y], [{ dtype: y.dtype, shape: y.shape }])[0]!);
}

export const neg = (x: Tensor) => emitUnary("Neg", x, false);
export const abs = (x: Tensor) => emitUnary("Abs", x, false);
export const sign = (x: Tensor) => emitUnary("Sign", x, false);
export const sqrt = (x: Tensor) => emitUnary("Sqrt", x);
export const reciprocal = (x: Tensor) => emitUnary("Reciprocal", x);
export const exp = (x: Tensor) => emitUnary("Exp", x);
export const log = (x: Tensor) => emitUnary("Log", x);
export const tanh = (x: Tensor) => emitUnary("Tanh", x);
export const sigmoid = (x: Tensor) => emitUnary("Sigmoid", x);
export const softplus = (x: Tensor) => emitUnary("Softplus", x);
export const erf = (x: Tensor) => emitUnary("Erf", x);
export const cos = (x: Tensor) => emitUnary("Cos", x);
export const sin = (x: Tensor) => emitUnary("Sin", x);
export const relu = (x: Tensor) => emitUnary("Relu", x);
export const floor = (x: Tensor) => emitUnary("Floor", x);
export const identity = (x: Tensor) => emitUnary("Identity", x, false);
export const not = (x: Tensor) => {
  if (x.dtype !== "bool") throw new ShapeError(`Not: needs a bool input, got ${x.dtype}`);
  return emitUnary("Not", x, false);
};

/** True where x is neither NaN nor ±∞ (no gradient: used on gradients, for mixed precision's overflow check). */
export function finiteMask(x: Tensor): Tensor {
  if (!isFloat(x.dtype)) throw new ShapeError(`finiteMask: needs a floating-point input, got ${x.dtype}`);
  const b = builderOf(x);
  const flag = (type: string) => b.emit(type, [x], [{ dtype: "bool", shape: x.shape }])[0]!;
  const [bad] = b.emit("Or", [flag("IsNaN"), flag("IsInf")], [{ dtype: "bool", shape: x.shape }]);
  return not(bad!);
}

/** Gelu (opset 20): `approximate` is "none" (erf form) or "tanh". */
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  if (!isFloat(x.dtype)) throw new ShapeError(`Gelu: needs a floating-point input, got ${x.dtype}`);
  return builderOf(x).emit("Gelu", [x], [{ dtype: x.dtype, shape: x.shape }], { approximate: str(approximate) })[0]!;
}

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return builderOf(x).emit("Cast", [x], [{ dtype: to, shape: x.shape }], { to: { type: "int", value: ONNX_DTYPE[to] } })[0]!;
}

/** Blocks gradients: an Identity that autodiff treats as producing a constant. */
export function stopGradient(x: Tensor): Tensor {
  return builderOf(x).emit("Identity", [x], [{ dtype: x.dtype, shape: x.shape, name: `${x.name}_nograd` }], {}, "", { stopGradient: true })[0]!;
}

// ── VJP helpers ──

const x0 = (a: VjpArgs) => a.inputs[0]!;
const out = (a: VjpArgs) => a.outputs[0]!;

/** d/dx x·Φ(x) = Φ(x) + x·φ(x). */
function geluDerivative(x: Tensor): Tensor {
  const cdf = op.mul(0.5, op.add(1, op.erf(op.mul(x, Math.SQRT1_2))));
  const pdf = op.mul(1 / Math.sqrt(2 * Math.PI), op.exp(op.mul(-0.5, op.mul(x, x))));
  return op.add(cdf, op.mul(x, pdf));
}

/**
 * Derivative of 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³) = x·(c + c·k·x²):
 * 0.5·(1 + t + x·(1 − t)(1 + t)·u′), u′ = c + 3·c·k·x² — x² computed once, the constants folded (15 kernels, not 18).
 */
function geluTanhDerivative(x: Tensor): Tensor {
  const c = Math.sqrt(2 / Math.PI);
  const k = 0.044715;
  const x2 = op.mul(x, x);
  const t = op.tanh(op.mul(x, op.add(op.mul(x2, c * k), c)));
  const du = op.add(op.mul(x2, 3 * c * k), c);
  const onePlusT = op.add(t, 1);
  const sech2 = op.mul(op.sub(1, t), onePlusT);
  return op.mul(op.add(onePlusT, op.mul(op.mul(x, sech2), du)), 0.5);
}

// ── reference kernels ──

function unaryKernel(fn: (x: number) => number): ref.Kernel {
  return (a) => {
    const x = ref.input(a, 0);
    return [makeValue(x.dtype, x.shape, x.data.map(fn))];
  };
}

function sigmoidOf(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 + eˣ) without overflow for large x. */
function softplusOf(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function geluKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const approximate = ref.strAttr(a, "approximate", "none");
  const c = Math.sqrt(2 / Math.PI);
  const fn =
    approximate === "tanh" ? (v: number) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v))) : (v: number) => 0.5 * v * (1 + erfOf(v / Math.SQRT2));
  return [makeValue(x.dtype, x.shape, x.data.map(fn))];
}

const DTYPE_OF_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([d, code]) => [code, d as DType]));

/** Cast: the evaluator's rounding to the output dtype does the conversion; `to` only names it. */
function castKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const to = DTYPE_OF_CODE.get(ref.numAttr(a, "to", -1));
  if (!to) throw new Error(`reference Cast (node ${a.node.name}): unsupported target type code ${ref.numAttr(a, "to", -1)}`);
  // float → bool is "nonzero", float → int truncates toward zero: both are what `roundTo` does.
  return [{ dtype: to, shape: x.shape, data: x.data.slice() }];
}

const bool = (c: boolean) => (c ? 1 : 0);

// ── gradient checks ──

function unaryCase(fn: (x: Tensor) => Tensor, domain: GradInput["domain"] = "any"): GradCheckCase {
  return { case: "[2,3]", inputs: [f("x", [2, 3], domain)], build: (_b, i) => fn(i.x!) };
}

// ── the registry entries ──

export const unaryOps: readonly OpDef[] = [
  { onnxType: "Neg", vjp: (a) => [op.neg(dy(a))], reference: unaryKernel((x) => -x), gradcheck: [unaryCase(neg)] },
  { onnxType: "Abs", vjp: (a) => [op.mul(dy(a), op.sign(x0(a)))], reference: unaryKernel(Math.abs), gradcheck: [unaryCase(abs, "awayFromZero")] },
  { onnxType: "Sqrt", vjp: (a) => [op.div(op.mul(dy(a), 0.5), out(a))], reference: unaryKernel(Math.sqrt), gradcheck: [unaryCase(sqrt, "positive")] },
  {
    onnxType: "Reciprocal",
    vjp: (a) => [op.neg(op.mul(dy(a), op.mul(out(a), out(a))))],
    reference: unaryKernel((x) => 1 / x),
    gradcheck: [unaryCase(reciprocal, "positive")],
  },
  { onnxType: "Exp", vjp: (a) => [op.mul(dy(a), out(a))], reference: unaryKernel(Math.exp), gradcheck: [unaryCase(exp)] },
  { onnxType: "Log", vjp: (a) => [op.div(dy(a), x0(a))], reference: unaryKernel(Math.log), gradcheck: [unaryCase(log, "positive")] },
  { onnxType: "Tanh", vjp: (a) => [op.mul(dy(a), op.sub(1, op.mul(out(a), out(a))))], reference: unaryKernel(Math.tanh), gradcheck: [unaryCase(tanh)] },
  {
    onnxType: "Sigmoid",
    vjp: (a) => [op.mul(dy(a), op.mul(out(a), op.sub(1, out(a))))],
    reference: unaryKernel(sigmoidOf),
    gradcheck: [unaryCase(sigmoid)],
  },
  { onnxType: "Softplus", vjp: (a) => [op.mul(dy(a), op.sigmoid(x0(a)))], reference: unaryKernel(softplusOf), gradcheck: [unaryCase(softplus)] },
  {
    onnxType: "Erf",
    vjp: (a) => [op.mul(dy(a), op.mul(2 / Math.sqrt(Math.PI), op.exp(op.neg(op.mul(x0(a), x0(a))))))],
    reference: unaryKernel(erfOf),
    gradcheck: [unaryCase(erf)],
  },
  {
    onnxType: "Relu",
    vjp: (a) => [op.where(op.greater(x0(a), 0), dy(a), 0)],
    reference: unaryKernel((x) => Math.max(x, 0)),
    gradcheck: [unaryCase(relu, "awayFromZero")],
  },
  {
    onnxType: "Gelu",
    vjp: (a) => [op.mul(dy(a), strAttr(a.node.attrs, "approximate", "none") === "tanh" ? geluTanhDerivative(x0(a)) : geluDerivative(x0(a)))],
    reference: geluKernel,
    gradcheck: [
      { ...unaryCase((x) => gelu(x, "none")), case: "erf form" },
      { ...unaryCase((x) => gelu(x, "tanh")), case: "tanh form" },
    ],
  },
  {
    onnxType: "Cast",
    vjp: (a) => [a.needs[0] ? op.cast(dy(a), x0(a).dtype) : null],
    reference: castKernel,
    gradcheck: [
      {
        case: "to float32 and back",
        inputs: [f("x", [2, 3])],
        build: (_b, i, dtype) => cast(op.mul(cast(i.x!, "float32"), cast(i.x!, "float32")), dtype),
        // The round trip through float32 limits precision to ~1e-7, so a larger step and tolerance are needed in float64.
        eps: 1e-2,
        tolerance: 1e-3,
      },
    ],
  },
  // Graph outputs that need a copy, `identity` and `stopGradient` (which autodiff does not differentiate through).
  { onnxType: "Identity", vjp: (a) => [dy(a)], reference: unaryKernel((x) => x) },
  // Piecewise constant, or not used on differentiated paths: no gradient rule.
  { onnxType: "Sign", reference: unaryKernel((x) => (x > 0 ? 1 : x < 0 ? -1 : 0)) },
  { onnxType: "Floor", reference: unaryKernel(Math.floor) },
  { onnxType: "Cos", reference: unaryKernel(Math.cos) },
  { onnxType: "Sin", reference: unaryKernel(Math.sin) },
  { onnxType: "Not", reference: unaryKernel((x) => bool(x === 0)) },
  // finiteMask's tests, on gradients only; the reference interpreter has no kernels for them.
  { onnxType: "IsNaN" },
  { onnxType: "IsInf" },
];
