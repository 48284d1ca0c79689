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
import { type DeviceCopier, memoryInfo } from "./capi-values.ts";
import { type OrtApi, OrtApiError, type Ptr } from "./ort-capi.ts";

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

/** Element type numbers (ONNX TensorProto.DataType) of the dtypes a checkpoint's weights come in. */
const ONNX_TYPE: Partial<Record<DType, number>> = { float32: 1, float16: 10, bfloat16: 16, float64: 11, int64: 7, int32: 6, int8: 3, uint8: 2, bool: 9 };

export class SharedWeights {
  private readonly entries = new Map<string, Entry>();
  constructor(
    private readonly api: OrtApi,
    /** Copies to the store's device. */
    private readonly copier: DeviceCopier,
  ) {}

  /** How many distinct tensors are held (for tests and logs). */
  get size(): number {
    return this.entries.size;
  }

  /** Uploads what is not held yet and takes a reference to every tensor `tensors` names. */
  async acquire(folder: string, tensors: readonly NamedExternalTensor[]): Promise<WeightLease> {
    const device = this.copier.device;
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
          entry = await this.upload(folder, t);
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

  private async upload(folder: string, t: NamedExternalTensor): Promise<Entry> {
    const api = this.api;
    const device = this.copier.device;
    const onnx = ONNX_TYPE[t.dtype];
    if (onnx === undefined) throw new OrtApiError("upload", 2, `a ${t.dtype} weight cannot be shared`);
    const shape = new BigInt64Array(t.shape.map(BigInt));
    const host = api.out("CreateTensorAsOrtValue", api.cpuAllocator, shape, t.shape.length, onnx);
    // On the CPU the host tensor is the shared one; on a GPU it is only the staging copy.
    let owner: Ptr = null;
    try {
      if (t.length > 0) readInto(api, api.out("GetTensorMutableData", host), path.join(folder, t.location), t.offset, t.length);
      owner = device.provider === "cpu" ? host : await this.copier.toDevice(host, t.dtype, t.shape.length);
      const memInfo = memoryInfo(api, device);
      try {
        const data = api.out("GetTensorMutableData", owner);
        return { owner, view: api.out("CreateTensorWithDataAsOrtValue", memInfo, data, t.length, shape, t.shape.length, onnx), refs: 0 };
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
