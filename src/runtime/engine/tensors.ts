// Conversion between the compiler's TensorData ({dtype, shape, data}) and onnxruntime-node's ort.Tensor.
// Storage follows ONNX Runtime's: bool is a Uint8Array of 0/1, int64 a BigInt64Array, float16 the raw bits
// in a Uint16Array. Both directions check dtype, shape and length and say which tensor is wrong.
import * as ort from "onnxruntime-node";
import type { DType, TypedArray } from "../../tensor/ir/dtype.ts";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { numel } from "../../tensor/ir/shape.ts";

/** A tensor that cannot be converted: wrong array type, shape or length, or a dtype alignc does not use. */
export class TensorDataError extends Error {
  override name = "TensorDataError";
}

/** The typed array each dtype is stored in. */
const STORAGE: Record<DType, { name: string; is: (a: unknown) => boolean }> = {
  float32: { name: "Float32Array", is: (a) => a instanceof Float32Array },
  float64: { name: "Float64Array", is: (a) => a instanceof Float64Array },
  float16: { name: "Uint16Array", is: (a) => a instanceof Uint16Array },
  bfloat16: { name: "Uint16Array", is: (a) => a instanceof Uint16Array },
  int64: { name: "BigInt64Array", is: (a) => a instanceof BigInt64Array },
  int32: { name: "Int32Array", is: (a) => a instanceof Int32Array },
  int8: { name: "Int8Array", is: (a) => a instanceof Int8Array },
  uint8: { name: "Uint8Array", is: (a) => a instanceof Uint8Array },
  bool: { name: "Uint8Array", is: (a) => a instanceof Uint8Array },
};

export function isDType(name: string): name is DType {
  return Object.hasOwn(STORAGE, name);
}

function describe(data: unknown): string {
  return (data as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof data;
}

/** Throws `TensorDataError` unless `t` is well formed: known dtype, matching array type, shape of non-negative integers, length = product of the shape. */
export function validateTensorData(t: TensorData, what = "tensor"): void {
  if (!isDType(t.dtype)) throw new TensorDataError(`${what}: unknown dtype '${String(t.dtype)}' (expected one of ${Object.keys(STORAGE).join(", ")})`);
  const storage = STORAGE[t.dtype];
  if (!storage.is(t.data)) throw new TensorDataError(`${what}: a ${t.dtype} tensor must hold a ${storage.name}, got ${describe(t.data)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new TensorDataError(`${what}: the shape must be a list of non-negative integers, got ${JSON.stringify(t.shape)}`);
  const n = numel(t.shape);
  if (t.data.length !== n) throw new TensorDataError(`${what}: shape [${t.shape.join(", ")}] has ${n} elements but the data has ${t.data.length}`);
}

/** TensorData → ort.Tensor; the typed array is shared, not copied. */
export function toOrtTensor(t: TensorData, what = "tensor"): ort.Tensor {
  validateTensorData(t, what);
  // onnxruntime-node has no bfloat16 tensors: programs keep bfloat16 inside (mixed precision casts at the edges).
  if (t.dtype === "bfloat16") throw new TensorDataError(`${what}: onnxruntime-node cannot pass bfloat16 tensors; feed float32 and cast inside the program`);
  // ort.Tensor's overloads are keyed by dtype; the validation above guarantees the pairing.
  return new ort.Tensor(t.dtype, t.data as never, t.shape);
}

/** ort.Tensor → TensorData. Rejects dtypes alignc does not use (string, uint16, int4, …). */
export function fromOrtTensor(t: ort.Tensor, what = "tensor"): TensorData {
  const dtype = t.type;
  if (!isDType(dtype)) throw new TensorDataError(`${what}: ONNX Runtime returned a ${dtype} tensor, which alignc does not use`);
  if (t.location !== "cpu" && t.location !== "cpu-pinned") throw new TensorDataError(`${what}: the tensor lives on '${t.location}', not in CPU memory`);
  let data = t.data as unknown as TypedArray;
  // float16: onnxruntime-common hands out a Float16Array where the runtime has one; keep the raw bits.
  if (dtype === "float16" && !(data instanceof Uint16Array)) {
    const view = data as unknown as ArrayBufferView & { length: number };
    data = new Uint16Array(view.buffer, view.byteOffset, view.length);
  }
  const out: TensorData = { dtype, shape: [...t.dims], data };
  validateTensorData(out, what);
  return out;
}
