// Elementwise kernels: numpy-broadcasting maps over one or more inputs.
import { type DType, ONNX_DTYPE } from "../../ir/dtype.ts";
import { erf } from "../erf.ts";
import { input, type Kernel, type KernelArgs, numAttr, strAttr } from "../kernel.ts";
import { broadcast, broadcastOffset, size, unravel } from "../strided.ts";
import { makeValue, type Value } from "../value.ts";

/** out[i] = f(x[i], y[i], …) over the broadcast shape of `xs`. */
export function mapBroadcast(op: string, dtype: DType, xs: readonly Value[], f: (...v: number[]) => number): Value {
  const shape = broadcast(
    op,
    xs.map((x) => x.shape),
  );
  const out = makeValue(dtype, shape);
  const n = size(shape);
  const args = new Array<number>(xs.length);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    xs.forEach((x, k) => {
      args[k] = x.data[broadcastOffset(idx, x.shape)]!;
    });
    out.data[i] = f(...args);
  }
  return out;
}

const isIntegral = (d: DType) => d !== "float32" && d !== "float64" && d !== "float16";

function binary(f: (x: number, y: number) => number, outDtype?: DType): Kernel {
  return (a) => {
    const x = input(a, 0);
    return [mapBroadcast(a.node.op, outDtype ?? x.dtype, [x, input(a, 1)], f)];
  };
}

function unary(f: (x: number) => number): Kernel {
  return (a) => {
    const x = input(a, 0);
    return [makeValue(x.dtype, x.shape, x.data.map(f))];
  };
}

const bool = (c: boolean) => (c ? 1 : 0);

/** Integer Div truncates toward zero (C++ semantics in ORT); float Div is IEEE. */
function div(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const int = isIntegral(x.dtype);
  return [mapBroadcast("Div", x.dtype, [x, input(a, 1)], (p, q) => (int ? Math.trunc(p / q) : p / q))];
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 + eˣ) without overflow for large x. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function gelu(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const approximate = strAttr(a, "approximate", "none");
  const c = Math.sqrt(2 / Math.PI);
  const f =
    approximate === "tanh" ? (v: number) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v))) : (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
  return [makeValue(x.dtype, x.shape, x.data.map(f))];
}

const DTYPE_OF_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([d, code]) => [code, d as DType]));

/** Cast: the evaluator's rounding to the output dtype does the conversion; `to` only names it. */
function cast(a: KernelArgs): Value[] {
  const x = input(a, 0);
  const to = DTYPE_OF_CODE.get(numAttr(a, "to", -1));
  if (!to) throw new Error(`reference Cast (node ${a.node.name}): unsupported target type code ${numAttr(a, "to", -1)}`);
  // float → bool is "nonzero", float → int truncates toward zero: both are what `roundTo` does.
  return [{ dtype: to, shape: x.shape, data: x.data.slice() }];
}

function where(a: KernelArgs): Value[] {
  const x = input(a, 1);
  return [mapBroadcast("Where", x.dtype, [input(a, 0), x, input(a, 2)], (c, p, q) => (c ? p : q))];
}

function sum(a: KernelArgs): Value[] {
  const xs = a.inputs.map((_, i) => input(a, i));
  return [mapBroadcast("Sum", xs[0]!.dtype, xs, (...v) => v.reduce((p, q) => p + q, 0))];
}

export const elementwiseKernels: Record<string, Kernel> = {
  Add: binary((x, y) => x + y),
  Sub: binary((x, y) => x - y),
  Mul: binary((x, y) => x * y),
  Div: div,
  Pow: binary(Math.pow),
  Max: binary(Math.max),
  Min: binary(Math.min),
  Equal: binary((x, y) => bool(x === y), "bool"),
  Less: binary((x, y) => bool(x < y), "bool"),
  Greater: binary((x, y) => bool(x > y), "bool"),
  LessOrEqual: binary((x, y) => bool(x <= y), "bool"),
  GreaterOrEqual: binary((x, y) => bool(x >= y), "bool"),
  And: binary((x, y) => bool(x !== 0 && y !== 0), "bool"),
  Or: binary((x, y) => bool(x !== 0 || y !== 0), "bool"),
  Not: unary((x) => bool(x === 0)),
  Where: where,
  Sum: sum,
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Sign: unary((x) => (x > 0 ? 1 : x < 0 ? -1 : 0)),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => 1 / x),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Tanh: unary(Math.tanh),
  Sigmoid: unary(sigmoid),
  Softplus: unary(softplus),
  Erf: unary(erf),
  Relu: unary((x) => Math.max(x, 0)),
  Floor: unary(Math.floor),
  Cos: unary(Math.cos),
  Sin: unary(Math.sin),
  Identity: unary((x) => x),
  Gelu: gelu,
  Cast: cast,
};
