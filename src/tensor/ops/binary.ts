// Elementwise ops of two or more operands, with numpy broadcasting: arithmetic, comparisons, logic, Where, and Sum
// (which only the backward pass emits, to add up fan-out). Constructors accept a plain number for either side; it
// becomes a scalar constant of the other side's dtype. Gradients undo broadcasting with `unbroadcast`.
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import type { DType } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { broadcastShapes, formatShape, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { broadcast, broadcastOffset, size, unravel } from "../reference/strided.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type GradCheckCase, type GradInput, type OpDef } from "./op-def.ts";
import { unbroadcast } from "./reduce.ts";

export type Operand = Tensor | number;

// ── constructors (shape rule: broadcasting) ──

function pair(opType: string, x: Operand, y: Operand): [Tensor, Tensor] {
  if (typeof x === "number" && typeof y === "number") throw new ShapeError(`${opType}: at least one operand must be a tensor`);
  const like = (typeof x === "number" ? y : x) as Tensor;
  const b = builderOf(like);
  const a = typeof x === "number" ? b.tensor(like.dtype, x) : x;
  const c = typeof y === "number" ? b.tensor(like.dtype, y) : y;
  if (a.dtype !== c.dtype)
    throw new ShapeError(`${opType}: operand types differ (${a.dtype} ${formatShape(a.shape)} vs ${c.dtype} ${formatShape(c.shape)}); insert a cast`);
  return [a, c];
}

function emitBinary(opType: string, x: Operand, y: Operand, outDtype?: DType): Tensor {
  const [a, c] = pair(opType, x, y);
  const shape = broadcastShapes(opType, [a.shape, c.shape]);
  return builderOf(a).emit(opType, [a, c], [{ dtype: outDtype ?? a.dtype, shape }])[0]!;
}

export const add = (x: Operand, y: Operand) => emitBinary("Add", x, y);
export const sub = (x: Operand, y: Operand) => emitBinary("Sub", x, y);
export const mul = (x: Operand, y: Operand) => emitBinary("Mul", x, y);
export const div = (x: Operand, y: Operand) => emitBinary("Div", x, y);
export const pow = (x: Operand, y: Operand) => emitBinary("Pow", x, y);
export const max = (x: Operand, y: Operand) => emitBinary("Max", x, y);
export const min = (x: Operand, y: Operand) => emitBinary("Min", x, y);
export const equal = (x: Operand, y: Operand) => emitBinary("Equal", x, y, "bool");
export const less = (x: Operand, y: Operand) => emitBinary("Less", x, y, "bool");
export const greater = (x: Operand, y: Operand) => emitBinary("Greater", x, y, "bool");
export const lessOrEqual = (x: Operand, y: Operand) => emitBinary("LessOrEqual", x, y, "bool");
export const greaterOrEqual = (x: Operand, y: Operand) => emitBinary("GreaterOrEqual", x, y, "bool");
export const and = (x: Tensor, y: Tensor) => emitBinary("And", x, y);
export const or = (x: Tensor, y: Tensor) => emitBinary("Or", x, y);

export function where(cond: Tensor, x: Operand, y: Operand): Tensor {
  if (cond.dtype !== "bool") throw new ShapeError(`Where: the condition must be bool, got ${cond.dtype}`);
  const [a, c] = pair("Where", x, y);
  const shape = broadcastShapes("Where", [cond.shape, a.shape, c.shape]);
  return builderOf(cond).emit("Where", [cond, a, c], [{ dtype: a.dtype, shape }])[0]!;
}

// ── VJP helpers ──

const x0 = (a: VjpArgs) => a.inputs[0]!;
const x1 = (a: VjpArgs) => a.inputs[1]!;
const out = (a: VjpArgs) => a.outputs[0]!;

/** Per-input gradients of a binary op, computed only where needed and reduced to each input's shape. */
function binaryVjp(a: VjpArgs, dA: () => Tensor, dB: () => Tensor): (Tensor | null)[] {
  return [a.needs[0] ? unbroadcast(dA(), x0(a).shape) : null, a.needs[1] ? unbroadcast(dB(), x1(a).shape) : null];
}

// ── reference kernels ──

/** out[i] = f(x[i], y[i], …) over the broadcast shape of `xs`. */
function mapBroadcast(opType: string, dtype: DType, xs: readonly Value[], fn: (...v: number[]) => number): Value {
  const shape = broadcast(
    opType,
    xs.map((x) => x.shape),
  );
  const result = makeValue(dtype, shape);
  const n = size(shape);
  const args = new Array<number>(xs.length);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    xs.forEach((x, k) => {
      args[k] = x.data[broadcastOffset(idx, x.shape)]!;
    });
    result.data[i] = fn(...args);
  }
  return result;
}

function binaryKernel(fn: (x: number, y: number) => number, outDtype?: DType): ref.Kernel {
  return (a) => {
    const x = ref.input(a, 0);
    return [mapBroadcast(a.node.op, outDtype ?? x.dtype, [x, ref.input(a, 1)], fn)];
  };
}

const bool = (c: boolean) => (c ? 1 : 0);
const isIntegral = (d: DType) => d !== "float32" && d !== "float64" && d !== "float16";

/** Integer Div truncates toward zero (C++ semantics in ORT); float Div is IEEE. */
function divKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 0);
  const int = isIntegral(x.dtype);
  return [mapBroadcast("Div", x.dtype, [x, ref.input(a, 1)], (p, q) => (int ? Math.trunc(p / q) : p / q))];
}

function whereKernel(a: ref.KernelArgs): Value[] {
  const x = ref.input(a, 1);
  return [mapBroadcast("Where", x.dtype, [ref.input(a, 0), x, ref.input(a, 2)], (c, p, q) => (c ? p : q))];
}

function sumKernel(a: ref.KernelArgs): Value[] {
  const xs = a.inputs.map((_, i) => ref.input(a, i));
  return [mapBroadcast("Sum", xs[0]!.dtype, xs, (...v) => v.reduce((p, q) => p + q, 0))];
}

// ── gradient checks ──

function binaryCases(fn: (x: Tensor, y: Tensor) => Tensor, domainY: GradInput["domain"] = "any"): GradCheckCase[] {
  return [
    { case: "[2,3] ∘ [2,3]", inputs: [f("x", [2, 3]), f("y", [2, 3], domainY)], build: (_b, i) => fn(i.x!, i.y!) },
    { case: "[2,3] ∘ [3] (broadcast)", inputs: [f("x", [2, 3]), f("y", [3], domainY)], build: (_b, i) => fn(i.x!, i.y!) },
    { case: "[2,1] ∘ [1,3] (both broadcast)", inputs: [f("x", [2, 1]), f("y", [1, 3], domainY)], build: (_b, i) => fn(i.x!, i.y!) },
  ];
}

/** Fixed values keep the two operands of Max and Min apart (ties are where their gradient jumps). */
const noTies: GradInput = { name: "y", shape: [3], values: [0.05, -0.35, 0.55] };

// ── the registry entries ──

export const binaryOps: readonly OpDef[] = [
  {
    onnxType: "Add",
    vjp: (a) =>
      binaryVjp(
        a,
        () => dy(a),
        () => dy(a),
      ),
    reference: binaryKernel((x, y) => x + y),
    gradcheck: binaryCases(add),
  },
  {
    onnxType: "Sub",
    vjp: (a) =>
      binaryVjp(
        a,
        () => dy(a),
        () => op.neg(dy(a)),
      ),
    reference: binaryKernel((x, y) => x - y),
    gradcheck: binaryCases(sub),
  },
  {
    onnxType: "Mul",
    vjp: (a) =>
      binaryVjp(
        a,
        () => op.mul(dy(a), x1(a)),
        () => op.mul(dy(a), x0(a)),
      ),
    reference: binaryKernel((x, y) => x * y),
    gradcheck: binaryCases(mul),
  },
  {
    onnxType: "Div",
    vjp: (a) =>
      binaryVjp(
        a,
        () => op.div(dy(a), x1(a)),
        () => op.neg(op.div(op.mul(dy(a), out(a)), x1(a))),
      ),
    reference: divKernel,
    gradcheck: binaryCases(div, "positive"),
  },
  {
    onnxType: "Pow",
    // d(x^y)/dx = y·x^(y-1); d/dy = x^y·log x (only meaningful for x > 0).
    vjp: (a) =>
      binaryVjp(
        a,
        () => op.mul(dy(a), op.mul(x1(a), op.pow(x0(a), op.sub(x1(a), 1)))),
        () => op.mul(dy(a), op.mul(out(a), op.log(x0(a)))),
      ),
    reference: binaryKernel(Math.pow),
    gradcheck: [{ case: "positive base, broadcast exponent", inputs: [f("x", [2, 3], "positive"), f("y", [3])], build: (_b, i) => pow(i.x!, i.y!) }],
  },
  {
    onnxType: "Max",
    // Ties send the gradient to the first operand (as PyTorch's maximum does not; ties are measure-zero in training).
    vjp: (a) => {
      const first = op.greaterOrEqual(x0(a), x1(a));
      return binaryVjp(
        a,
        () => op.where(first, dy(a), 0),
        () => op.where(first, 0, dy(a)),
      );
    },
    reference: binaryKernel(Math.max),
    gradcheck: [{ case: "[2,3] ∘ [3] (no ties)", inputs: [f("x", [2, 3]), noTies], build: (_b, i) => max(i.x!, i.y!) }],
  },
  {
    onnxType: "Min",
    vjp: (a) => {
      const first = op.lessOrEqual(x0(a), x1(a));
      return binaryVjp(
        a,
        () => op.where(first, dy(a), 0),
        () => op.where(first, 0, dy(a)),
      );
    },
    reference: binaryKernel(Math.min),
    gradcheck: [{ case: "[2,3] ∘ [3] (no ties)", inputs: [f("x", [2, 3]), noTies], build: (_b, i) => min(i.x!, i.y!) }],
  },
  {
    onnxType: "Where",
    vjp: (a) => {
      const c = a.inputs[0]!;
      const g = dy(a);
      return [
        null,
        a.needs[1] ? unbroadcast(op.where(c, g, 0), a.inputs[1]!.shape) : null,
        a.needs[2] ? unbroadcast(op.where(c, 0, g), a.inputs[2]!.shape) : null,
      ];
    },
    reference: whereKernel,
    gradcheck: [
      {
        case: "mask [2,3], operands [2,3] and [3]",
        inputs: [{ name: "m", shape: [2, 3], kind: "bool" }, f("x", [2, 3]), f("y", [3])],
        build: (_b, i) => where(i.m!, i.x!, i.y!),
      },
    ],
  },
  // Emitted by autodiff to add up the gradient contributions of a fanned-out tensor (exercised by every fan-out).
  { onnxType: "Sum", vjp: (a) => a.inputs.map((t, i) => (a.needs[i] ? unbroadcast(dy(a), t!.shape) : null)), reference: sumKernel },
  // Comparisons and logic: bool results carry no gradient.
  { onnxType: "Equal", reference: binaryKernel((x, y) => bool(x === y), "bool") },
  { onnxType: "Less", reference: binaryKernel((x, y) => bool(x < y), "bool") },
  { onnxType: "Greater", reference: binaryKernel((x, y) => bool(x > y), "bool") },
  { onnxType: "LessOrEqual", reference: binaryKernel((x, y) => bool(x <= y), "bool") },
  { onnxType: "GreaterOrEqual", reference: binaryKernel((x, y) => bool(x >= y), "bool") },
  { onnxType: "And", reference: binaryKernel((x, y) => bool(x !== 0 && y !== 0), "bool") },
  { onnxType: "Or", reference: binaryKernel((x, y) => bool(x !== 0 || y !== 0), "bool") },
];
