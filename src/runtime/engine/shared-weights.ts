// One copy of each frozen weight per device, shared by every session of the C-API engine that reads it.
//
// A Hugging Face model's weights are external-data initializers (read in place from its safetensors files). Each
// ONNX Runtime session would load its own copy onto the GPU: an online-DPO round holds four programs of one 7B model
// (generation, reference and sampler log-probs, training), 4 × 14 GB. Instead the engine uploads each tensor once,
// keyed by what it is (file, offset, length, dtype, shape — not its name, which differs between programs), and hands
// it to every session through `AddInitializer`; ONNX Runtime then uses that memory as the initializer. A tensor is
// freed when the last session holding it is released.
import { closeSync, openSync, readSync } from "node:fs";
import path from "node:path";
import type { DType } from "../../tensor/ir/dtype.ts";
import type { ExternalTensorData } from "../../tensor/ir/graph.ts";
import { serializeModel } from "../../tensor/onnx/serialize.ts";
import { Builder } from "../../tensor/ops/builder.ts";
import { identity } from "../../tensor/ops/unary.ts";
import { type OrtApi, OrtApiError, type Ptr } from "./ort-capi.ts";
import type { Provider } from "./providers.ts";

const ORT_DEVICE_ALLOCATOR = 0;
const ORT_MEM_TYPE_DEFAULT = 0;

/** A weight as a session sees it: its name in that session's graph and where its bytes are. */
export type NamedExternalTensor = ExternalTensorData & { name: string };

interface Entry {
  /** The OrtValue that owns the memory (ONNX Runtime allocated it). */
  owner: Ptr;
  /** A second OrtValue over the same memory that does not own it: what AddInitializer accepts. */
  view: Ptr;
  refs: number;
}

/** What one session holds: release it when the session is released. */
export interface WeightLease {
  /** Initializer name → the shared value, for AddInitializer. */
  readonly values: ReadonlyMap<string, Ptr>;
  release(): void;
}

export interface WeightDevice {
  provider: Provider;
  deviceId: number;
}

/** Element type numbers (ONNX TensorProto.DataType) of the dtypes a checkpoint's weights come in. */
const ONNX_TYPE: Partial<Record<DType, number>> = { float32: 1, float16: 10, bfloat16: 16, float64: 11, int64: 7, int32: 6, int8: 3, uint8: 2, bool: 9 };

export class SharedWeights {
  private readonly entries = new Map<string, Entry>();
  /** Identity programs that copy a host tensor to the device, by dtype and rank. */
  private readonly uploaders = new Map<string, Ptr>();

  constructor(
    private readonly api: OrtApi,
    /** Creates a session of `model` on the device (the engine's own settings, no shared weights). */
    private readonly createSession: (model: Uint8Array) => Promise<Ptr>,
  ) {}

  /** How many distinct tensors are held (for tests and logs). */
  get size(): number {
    return this.entries.size;
  }

  /** Uploads what is not held yet and takes a reference to every tensor `tensors` names. */
  async acquire(device: WeightDevice, folder: string, tensors: readonly NamedExternalTensor[]): Promise<WeightLease> {
    const taken: string[] = [];
    const values = new Map<string, Ptr>();
    const lease: WeightLease = {
      values,
      release: () => {
        for (const key of taken.splice(0)) this.drop(key);
        values.clear();
      },
    };
    try {
      for (const t of tensors) {
        const key = JSON.stringify([device.provider, device.deviceId, path.join(folder, t.location), t.offset, t.length, t.dtype, t.shape]);
        let entry = this.entries.get(key);
        if (!entry) {
          entry = await this.upload(device, folder, t);
          this.entries.set(key, entry);
        }
        entry.refs++;
        taken.push(key);
        values.set(t.name, entry.view);
      }
      return lease;
    } catch (e) {
      lease.release();
      throw e;
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.entries.delete(key);
    this.api.fn("ReleaseValue")(entry.view);
    this.api.fn("ReleaseValue")(entry.owner);
  }

  private async upload(device: WeightDevice, folder: string, t: NamedExternalTensor): Promise<Entry> {
    const api = this.api;
    const onnx = ONNX_TYPE[t.dtype];
    if (onnx === undefined) throw new OrtApiError("upload", 2, `a ${t.dtype} weight cannot be shared`);
    const shape = new BigInt64Array(t.shape.map(BigInt));
    const host = out(api, "CreateTensorAsOrtValue", api.cpuAllocator, shape, t.shape.length, onnx);
    // On the CPU the host tensor is the shared one; on a GPU it is only the staging copy.
    let owner: Ptr = null;
    try {
      if (t.length > 0) readInto(api, out(api, "GetTensorMutableData", host), path.join(folder, t.location), t.offset, t.length);
      owner = device.provider === "cpu" ? host : await this.toDevice(device, host, t.dtype, t.shape.length);
      const memInfo = memoryInfo(api, device);
      try {
        const data = out(api, "GetTensorMutableData", owner);
        return { owner, view: out(api, "CreateTensorWithDataAsOrtValue", memInfo, data, t.length, shape, t.shape.length, onnx), refs: 0 };
      } finally {
        api.fn("ReleaseMemoryInfo")(memInfo);
      }
    } catch (e) {
      if (owner && owner !== host) api.fn("ReleaseValue")(owner);
      owner = null;
      throw e;
    } finally {
      if (owner !== host) api.fn("ReleaseValue")(host);
    }
  }

  /** Copies a host tensor to the device through an Identity program whose output is bound to device memory. */
  private async toDevice(device: WeightDevice, host: Ptr, dtype: DType, rank: number): Promise<Ptr> {
    const api = this.api;
    const session = await this.uploader(dtype, rank);
    const binding = out(api, "CreateIoBinding", session);
    const memInfo = memoryInfo(api, device);
    try {
      api.call("BindInput", binding, "x", host);
      api.call("BindOutputToDevice", binding, "y", memInfo);
      await api.callAsync("RunWithBinding", session, null, binding);
      const values = [null as Ptr];
      const count = [0];
      api.call("GetBoundOutputValues", binding, api.cpuAllocator, values, count);
      const [value] = api.koffi.decode(values[0], "void*", 1) as [Ptr];
      api.call("AllocatorFree", api.cpuAllocator, values[0]);
      return value;
    } finally {
      api.fn("ReleaseMemoryInfo")(memInfo);
      api.fn("ReleaseIoBinding")(binding);
    }
  }

  private async uploader(dtype: DType, rank: number): Promise<Ptr> {
    const key = `${dtype}/${rank}`;
    let session = this.uploaders.get(key);
    if (!session) {
      const b = new Builder("upload");
      const x = b.input(
        "x",
        dtype,
        Array.from({ length: rank }, (_, i) => `d${i}`),
      );
      b.output(identity(x), "y");
      session = await this.createSession(serializeModel(b.root));
      this.uploaders.set(key, session);
    }
    return session;
  }
}

function out(api: OrtApi, name: Parameters<OrtApi["call"]>[0], ...args: unknown[]): Ptr {
  const result = [null as Ptr];
  api.call(name, ...args, result);
  return result[0];
}

function memoryInfo(api: OrtApi, device: WeightDevice): Ptr {
  if (device.provider === "cpu") return out(api, "CreateCpuMemoryInfo", ORT_DEVICE_ALLOCATOR, ORT_MEM_TYPE_DEFAULT);
  return out(api, "CreateMemoryInfo", "Cuda", ORT_DEVICE_ALLOCATOR, device.deviceId, ORT_MEM_TYPE_DEFAULT);
}

/** Reads `length` bytes at `offset` of `file` straight into native memory at `data`. */
function readInto(api: OrtApi, data: Ptr, file: string, offset: number, length: number): void {
  const view = new Uint8Array(api.koffi.view(data, length));
  const fd = openSync(file, "r");
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, view, done, length - done, offset + done);
      if (n === 0) throw new OrtApiError("upload", 1, `${file}: ended at byte ${offset + done}, before the ${length} bytes at ${offset} a weight needs`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}
