// Element types the tensor compiler knows, and how they map to JavaScript typed arrays. float16 and bfloat16 are
// held as their bit patterns in Uint16Array (ir/half.ts converts); bfloat16 only ever lives inside programs (mixed
// precision), since onnxruntime-node cannot pass it in or out.
import { bfloat16ToNumber, halfToNumber, numberToBfloat16, numberToHalf } from "./half.ts";

export type DType = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int8" | "uint8" | "bool";

export type TypedArray = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export const FLOAT_DTYPES: readonly DType[] = ["float32", "float64", "float16", "bfloat16"];

export function isFloat(dtype: DType): boolean {
  return FLOAT_DTYPES.includes(dtype);
}

export function byteSize(dtype: DType): number {
  switch (dtype) {
    case "float64":
    case "int64":
      return 8;
    case "float32":
    case "int32":
      return 4;
    case "float16":
    case "bfloat16":
      return 2;
    case "int8":
    case "uint8":
    case "bool":
      return 1;
  }
}

/** A zero-filled typed array of `dtype` with `length` elements (bool is stored as Uint8Array, as in ONNX Runtime). */
export function allocate(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "float16":
    case "bfloat16":
      return new Uint16Array(length);
    case "int64":
      return new BigInt64Array(length);
    case "int32":
      return new Int32Array(length);
    case "int8":
      return new Int8Array(length);
    case "uint8":
    case "bool":
      return new Uint8Array(length);
  }
}

/** Typed array from plain numbers; int64 values go through BigInt, 16-bit floats are rounded to their bits. */
export function fromNumbers(dtype: DType, values: readonly number[]): TypedArray {
  const out = allocate(dtype, values.length);
  if (out instanceof BigInt64Array)
    values.forEach((v, i) => {
      out[i] = BigInt(Math.trunc(v));
    });
  else if (dtype === "float16" || dtype === "bfloat16") {
    const bits = dtype === "float16" ? numberToHalf : numberToBfloat16;
    values.forEach((v, i) => {
      out[i] = bits(v);
    });
  } else (out as Exclude<TypedArray, BigInt64Array>).set(values as number[]);
  return out;
}

/** Plain numbers from a typed array of `dtype` (16-bit floats decoded from their bits). */
export function toNumbers(data: TypedArray, dtype?: DType): number[] {
  if (dtype === "float16") return Array.from(data as Uint16Array, halfToNumber);
  if (dtype === "bfloat16") return Array.from(data as Uint16Array, bfloat16ToNumber);
  return Array.from(data as ArrayLike<number | bigint>, Number);
}

/** ONNX TensorProto.DataType codes (also the value of Cast's `to` attribute). */
export const ONNX_DTYPE: Record<DType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16 };
