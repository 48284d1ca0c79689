// Tensors between alignc and ONNX Runtime's C API: CPU tensors in and out (copied into memory ONNX Runtime allocates,
// and out into new typed arrays), tensors kept resident on the device between runs, and the copies between host and
// device (through a one-node Identity program whose output is bound where the copy must go).
import type { DType, TypedArray } from "../../tensor/ir/dtype.ts";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { numel } from "../../tensor/ir/shape.ts";
import { serializeModel } from "../../tensor/onnx/serialize.ts";
import { Builder } from "../../tensor/ops/builder.ts";
import { identity } from "../../tensor/ops/unary.ts";
import type { ResidentTensor } from "./engine.ts";
import { type OrtApi, OrtApiError, type Ptr } from "./ort-capi.ts";
import type { Provider } from "./providers.ts";
import { TensorDataError, validateTensorData } from "./tensors.ts";

/** ONNX's element type numbers (TensorProto.DataType) of the dtypes alignc uses, with their byte size and array type. */
export const ELEMENT: Record<DType, { onnx: number; bytes: number; array: new (b: ArrayBuffer) => TypedArray }> = {
  float32: { onnx: 1, bytes: 4, array: Float32Array },
  uint8: { onnx: 2, bytes: 1, array: Uint8Array },
  int8: { onnx: 3, bytes: 1, array: Int8Array },
  int32: { onnx: 6, bytes: 4, array: Int32Array },
  int64: { onnx: 7, bytes: 8, array: BigInt64Array },
  bool: { onnx: 9, bytes: 1, array: Uint8Array },
  float16: { onnx: 10, bytes: 2, array: Uint16Array },
  float64: { onnx: 11, bytes: 8, array: Float64Array },
  bfloat16: { onnx: 16, bytes: 2, array: Uint16Array },
};
const DTYPE_OF = new Map<number, DType>(Object.entries(ELEMENT).map(([d, e]) => [e.onnx, d as DType]));
/** ONNX Runtime's names for element types alignc does not use (metadata only). */
const OTHER_TYPES: Record<number, string> = { 4: "uint16", 5: "int16", 8: "string", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128" };

const ORT_DEVICE_ALLOCATOR = 0;
const ORT_MEM_TYPE_DEFAULT = 0;

export interface Device {
  provider: Provider;
  deviceId: number;
}

export function typeName(onnx: number): string {
  return DTYPE_OF.get(onnx) ?? OTHER_TYPES[onnx] ?? `type ${onnx}`;
}

/** A string ONNX Runtime allocated with its default CPU allocator: read, then freed. */
export function takeString(api: OrtApi, p: Ptr): string {
  try {
    return api.koffi.decode(p, "char", -1) as string;
  } finally {
    api.call("AllocatorFree", api.cpuAllocator, p);
  }
}

/** Element type and dimensions of a tensor type-and-shape info (symbolic dimensions by name). */
export function shapeOf(api: OrtApi, info: Ptr): { onnx: number; dims: (number | string)[] } {
  const onnx = [0];
  api.call("GetTensorElementType", info, onnx);
  const rank = [0];
  api.call("GetDimensionsCount", info, rank);
  const n = Number(rank[0]);
  const dims = new BigInt64Array(n);
  if (n > 0) api.call("GetDimensions", info, dims, n);
  const names: (string | null)[] = new Array(n).fill(null);
  if (n > 0) api.call("GetSymbolicDimensions", info, names, n);
  return { onnx: onnx[0]!, dims: [...dims].map((d, i) => (d >= 0n ? Number(d) : names[i] || "?")) };
}

/** dtype and shape of a tensor value. */
function layoutOf(api: OrtApi, value: Ptr, what: string): { dtype: DType; shape: number[] } {
  const info = api.out("GetTensorTypeAndShape", value);
  try {
    const { onnx, dims } = shapeOf(api, info);
    const dtype = DTYPE_OF.get(onnx);
    if (!dtype) throw new TensorDataError(`${what}: ONNX Runtime returned a ${typeName(onnx)} tensor, which alignc does not use`);
    return { dtype, shape: dims as number[] };
  } finally {
    api.fn("ReleaseTensorTypeAndShapeInfo")(info);
  }
}

/** A CPU tensor ONNX Runtime allocates, holding a copy of `t`. */
export function toValue(api: OrtApi, t: TensorData, what: string): Ptr {
  validateTensorData(t, what);
  const element = ELEMENT[t.dtype];
  const value = api.out("CreateTensorAsOrtValue", api.cpuAllocator, new BigInt64Array(t.shape.map(BigInt)), t.shape.length, element.onnx);
  const bytes = t.data.byteLength;
  if (bytes > 0) new Uint8Array(api.koffi.view(api.out("GetTensorMutableData", value), bytes)).set(new Uint8Array(t.data.buffer, t.data.byteOffset, bytes));
  return value;
}

/** A copy of a CPU tensor value in a new typed array. */
export function fromValue(api: OrtApi, value: Ptr, what: string): TensorData {
  const { dtype, shape } = layoutOf(api, value, what);
  const bytes = numel(shape) * ELEMENT[dtype].bytes;
  const buffer = bytes > 0 ? (api.koffi.view(api.out("GetTensorMutableData", value), bytes) as ArrayBuffer).slice(0) : new ArrayBuffer(0);
  return { dtype, shape, data: new ELEMENT[dtype].array(buffer) };
}

/** ONNX Runtime's description of a device's memory (release it). */
export function memoryInfo(api: OrtApi, device: Device): Ptr {
  if (device.provider === "cpu") return api.out("CreateCpuMemoryInfo", ORT_DEVICE_ALLOCATOR, ORT_MEM_TYPE_DEFAULT);
  return api.out("CreateMemoryInfo", "Cuda", ORT_DEVICE_ALLOCATOR, device.deviceId, ORT_MEM_TYPE_DEFAULT);
}

/**
 * Copies between the host and a device through Identity programs (one per dtype and rank) whose input and output are
 * bound with ONNX Runtime's IO binding: ONNX Runtime makes the copy the binding asks for.
 */
export class DeviceCopier {
  private readonly sessions = new Map<string, Ptr>();

  constructor(
    private readonly api: OrtApi,
    readonly device: Device,
    /** Creates a session of `model` on the device. */
    private readonly createSession: (model: Uint8Array) => Promise<Ptr>,
  ) {}

  /** Makes the program for `dtype` and `rank` ready, so that the copies below need no await before their run. */
  async prepare(dtype: DType, rank: number): Promise<Ptr> {
    const key = `${dtype}/${rank}`;
    let session = this.sessions.get(key);
    if (!session) {
      const b = new Builder("copy");
      b.output(
        identity(
          b.input(
            "x",
            dtype,
            Array.from({ length: rank }, (_, i) => `d${i}`),
          ),
        ),
        "y",
      );
      session = await this.createSession(serializeModel(b.root));
      this.sessions.set(key, session);
    }
    return session;
  }

  /** Releases the copy programs (later copies make them again). */
  release(): void {
    for (const session of this.sessions.values()) this.api.fn("ReleaseSession")(session);
    this.sessions.clear();
  }

  /** A device copy of a CPU tensor value (owned by the caller). */
  async toDevice(host: Ptr, dtype: DType, rank: number): Promise<Ptr> {
    const session = await this.prepare(dtype, rank);
    const binding = this.bind(session, host, this.device);
    try {
      await this.api.callAsync("RunWithBinding", session, null, binding);
      return boundOutputs(this.api, binding, 1)[0];
    } finally {
      this.api.fn("ReleaseIoBinding")(binding);
    }
  }

  /** A CPU copy of a device tensor value (owned by the caller); its program must be prepared (the copy runs synchronously). */
  toHost(value: Ptr, dtype: DType, rank: number): Ptr {
    const session = this.sessions.get(`${dtype}/${rank}`);
    if (!session) throw new OrtApiError("toHost", 1, `no copy program for ${dtype} rank ${rank}: prepare it first`);
    const binding = this.bind(session, value, { provider: "cpu", deviceId: 0 });
    try {
      this.api.call("RunWithBinding", session, null, binding);
      return boundOutputs(this.api, binding, 1)[0];
    } finally {
      this.api.fn("ReleaseIoBinding")(binding);
    }
  }

  /** An IO binding of a copy program: `input` in, the output bound to memory of `to` (release the binding). */
  private bind(session: Ptr, input: Ptr, to: Device): Ptr {
    const api = this.api;
    const binding = api.out("CreateIoBinding", session);
    const info = memoryInfo(api, to);
    try {
      api.call("BindInput", binding, "x", input);
      api.call("BindOutputToDevice", binding, "y", info);
      return binding;
    } catch (e) {
      api.fn("ReleaseIoBinding")(binding);
      throw e;
    } finally {
      api.fn("ReleaseMemoryInfo")(info);
    }
  }
}

/** The values a bound run produced, in binding order (each owned by the caller). */
export function boundOutputs(api: OrtApi, binding: Ptr, count: number): Ptr[] {
  const array = [null as Ptr];
  const n = [0];
  api.call("GetBoundOutputValues", binding, api.cpuAllocator, array, n);
  try {
    return api.koffi.decode(array[0], "void*", count) as Ptr[];
  } finally {
    api.call("AllocatorFree", api.cpuAllocator, array[0]);
  }
}

/** Frees the native value of a resident tensor the program forgot to release. */
const unreleased = new FinalizationRegistry<{ api: OrtApi; value: Ptr }>(({ api, value }) => api.fn("ReleaseValue")(value));

/** A tensor an ONNX Runtime run left in the device's memory (the C-API engine's ResidentTensor). */
export class CapiResident implements ResidentTensor {
  readonly resident = true as const;
  readonly dtype: DType;
  readonly shape: readonly number[];
  private handle: Ptr;

  /** Takes ownership of `value`; `copier` (null on the CPU) copies it out, its program for this dtype and rank prepared. */
  constructor(
    private readonly api: OrtApi,
    value: Ptr,
    private readonly copier: DeviceCopier | null,
    what: string,
  ) {
    const { dtype, shape } = layoutOf(api, value, what);
    this.dtype = dtype;
    this.shape = shape;
    this.handle = value;
    unreleased.register(this, { api, value }, this);
  }

  /** The native value, for binding it to a run's input. */
  get value(): Ptr {
    if (!this.handle) throw new OrtApiError("resident", 1, `a resident ${this.dtype}[${this.shape.join(", ")}] tensor was used after release()`);
    return this.handle;
  }

  toHost(): TensorData {
    const value = this.value;
    if (!this.copier) return fromValue(this.api, value, "resident tensor");
    const host = this.copier.toHost(value, this.dtype, this.shape.length);
    try {
      return fromValue(this.api, host, "resident tensor");
    } finally {
      this.api.fn("ReleaseValue")(host);
    }
  }

  release(): void {
    if (!this.handle) return;
    unreleased.unregister(this);
    this.api.fn("ReleaseValue")(this.handle);
    this.handle = null;
  }
}
