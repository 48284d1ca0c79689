// Runtime values of the reference evaluator. Every element is held as a JavaScript number in a Float64Array,
// whatever the dtype: floats are computed in float64 and rounded to the declared dtype after each node; int64 is
// exact up to 2^53, which covers every index, shape and count a model computes (larger values are only sentinels
// such as Slice's "to the end", which only need their sign and size).
import { allocate, type DType } from "../ir/dtype.ts";
import type { TensorData } from "../ir/graph.ts";
import { bfloat16ToNumber, halfToNumber, numberToBfloat16, numberToHalf } from "../ir/half.ts";
import { numel } from "../ir/shape.ts";
import { unravel } from "./strided.ts";

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

/** Builds a value of `shape` by reading, for each output multi-index, the element of `x` that `source` names. */
export function gatherBy(x: Value, shape: number[], source: (idx: number[]) => number): Value {
  const out = makeValue(x.dtype, shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = x.data[source(unravel(i, shape))]!;
  return out;
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
    case "bfloat16":
      return bfloat16ToNumber(numberToBfloat16(v));
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
    data[i] = t.dtype === "float16" ? halfToNumber(x as number) : t.dtype === "bfloat16" ? bfloat16ToNumber(x as number) : Number(x);
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
    else if (v.dtype === "bfloat16") out[i] = numberToBfloat16(x);
    else out[i] = roundTo(v.dtype, x);
  }
  return { dtype: v.dtype, shape: [...v.shape], data: out };
}
