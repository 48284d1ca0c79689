// Runtime values of the reference evaluator. Every element is held as a JavaScript number in a Float64Array,
// whatever the dtype: floats are computed in float64 and rounded to the declared dtype after each node; int64 is
// exact up to 2^53, which covers every index, shape and count a model computes (larger values are only sentinels
// such as Slice's "to the end", which only need their sign and size).
import { allocate, type DType } from "../ir/dtype.ts";
import type { TensorData } from "../ir/graph.ts";
import { numel } from "../ir/shape.ts";

export interface Value {
  dtype: DType;
  shape: number[];
  data: Float64Array;
}

export function makeValue(dtype: DType, shape: readonly number[], data?: Float64Array): Value {
  const n = numel(shape as number[]);
  if (data && data.length !== n) throw new Error(`reference: ${data.length} elements for shape [${shape.join(", ")}]`);
  return { dtype, shape: [...shape], data: data ?? new Float64Array(n) };
}

/** Rounds a float64 result to what a tensor of `dtype` can hold (integer casts truncate toward zero, as ORT's do). */
export function roundTo(dtype: DType, v: number): number {
  switch (dtype) {
    case "float64":
      return v;
    case "float32":
      return Math.fround(v);
    case "float16":
      return halfToNumber(numberToHalf(v));
    case "bool":
      return v !== 0 ? 1 : 0;
    case "int64":
      return Math.trunc(v);
    case "int32":
      return Math.trunc(v) | 0;
    case "int8":
      return (Math.trunc(v) << 24) >> 24;
    case "uint8":
      return Math.trunc(v) & 255;
  }
}

/** The same value with every element rounded to `dtype`. */
export function castValue(v: Value, dtype: DType): Value {
  return { dtype, shape: v.shape, data: v.data.map((x) => roundTo(dtype, x)) };
}

export function fromTensorData(t: TensorData): Value {
  const n = numel(t.shape);
  if (t.data.length !== n) throw new Error(`reference: tensor data has ${t.data.length} elements, shape [${t.shape.join(", ")}] needs ${n}`);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = t.data[i]!;
    data[i] = t.dtype === "float16" ? halfToNumber(x as number) : Number(x);
  }
  return { dtype: t.dtype, shape: [...t.shape], data };
}

export function toTensorData(v: Value): TensorData {
  const out = allocate(v.dtype, v.data.length);
  for (let i = 0; i < v.data.length; i++) {
    const x = v.data[i]!;
    if (out instanceof BigInt64Array) {
      if (!Number.isFinite(x)) throw new Error(`reference: ${x} has no int64 value (a cast of a non-finite float)`);
      out[i] = BigInt(Math.trunc(x));
    } else if (v.dtype === "float16") out[i] = numberToHalf(x);
    else out[i] = roundTo(v.dtype, x);
  }
  return { dtype: v.dtype, shape: [...v.shape], data: out };
}

/** IEEE half bits → number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → IEEE half bits, rounding to nearest even. */
export function numberToHalf(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity
  if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24); // subnormal (may round up into the smallest normal)
  let exp = Math.floor(Math.log2(a));
  if (2 ** exp > a) exp--; // log2 can be off by one near powers of two
  const frac = roundEven((a / 2 ** exp - 1) * 1024);
  return sign | (((exp + 15) << 10) + frac); // a carry out of frac bumps the exponent, as it should
}

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
