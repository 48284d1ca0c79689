// The C-API engine: the same sessions as onnxruntime-node's binding, made and run through ONNX Runtime's C API
// (`ort-capi.ts`), so that alignc can do what the binding cannot — set the CUDA provider's arena growth, memory limit
// and TF32, share one CUDA arena and one copy of each checkpoint weight (`shared-weights.ts`) between sessions, shrink
// the arena after a run, and keep outputs resident on the device for the next run (IO binding, `runBound`). Tensors
// cross between alignc and ONNX Runtime in `capi-values.ts`; every native object is released in `finally`.
import type { TensorData } from "../../tensor/ir/graph.ts";
import { boundOutputs, CapiResident, DeviceCopier, fromValue, memoryInfo, shapeOf, takeString, toValue, typeName } from "./capi-values.ts";
import { type ArenaStats, type Engine, type EngineSession, type InputInfo, isResident, type SessionSettings, type Value } from "./engine.ts";
import { type OrtApi, OrtApiError, ortApi, type Ptr } from "./ort-capi.ts";
import { requireProvider } from "./providers.ts";
import { SharedWeights, type WeightLease } from "./shared-weights.ts";

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
    const device = deviceOf(api, s);
    device.sessions++;
    let lease: WeightLease | undefined;
    const ended = () => {
      lease?.release();
      sessionEnded(api, s);
    };
    try {
      if (s.shareWeights && s.externalTensors?.length && s.externalFolder) lease = await device.weights.acquire(s.externalFolder, s.externalTensors);
      const session = await createSession(api, model, s, lease?.values);
      return openSession(api, session, s, device.copier, ended);
    } catch (e) {
      ended();
      throw e;
    }
  },
};

/**
 * After a device's last session: its copy programs are released and its shared CUDA arena unregistered, so the
 * arena's memory goes back to the GPU once the last tensor from it is freed (a later session registers a new one).
 * Without this a process that is done with ONNX Runtime would keep the arena's high-water mark (another program on
 * the GPU, PyTorch in the benches, would find it taken).
 */
function sessionEnded(api: OrtApi, s: SessionSettings): void {
  const key = deviceKey(s);
  const d = devices.get(key);
  if (!d || --d.sessions > 0) return;
  devices.delete(key);
  d.copier.release();
  if (s.provider === "cuda" && sharedArenas.has(s.deviceId)) {
    sharedArenas.delete(s.deviceId);
    const memInfo = api.out("CreateMemoryInfo", "Cuda", ORT_ARENA_ALLOCATOR, s.deviceId, ORT_MEM_TYPE_DEFAULT);
    try {
      api.call("UnregisterAllocator", api.env, memInfo);
    } finally {
      api.fn("ReleaseMemoryInfo")(memInfo);
    }
  }
}

/** A session of `model`; `initializers` (name → value) replace the graph's own (shared weights). */
async function createSession(api: OrtApi, model: Uint8Array, s: SessionSettings, initializers?: ReadonlyMap<string, Ptr>): Promise<Ptr> {
  const options = api.out("CreateSessionOptions");
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
  for (const d of devices.values()) n += d.weights.size;
  return n;
}

/** Per provider and device, while it has sessions: the copies between host and device, the shared weights, the sessions. */
const devices = new Map<string, { copier: DeviceCopier; weights: SharedWeights; sessions: number }>();

const deviceKey = (s: SessionSettings) => `${s.provider}:${s.deviceId}`;

function deviceOf(api: OrtApi, s: SessionSettings): { copier: DeviceCopier; weights: SharedWeights; sessions: number } {
  const key = deviceKey(s);
  let d = devices.get(key);
  if (!d) {
    // Its copy programs run with the session's device settings, without profiling or shared weights of their own.
    const plain: SessionSettings = { ...s, profilePrefix: "", shareWeights: false, graphOptimizationLevel: "all" };
    delete plain.externalFolder;
    delete plain.externalTensors;
    const copier = new DeviceCopier(api, { provider: s.provider, deviceId: s.deviceId }, (model) => createSession(api, model, plain));
    d = { copier, weights: new SharedWeights(api, copier), sessions: 0 };
    devices.set(key, d);
  }
  return d;
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
  const cuda = api.out("CreateCUDAProviderOptions");
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
  const signature = JSON.stringify({ ...o, max_dead_bytes_per_chunk: s.cuda.arenaMaxDeadBytes });
  const registered = sharedArenas.get(s.deviceId);
  if (registered !== undefined) {
    if (registered !== signature)
      throw new RangeError(`the shared CUDA arena of device ${s.deviceId} was registered with ${registered}; a process has one (asked: ${signature})`);
    return;
  }
  const memInfo = api.out("CreateMemoryInfo", "Cuda", ORT_ARENA_ALLOCATOR, s.deviceId, ORT_MEM_TYPE_DEFAULT);
  const cfg: Record<string, number> = { arena_extend_strategy: s.cuda.arenaGrowth === "power-of-two" ? 0 : 1 };
  if (s.cuda.memoryLimit > 0) cfg.max_mem = s.cuda.memoryLimit;
  if (s.cuda.arenaMaxDeadBytes > 0) cfg.max_dead_bytes_per_chunk = s.cuda.arenaMaxDeadBytes;
  const [arenaKeys, arenaValues] = [Object.keys(cfg), Object.values(cfg)];
  const arena = api.out("CreateArenaCfgV2", arenaKeys, new BigUint64Array(arenaValues.map(BigInt)), arenaKeys.length);
  try {
    api.call("CreateAndRegisterAllocatorV2", api.env, "CUDAExecutionProvider", memInfo, arena, Object.keys(o), Object.values(o), Object.keys(o).length);
    sharedArenas.set(s.deviceId, signature);
  } catch (e) {
    if (!(e instanceof OrtApiError)) throw e;
    throw new OrtApiError(
      e.fn,
      e.ortCode,
      `${e.message}\n(the shared CUDA arena: without it each session has its own, as with the binding — cuda.sharedArena: false, bench flag --shared-arena off)`,
    );
  } finally {
    api.fn("ReleaseArenaCfg")(arena);
    api.fn("ReleaseMemoryInfo")(memInfo);
  }
}

function inputInfo(api: OrtApi, session: Ptr, index: number, name: string): InputInfo {
  const typeInfo = api.out("SessionGetInputTypeInfo", session, index);
  try {
    const kind = [0];
    api.call("GetOnnxTypeFromTypeInfo", typeInfo, kind);
    if (kind[0] !== ONNX_TYPE_TENSOR) return { name, isTensor: false, type: "", shape: [] };
    const tensorInfo = api.out("CastTypeInfoToTensorInfo", typeInfo); // owned by typeInfo
    const { onnx, dims } = shapeOf(api, tensorInfo);
    return { name, isTensor: true, type: typeName(onnx), shape: dims };
  } finally {
    api.fn("ReleaseTypeInfo")(typeInfo);
  }
}

function openSession(api: OrtApi, session: Ptr, s: SessionSettings, copier: DeviceCopier, onRelease: () => void): EngineSession {
  try {
    const count = (fn: "SessionGetInputCount" | "SessionGetOutputCount") => {
      const n = [0];
      api.call(fn, session, n);
      return Number(n[0]);
    };
    const inputNames = Array.from({ length: count("SessionGetInputCount") }, (_, i) =>
      takeString(api, api.out("SessionGetInputName", session, i, api.cpuAllocator)),
    );
    const outputNames = Array.from({ length: count("SessionGetOutputCount") }, (_, i) =>
      takeString(api, api.out("SessionGetOutputName", session, i, api.cpuAllocator)),
    );
    const inputs = inputNames.map((name, i) => inputInfo(api, session, i, name));
    const runOptions = api.out("CreateRunOptions");
    // The shrinkage config names the arenas to shrink after each run ("gpu:<id>").
    if (s.provider === "cuda" && s.cuda.shrinkArena) api.call("AddRunConfigEntry", runOptions, "memory.enable_memory_arena_shrinkage", `gpu:${s.deviceId}`);
    let released = false;
    return {
      inputNames,
      outputNames,
      inputs,
      run: (feeds, outputs, keep) =>
        keep?.size || Object.values(feeds).some(isResident)
          ? runBound(api, session, runOptions, feeds, outputs, keep ?? new Set(), s.provider === "cpu" ? null : copier)
          : run(api, session, runOptions, feeds as Record<string, TensorData>, outputs),
      arenaStats: () => (released ? undefined : arenaStats(api, session, s)),
      async endProfiling() {
        takeString(api, api.out("SessionEndProfiling", session, api.cpuAllocator));
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

/** `AllocatorGetStats`'s keys (BFCArena's counters) for each field of ArenaStats. */
const ARENA_STAT_KEYS = {
  inUse: "InUse",
  maxInUse: "MaxInUse",
  reserved: "TotalAllocated",
  maxAllocation: "MaxAllocSize",
  allocations: "NumAllocs",
  extensions: "NumArenaExtensions",
  limit: "Limit",
} as const satisfies Record<keyof ArenaStats, string>;

/** The counters of the arena `session` allocates from on its device; undefined when that allocator keeps none. */
function arenaStats(api: OrtApi, session: Ptr, s: SessionSettings): ArenaStats | undefined {
  const memInfo =
    s.provider === "cpu"
      ? api.out("CreateCpuMemoryInfo", ORT_ARENA_ALLOCATOR, ORT_MEM_TYPE_DEFAULT)
      : api.out("CreateMemoryInfo", "Cuda", ORT_ARENA_ALLOCATOR, s.deviceId, ORT_MEM_TYPE_DEFAULT);
  let allocator: Ptr;
  try {
    allocator = api.out("CreateAllocator", session, memInfo);
  } catch (e) {
    // A session without an allocator for that memory (no arena: e.g. the CPU arena turned off).
    if (e instanceof OrtApiError) return undefined;
    throw e;
  } finally {
    api.fn("ReleaseMemoryInfo")(memInfo);
  }
  try {
    let pairs: Ptr;
    try {
      pairs = api.out("AllocatorGetStats", allocator);
    } catch (e) {
      if (e instanceof OrtApiError) return undefined; // not an arena: ONNX Runtime keeps no counters for it
      throw e;
    }
    try {
      const value = (key: string): number => Number((api.fn("GetKeyValue")(pairs, key) as string | null) ?? 0);
      const stats = Object.fromEntries(Object.entries(ARENA_STAT_KEYS).map(([field, key]) => [field, value(key)])) as unknown as ArenaStats;
      // An allocator that keeps no counters answers with an empty set.
      return stats.reserved > 0 || stats.allocations > 0 ? stats : undefined;
    } finally {
      api.fn("ReleaseKeyValuePairs")(pairs);
    }
  } finally {
    api.fn("ReleaseAllocator")(allocator);
  }
}

/**
 * A run through IO binding: resident feeds bound as they are, outputs in `keep` left on the device as resident tensors
 * (their copy-out programs prepared), the others copied to the host. `copier` is null on the CPU.
 */
async function runBound(
  api: OrtApi,
  session: Ptr,
  runOptions: Ptr,
  feeds: Record<string, Value>,
  outputs: readonly string[],
  keep: ReadonlySet<string>,
  copier: DeviceCopier | null,
): Promise<Record<string, Value>> {
  const binding = api.out("CreateIoBinding", session);
  const host: Ptr[] = [];
  const hostInfo = memoryInfo(api, { provider: "cpu", deviceId: 0 });
  const deviceInfo = copier ? memoryInfo(api, copier.device) : hostInfo;
  try {
    for (const [name, feed] of Object.entries(feeds)) {
      let value: Ptr;
      if (isResident(feed)) {
        if (!(feed instanceof CapiResident)) throw new Error(`feed "${name}" is resident in another engine's memory`);
        value = feed.value;
      } else {
        value = toValue(api, feed, `feed "${name}"`);
        host.push(value);
      }
      api.call("BindInput", binding, name, value);
    }
    for (const name of outputs) api.call("BindOutputToDevice", binding, name, keep.has(name) ? deviceInfo : hostInfo);
    await api.callAsync("RunWithBinding", session, runOptions, binding);
    const values = boundOutputs(api, binding, outputs.length);
    const result: Record<string, Value> = {};
    let i = 0;
    try {
      for (; i < outputs.length; i++) {
        const name = outputs[i]!;
        if (keep.has(name)) {
          const kept = new CapiResident(api, values[i], copier, `output "${name}"`);
          result[name] = kept;
          await copier?.prepare(kept.dtype, kept.shape.length);
        } else {
          try {
            result[name] = fromValue(api, values[i], `output "${name}"`);
          } finally {
            api.fn("ReleaseValue")(values[i]);
          }
        }
      }
      return result;
    } catch (e) {
      for (const v of Object.values(result)) if (isResident(v)) v.release();
      for (i++; i < outputs.length; i++) api.fn("ReleaseValue")(values[i]);
      throw e;
    }
  } finally {
    for (const v of host) api.fn("ReleaseValue")(v);
    if (deviceInfo !== hostInfo) api.fn("ReleaseMemoryInfo")(deviceInfo);
    api.fn("ReleaseMemoryInfo")(hostInfo);
    api.fn("ReleaseIoBinding")(binding);
  }
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
