// Elementwise ops with numpy broadcasting. Binary ops accept a plain number for either side; it becomes a
// scalar constant of the other side's dtype.
import { type DType, isFloat, ONNX_DTYPE } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { broadcastShapes, formatShape, ShapeError } from "../ir/shape.ts";
import { str } from "./attrs.ts";
import { builderOf } from "./builder.ts";

export type Operand = Tensor | number;

function pair(op: string, x: Operand, y: Operand): [Tensor, Tensor] {
  if (typeof x === "number" && typeof y === "number") throw new ShapeError(`${op}: at least one operand must be a tensor`);
  const ref = (typeof x === "number" ? y : x) as Tensor;
  const b = builderOf(ref);
  const a = typeof x === "number" ? b.tensor(ref.dtype, x) : x;
  const c = typeof y === "number" ? b.tensor(ref.dtype, y) : y;
  if (a.dtype !== c.dtype)
    throw new ShapeError(`${op}: operand types differ (${a.dtype} ${formatShape(a.shape)} vs ${c.dtype} ${formatShape(c.shape)}); insert a cast`);
  return [a, c];
}

function binary(op: string, x: Operand, y: Operand, outDtype?: DType): Tensor {
  const [a, c] = pair(op, x, y);
  const shape = broadcastShapes(op, [a.shape, c.shape]);
  return builderOf(a).emit(op, [a, c], [{ dtype: outDtype ?? a.dtype, shape }])[0]!;
}

/**
 * Unary ops that ONNX Runtime 1.29's CUDA provider has no bfloat16 kernel for (Reciprocal measured on an H100; the
 * others are transcendental ops PyTorch's autocast also runs in float32): computed in float32 between two casts.
 */
const BFLOAT16_IN_FLOAT32 = new Set(["Reciprocal", "Sqrt", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Softplus"]);

function unary(op: string, x: Tensor, requireFloat = true): Tensor {
  if (requireFloat && !isFloat(x.dtype)) throw new ShapeError(`${op}: needs a floating-point input, got ${x.dtype}`);
  if (x.dtype === "bfloat16" && BFLOAT16_IN_FLOAT32.has(op)) return cast(unary(op, cast(x, "float32")), "bfloat16");
  return builderOf(x).emit(op, [x], [{ dtype: x.dtype, shape: x.shape }])[0]!;
}

export const add = (x: Operand, y: Operand) => binary("Add", x, y);
export const sub = (x: Operand, y: Operand) => binary("Sub", x, y);
export const mul = (x: Operand, y: Operand) => binary("Mul", x, y);
export const div = (x: Operand, y: Operand) => binary("Div", x, y);
export const pow = (x: Operand, y: Operand) => binary("Pow", x, y);
export const max = (x: Operand, y: Operand) => binary("Max", x, y);
export const min = (x: Operand, y: Operand) => binary("Min", x, y);
export const equal = (x: Operand, y: Operand) => binary("Equal", x, y, "bool");
export const less = (x: Operand, y: Operand) => binary("Less", x, y, "bool");
export const greater = (x: Operand, y: Operand) => binary("Greater", x, y, "bool");
export const lessOrEqual = (x: Operand, y: Operand) => binary("LessOrEqual", x, y, "bool");
export const greaterOrEqual = (x: Operand, y: Operand) => binary("GreaterOrEqual", x, y, "bool");
export const and = (x: Tensor, y: Tensor) => binary("And", x, y);
export const or = (x: Tensor, y: Tensor) => binary("Or", x, y);

export const neg = (x: Tensor) => unary("Neg", x, false);
export const abs = (x: Tensor) => unary("Abs", x, false);
export const sign = (x: Tensor) => unary("Sign", x, false);
export const sqrt = (x: Tensor) => unary("Sqrt", x);
export const reciprocal = (x: Tensor) => unary("Reciprocal", x);
export const exp = (x: Tensor) => unary("Exp", x);
export const log = (x: Tensor) => unary("Log", x);
export const tanh = (x: Tensor) => unary("Tanh", x);
export const sigmoid = (x: Tensor) => unary("Sigmoid", x);
export const softplus = (x: Tensor) => unary("Softplus", x);
export const erf = (x: Tensor) => unary("Erf", x);
export const cos = (x: Tensor) => unary("Cos", x);
export const sin = (x: Tensor) => unary("Sin", x);
export const relu = (x: Tensor) => unary("Relu", x);
export const floor = (x: Tensor) => unary("Floor", x);
export const identity = (x: Tensor) => unary("Identity", x, false);
export const not = (x: Tensor) => {
  if (x.dtype !== "bool") throw new ShapeError(`Not: needs a bool input, got ${x.dtype}`);
  return unary("Not", x, false);
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

export function where(cond: Tensor, x: Operand, y: Operand): Tensor {
  if (cond.dtype !== "bool") throw new ShapeError(`Where: the condition must be bool, got ${cond.dtype}`);
  const [a, c] = pair("Where", x, y);
  const shape = broadcastShapes("Where", [cond.shape, a.shape, c.shape]);
  return builderOf(cond).emit("Where", [cond, a, c], [{ dtype: a.dtype, shape }])[0]!;
}

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return builderOf(x).emit("Cast", [x], [{ dtype: to, shape: x.shape }], { to: { type: "int", value: ONNX_DTYPE[to] } })[0]!;
}

/** Blocks gradients: an Identity that autodiff treats as producing a constant. */
export function stopGradient(x: Tensor): Tensor {
  return builderOf(x).emit("Identity", [x], [{ dtype: x.dtype, shape: x.shape, name: `${x.name}_nograd` }], {}, "", { stopGradient: true })[0]!;
}
