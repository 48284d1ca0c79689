// The C-API engine: the same sessions as onnxruntime-node's binding, made and run through ONNX Runtime's C API
// (`ort-capi.ts`), so that alignc can set what the binding cannot — the CUDA provider's arena growth, memory limit and
// TF32, one CUDA arena shared by every session, and arena shrinkage after a run. Feeds are copied into tensors ONNX
// Runtime allocates, outputs copied out into new typed arrays; every native object is released in `finally`.
import type { DType, TypedArray } from "../../tensor/ir/dtype.ts";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { numel } from "../../tensor/ir/shape.ts";
import type { Engine, EngineSession, InputInfo, SessionSettings } from "./engine.ts";
import { type OrtApi, ortApi, type Ptr } from "./ort-capi.ts";
import { requireProvider } from "./providers.ts";
import { SharedWeights } from "./shared-weights.ts";
import { TensorDataError, validateTensorData } from "./tensors.ts";

/** ONNX's element type numbers (TensorProto.DataType) of the dtypes alignc uses, with their byte size and array type. */
const ELEMENT: Record<DType, { onnx: number; bytes: number; array: new (b: ArrayBuffer) => TypedArray }> = {
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

const OPTIMIZATION = { disabled: 0, basic: 1, extended: 2, all: 99 } as const;
const ORT_ARENA_ALLOCATOR = 1;
const ORT_MEM_TYPE_DEFAULT = 0;
const ONNX_TYPE_TENSOR = 1;

/** Devices whose shared CUDA arena is registered with the OrtEnv (once per device and process). */
const sharedArenas = new Map<number, string>();

export const capiEngine: Engine = {
  name: "capi",
  async create(model: Uint8Array, s: SessionSettings): Promise<EngineSession> {
    // Before any CUDA call: where CUDA is missing, registering the shared arena aborts the process inside ONNX Runtime.
    if (s.provider !== "cpu") await requireProvider(s.provider);
    const api = ortApi();
    const lease =
      s.shareWeights && s.externalTensors?.length && s.externalFolder ? await weightsOf(api, s).acquire(s, s.externalFolder, s.externalTensors) : undefined;
    try {
      const session = await createSession(api, model, s, lease?.values);
      return openSession(api, session, s, () => lease?.release());
    } catch (e) {
      lease?.release();
      throw e;
    }
  },
};

/** A session of `model`; `initializers` (name → value) replace the graph's own (shared weights). */
async function createSession(api: OrtApi, model: Uint8Array, s: SessionSettings, initializers?: ReadonlyMap<string, Ptr>): Promise<Ptr> {
  const options = out(api, "CreateSessionOptions");
  try {
    configure(api, options, s);
    for (const [name, value] of initializers ?? []) api.call("AddInitializer", options, name, value);
    const session = [null as Ptr];
    await api.callAsync("CreateSessionFromArray", api.env, model, model.byteLength, options, session);
    return session[0];
  } finally {
    api.fn("ReleaseSessionOptions")(options);
  }
}

/** How many weight tensors the process's sessions share now, over all devices. */
export function sharedWeightCount(): number {
  let n = 0;
  for (const store of weightStores.values()) n += store.size;
  return n;
}

/** The shared weights of a device (one store per provider and device, for the process). */
const weightStores = new Map<string, SharedWeights>();

function weightsOf(api: OrtApi, s: SessionSettings): SharedWeights {
  const key = `${s.provider}:${s.deviceId}`;
  let store = weightStores.get(key);
  if (!store) {
    // Its upload programs run with the session's device settings, without profiling or shared weights of their own.
    const plain: SessionSettings = { ...s, profilePrefix: "", shareWeights: false, graphOptimizationLevel: "all" };
    delete plain.externalFolder;
    delete plain.externalTensors;
    store = new SharedWeights(api, (model) => createSession(api, model, plain));
    weightStores.set(key, store);
  }
  return store;
}

/** Calls a `(…, _Out_ void** out)` function and returns what it wrote. */
function out(api: OrtApi, name: Parameters<OrtApi["call"]>[0], ...args: unknown[]): Ptr {
  const result = [null as Ptr];
  api.call(name, ...args, result);
  return result[0];
}

function configure(api: OrtApi, options: Ptr, s: SessionSettings): void {
  api.call("SetSessionGraphOptimizationLevel", options, OPTIMIZATION[s.graphOptimizationLevel]);
  api.call("SetSessionLogSeverityLevel", options, s.logSeverity);
  api.call("SetSessionExecutionMode", options, s.interOpThreads > 1 ? 1 : 0);
  if (s.intraOpThreads > 0) api.call("SetIntraOpNumThreads", options, s.intraOpThreads);
  if (s.interOpThreads > 0) api.call("SetInterOpNumThreads", options, s.interOpThreads);
  if (s.profilePrefix) api.call("EnableProfiling", options, s.profilePrefix);
  const entries: [string, string][] = [];
  if (!s.spinning) entries.push(["session.intra_op.allow_spinning", "0"], ["session.inter_op.allow_spinning", "0"]);
  if (s.externalFolder !== undefined) entries.push(["session.model_external_initializers_file_folder_path", s.externalFolder]);
  if (s.provider === "cuda" && s.cuda.sharedArena) {
    registerSharedArena(api, s);
    entries.push(["session.use_env_allocators", "1"]);
  }
  for (const [key, value] of entries) api.call("AddSessionConfigEntry", options, key, value);
  if (s.provider === "cuda") appendCuda(api, options, s);
}

/** The CUDA provider's options as ONNX Runtime's `UpdateCUDAProviderOptions` takes them. */
export function cudaProviderOptions(s: SessionSettings): Record<string, string> {
  const o: Record<string, string> = {
    device_id: String(s.deviceId),
    arena_extend_strategy: s.cuda.arenaGrowth === "power-of-two" ? "kNextPowerOfTwo" : "kSameAsRequested",
    use_tf32: s.cuda.tf32 ? "1" : "0",
  };
  if (s.cuda.memoryLimit > 0) o.gpu_mem_limit = String(s.cuda.memoryLimit);
  return o;
}

function appendCuda(api: OrtApi, options: Ptr, s: SessionSettings): void {
  const cuda = out(api, "CreateCUDAProviderOptions");
  try {
    const o = cudaProviderOptions(s);
    api.call("UpdateCUDAProviderOptions", cuda, Object.keys(o), Object.values(o), Object.keys(o).length);
    api.call("SessionOptionsAppendExecutionProvider_CUDA_V2", options, cuda);
  } finally {
    api.fn("ReleaseCUDAProviderOptions")(cuda);
  }
}

/**
 * Registers one CUDA arena for `s.deviceId` with the OrtEnv; sessions with `session.use_env_allocators` then allocate
 * from it instead of each growing its own. Its growth and limit are fixed by the first registration in the process.
 */
function registerSharedArena(api: OrtApi, s: SessionSettings): void {
  const o = cudaProviderOptions(s);
  const signature = JSON.stringify(o);
  const registered = sharedArenas.get(s.deviceId);
  if (registered !== undefined) {
    if (registered !== signature)
      throw new RangeError(`the shared CUDA arena of device ${s.deviceId} was registered with ${registered}; a process has one (asked: ${signature})`);
    return;
  }
  const memInfo = out(api, "CreateMemoryInfo", "Cuda", ORT_ARENA_ALLOCATOR, s.deviceId, ORT_MEM_TYPE_DEFAULT);
  const arenaKeys = ["arena_extend_strategy", ...(s.cuda.memoryLimit > 0 ? ["max_mem"] : [])];
  const arenaValues = [s.cuda.arenaGrowth === "power-of-two" ? 0 : 1, ...(s.cuda.memoryLimit > 0 ? [s.cuda.memoryLimit] : [])];
  const arena = out(api, "CreateArenaCfgV2", arenaKeys, new BigUint64Array(arenaValues.map(BigInt)), arenaKeys.length);
  try {
    api.call("CreateAndRegisterAllocatorV2", api.env, "CUDAExecutionProvider", memInfo, arena, Object.keys(o), Object.values(o), Object.keys(o).length);
    sharedArenas.set(s.deviceId, signature);
  } finally {
    api.fn("ReleaseArenaCfg")(arena);
    api.fn("ReleaseMemoryInfo")(memInfo);
  }
}

/** A string ONNX Runtime allocated with its default CPU allocator: read, then freed. */
function takeString(api: OrtApi, p: Ptr): string {
  try {
    return api.koffi.decode(p, "char", -1) as string;
  } finally {
    api.call("AllocatorFree", api.cpuAllocator, p);
  }
}

function typeName(onnx: number): string {
  return DTYPE_OF.get(onnx) ?? OTHER_TYPES[onnx] ?? `type ${onnx}`;
}

/** Element type and dimensions of a tensor type-and-shape info (symbolic dimensions by name). */
function shapeOf(api: OrtApi, info: Ptr): { onnx: number; dims: (number | string)[] } {
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

function inputInfo(api: OrtApi, session: Ptr, index: number, name: string): InputInfo {
  const typeInfo = out(api, "SessionGetInputTypeInfo", session, index);
  try {
    const kind = [0];
    api.call("GetOnnxTypeFromTypeInfo", typeInfo, kind);
    if (kind[0] !== ONNX_TYPE_TENSOR) return { name, isTensor: false, type: "", shape: [] };
    const tensorInfo = out(api, "CastTypeInfoToTensorInfo", typeInfo); // owned by typeInfo
    const { onnx, dims } = shapeOf(api, tensorInfo);
    return { name, isTensor: true, type: typeName(onnx), shape: dims };
  } finally {
    api.fn("ReleaseTypeInfo")(typeInfo);
  }
}

function openSession(api: OrtApi, session: Ptr, s: SessionSettings, onRelease: () => void): EngineSession {
  try {
    const count = (fn: "SessionGetInputCount" | "SessionGetOutputCount") => {
      const n = [0];
      api.call(fn, session, n);
      return Number(n[0]);
    };
    const inputNames = Array.from({ length: count("SessionGetInputCount") }, (_, i) =>
      takeString(api, out(api, "SessionGetInputName", session, i, api.cpuAllocator)),
    );
    const outputNames = Array.from({ length: count("SessionGetOutputCount") }, (_, i) =>
      takeString(api, out(api, "SessionGetOutputName", session, i, api.cpuAllocator)),
    );
    const inputs = inputNames.map((name, i) => inputInfo(api, session, i, name));
    const runOptions = out(api, "CreateRunOptions");
    // The shrinkage config names the arenas to shrink after each run ("gpu:<id>").
    if (s.provider === "cuda" && s.cuda.shrinkArena) api.call("AddRunConfigEntry", runOptions, "memory.enable_memory_arena_shrinkage", `gpu:${s.deviceId}`);
    let released = false;
    return {
      inputNames,
      outputNames,
      inputs,
      run: (feeds, outputs) => run(api, session, runOptions, feeds, outputs),
      async endProfiling() {
        takeString(api, out(api, "SessionEndProfiling", session, api.cpuAllocator));
      },
      async release() {
        if (released) return;
        released = true;
        api.fn("ReleaseRunOptions")(runOptions);
        api.fn("ReleaseSession")(session);
        onRelease();
      },
    };
  } catch (e) {
    api.fn("ReleaseSession")(session);
    throw e;
  }
}

/** A CPU tensor ONNX Runtime allocates, holding a copy of `t`. */
function toValue(api: OrtApi, t: TensorData, what: string): Ptr {
  validateTensorData(t, what);
  const element = ELEMENT[t.dtype];
  const value = out(api, "CreateTensorAsOrtValue", api.cpuAllocator, new BigInt64Array(t.shape.map(BigInt)), t.shape.length, element.onnx);
  const bytes = t.data.byteLength;
  if (bytes > 0) {
    const data = out(api, "GetTensorMutableData", value);
    new Uint8Array(api.koffi.view(data, bytes)).set(new Uint8Array(t.data.buffer, t.data.byteOffset, bytes));
  }
  return value;
}

/** A copy of an output tensor in a new typed array. */
function fromValue(api: OrtApi, value: Ptr, what: string): TensorData {
  const info = out(api, "GetTensorTypeAndShape", value);
  let onnx: number;
  let dims: (number | string)[];
  try {
    ({ onnx, dims } = shapeOf(api, info));
  } finally {
    api.fn("ReleaseTensorTypeAndShapeInfo")(info);
  }
  const dtype = DTYPE_OF.get(onnx);
  if (!dtype) throw new TensorDataError(`${what}: ONNX Runtime returned a ${typeName(onnx)} tensor, which alignc does not use`);
  const shape = dims as number[];
  const bytes = numel(shape) * ELEMENT[dtype].bytes;
  const buffer = bytes > 0 ? (api.koffi.view(out(api, "GetTensorMutableData", value), bytes) as ArrayBuffer).slice(0) : new ArrayBuffer(0);
  return { dtype, shape, data: new ELEMENT[dtype].array(buffer) };
}

async function run(
  api: OrtApi,
  session: Ptr,
  runOptions: Ptr,
  feeds: Record<string, TensorData>,
  outputs: readonly string[],
): Promise<Record<string, TensorData>> {
  const names = Object.keys(feeds);
  const values: Ptr[] = [];
  const fetched = api.koffi.alloc("void*", Math.max(outputs.length, 1));
  try {
    for (const name of names) values.push(toValue(api, feeds[name]!, `feed "${name}"`));
    api.koffi.encode(fetched, "void*", new Array(outputs.length).fill(null), outputs.length);
    await api.callAsync("Run", session, runOptions, names, values, names.length, [...outputs], outputs.length, fetched);
    const results = api.koffi.decode(fetched, "void*", outputs.length) as Ptr[];
    try {
      const result: Record<string, TensorData> = {};
      outputs.forEach((name, i) => {
        result[name] = fromValue(api, results[i], `output "${name}"`);
      });
      return result;
    } finally {
      for (const r of results) if (r) api.fn("ReleaseValue")(r);
    }
  } finally {
    for (const v of values) api.fn("ReleaseValue")(v);
    api.koffi.free(fetched);
  }
}
