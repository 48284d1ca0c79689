// ONNX Runtime's C API, reached through koffi (an FFI with prebuilt binaries, no compiled addon) in the very
// `libonnxruntime.so.1` onnxruntime-node loads — one ONNX Runtime in the process, one OrtEnv.
//
// The C API is a table of function pointers (`OrtApi`, `onnxruntime_c_api.h`); each function is called by its slot in
// that table. New ONNX Runtime versions only append slots, so the slots below hold for the pinned 1.29.0 (API version
// 29) and later. The slots come from the header's `struct OrtApi` as a compiler lays it out, checked against every
// `static_assert(offsetof(OrtApi, …))` of `onnxruntime_c_api.cc`. `test/engine-capi.test.ts` calls every function
// declared here (the CUDA ones answer with an error on a machine without CUDA), so a wrong slot or prototype fails CI
// rather than a GPU run.
import { createRequire } from "node:module";
import path from "node:path";
import { bindingDir } from "./providers.ts";

type Koffi = typeof import("koffi");
/** An opaque native pointer as koffi hands it out. */
export type Ptr = unknown;

/** A failed C-API call: ONNX Runtime's error code and message, and which function returned them. */
export class OrtApiError extends Error {
  override name = "OrtApiError";
  constructor(
    readonly fn: string,
    readonly ortCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The API version alignc's slots and prototypes are written for: onnxruntime-node 1.29.0's. */
export const ORT_API_VERSION = 29;

/**
 * The functions alignc calls: slot in `OrtApi` and prototype (koffi's C-like syntax; every `OrtX*` is `void*`, an
 * `OrtStatus*` return is `void*`, null on success). `_Out_ void**` parameters take a one-element array.
 */
const FUNCTIONS = {
  CreateStatus: [0, "void* CreateStatus(int code, const char* msg)"],
  GetErrorCode: [1, "int GetErrorCode(void* status)"],
  GetErrorMessage: [2, "const char* GetErrorMessage(void* status)"],
  CreateEnv: [3, "void* CreateEnv(int level, const char* logid, _Out_ void** out)"],
  CreateSessionFromArray: [8, "void* CreateSessionFromArray(void* env, const void* data, size_t len, void* options, _Out_ void** out)"],
  Run: [
    9,
    "void* Run(void* session, void* runOptions, const char** inputNames, void** inputs, size_t inputCount, const char** outputNames, size_t outputCount, void* outputs)",
  ],
  CreateSessionOptions: [10, "void* CreateSessionOptions(_Out_ void** out)"],
  SetSessionExecutionMode: [13, "void* SetSessionExecutionMode(void* options, int mode)"],
  EnableProfiling: [14, "void* EnableProfiling(void* options, const char* prefix)"],
  SetSessionLogSeverityLevel: [22, "void* SetSessionLogSeverityLevel(void* options, int level)"],
  SetSessionGraphOptimizationLevel: [23, "void* SetSessionGraphOptimizationLevel(void* options, int level)"],
  SetIntraOpNumThreads: [24, "void* SetIntraOpNumThreads(void* options, int n)"],
  SetInterOpNumThreads: [25, "void* SetInterOpNumThreads(void* options, int n)"],
  SessionGetInputCount: [30, "void* SessionGetInputCount(void* session, _Out_ size_t* out)"],
  SessionGetOutputCount: [31, "void* SessionGetOutputCount(void* session, _Out_ size_t* out)"],
  SessionGetInputTypeInfo: [33, "void* SessionGetInputTypeInfo(void* session, size_t index, _Out_ void** out)"],
  SessionGetInputName: [36, "void* SessionGetInputName(void* session, size_t index, void* allocator, _Out_ void** out)"],
  SessionGetOutputName: [37, "void* SessionGetOutputName(void* session, size_t index, void* allocator, _Out_ void** out)"],
  CreateRunOptions: [39, "void* CreateRunOptions(_Out_ void** out)"],
  CreateTensorAsOrtValue: [48, "void* CreateTensorAsOrtValue(void* allocator, const int64_t* shape, size_t rank, int type, _Out_ void** out)"],
  CreateTensorWithDataAsOrtValue: [
    49,
    "void* CreateTensorWithDataAsOrtValue(void* memInfo, void* data, size_t len, const int64_t* shape, size_t rank, int type, _Out_ void** out)",
  ],
  GetTensorMutableData: [51, "void* GetTensorMutableData(void* value, _Out_ void** out)"],
  CastTypeInfoToTensorInfo: [55, "void* CastTypeInfoToTensorInfo(void* typeInfo, _Out_ void** out)"],
  GetOnnxTypeFromTypeInfo: [56, "void* GetOnnxTypeFromTypeInfo(void* typeInfo, _Out_ int* out)"],
  GetTensorElementType: [60, "void* GetTensorElementType(void* info, _Out_ int* out)"],
  GetDimensionsCount: [61, "void* GetDimensionsCount(void* info, _Out_ size_t* out)"],
  GetDimensions: [62, "void* GetDimensions(void* info, _Out_ int64_t* dims, size_t count)"],
  GetSymbolicDimensions: [63, "void* GetSymbolicDimensions(void* info, _Out_ const char** names, size_t count)"],
  GetTensorTypeAndShape: [65, "void* GetTensorTypeAndShape(void* value, _Out_ void** out)"],
  CreateMemoryInfo: [68, "void* CreateMemoryInfo(const char* name, int allocatorType, int id, int memType, _Out_ void** out)"],
  CreateCpuMemoryInfo: [69, "void* CreateCpuMemoryInfo(int allocatorType, int memType, _Out_ void** out)"],
  AllocatorFree: [76, "void* AllocatorFree(void* allocator, void* p)"],
  GetAllocatorWithDefaultOptions: [78, "void* GetAllocatorWithDefaultOptions(_Out_ void** out)"],
  ReleaseEnv: [92, "void ReleaseEnv(void* p)"],
  ReleaseStatus: [93, "void ReleaseStatus(void* p)"],
  ReleaseMemoryInfo: [94, "void ReleaseMemoryInfo(void* p)"],
  ReleaseSession: [95, "void ReleaseSession(void* p)"],
  ReleaseValue: [96, "void ReleaseValue(void* p)"],
  ReleaseRunOptions: [97, "void ReleaseRunOptions(void* p)"],
  ReleaseTypeInfo: [98, "void ReleaseTypeInfo(void* p)"],
  ReleaseTensorTypeAndShapeInfo: [99, "void ReleaseTensorTypeAndShapeInfo(void* p)"],
  ReleaseSessionOptions: [100, "void ReleaseSessionOptions(void* p)"],
  SessionEndProfiling: [110, "void* SessionEndProfiling(void* session, void* allocator, _Out_ void** out)"],
  AddSessionConfigEntry: [130, "void* AddSessionConfigEntry(void* options, const char* key, const char* value)"],
  CreateAllocator: [131, "void* CreateAllocator(void* session, void* memInfo, _Out_ void** out)"],
  ReleaseAllocator: [132, "void ReleaseAllocator(void* p)"],
  RunWithBinding: [133, "void* RunWithBinding(void* session, void* runOptions, void* binding)"],
  CreateIoBinding: [134, "void* CreateIoBinding(void* session, _Out_ void** out)"],
  ReleaseIoBinding: [135, "void ReleaseIoBinding(void* p)"],
  BindInput: [136, "void* BindInput(void* binding, const char* name, void* value)"],
  BindOutputToDevice: [138, "void* BindOutputToDevice(void* binding, const char* name, void* memInfo)"],
  GetBoundOutputValues: [140, "void* GetBoundOutputValues(void* binding, void* allocator, _Out_ void** values, _Out_ size_t* count)"],
  AddInitializer: [150, "void* AddInitializer(void* options, const char* name, void* value)"],
  ReleaseArenaCfg: [157, "void ReleaseArenaCfg(void* p)"],
  CreateArenaCfgV2: [164, "void* CreateArenaCfgV2(const char** keys, const size_t* values, size_t count, _Out_ void** out)"],
  AddRunConfigEntry: [165, "void* AddRunConfigEntry(void* runOptions, const char* key, const char* value)"],
  UnregisterAllocator: [177, "void* UnregisterAllocator(void* env, void* memInfo)"],
  SessionOptionsAppendExecutionProvider_CUDA_V2: [204, "void* SessionOptionsAppendExecutionProvider_CUDA_V2(void* options, void* cudaOptions)"],
  CreateCUDAProviderOptions: [205, "void* CreateCUDAProviderOptions(_Out_ void** out)"],
  UpdateCUDAProviderOptions: [206, "void* UpdateCUDAProviderOptions(void* cudaOptions, const char** keys, const char** values, size_t count)"],
  ReleaseCUDAProviderOptions: [208, "void ReleaseCUDAProviderOptions(void* p)"],
  CreateAndRegisterAllocatorV2: [
    259,
    "void* CreateAndRegisterAllocatorV2(void* env, const char* providerType, void* memInfo, void* arenaCfg, const char** keys, const char** values, size_t count)",
  ],
  GetKeyValue: [297, "const char* GetKeyValue(void* kvps, const char* key)"],
  ReleaseKeyValuePairs: [300, "void ReleaseKeyValuePairs(void* p)"],
  AllocatorGetStats: [319, "void* AllocatorGetStats(void* allocator, _Out_ void** out)"],
} as const satisfies Record<string, readonly [number, string]>;

export type OrtFunctionName = keyof typeof FUNCTIONS;
// biome-ignore lint/suspicious/noExplicitAny: koffi functions are untyped; the wrappers in this folder type them.
type KoffiFunction = ((...args: any[]) => any) & { async: (...args: any[]) => void };

export interface OrtApi {
  readonly koffi: Koffi;
  readonly version: string;
  /** The function by name; throws if alignc does not declare it. */
  fn(name: OrtFunctionName): KoffiFunction;
  /** Throws `OrtApiError` (and releases the status) when a call returned a non-null status. */
  check(fnName: string, status: Ptr): void;
  /** Calls `name` and checks its status. */
  call(name: OrtFunctionName, ...args: unknown[]): void;
  /** Calls a `(…, _Out_ void** out)` function and returns what it wrote. */
  out(name: OrtFunctionName, ...args: unknown[]): Ptr;
  /** Calls `name` on a worker thread (the event loop stays free) and checks its status. */
  callAsync(name: OrtFunctionName, ...args: unknown[]): Promise<void>;
  /** ONNX Runtime's default CPU allocator (owned by ONNX Runtime; never released). */
  readonly cpuAllocator: Ptr;
  /** The process's OrtEnv (shared with onnxruntime-node: ONNX Runtime keeps one per process). */
  readonly env: Ptr;
}

let loaded: OrtApi | undefined;

/** The C API of the ONNX Runtime onnxruntime-node loads; created on first use. */
export function ortApi(): OrtApi {
  loaded ??= openOrtApi();
  return loaded;
}

function openOrtApi(): OrtApi {
  const dir = bindingDir();
  if (!dir) throw new OrtApiError("load", 1, "onnxruntime-node's native binding folder was not found; reinstall dependencies (npm ci)");
  // Loading onnxruntime-node first makes the dynamic loader hand koffi the library already in the process.
  createRequire(import.meta.url)("onnxruntime-node");
  const koffi = createRequire(import.meta.url)("koffi") as Koffi;
  // ONNX Runtime's calls (session creation, a training run) need more native stack than koffi's defaults, and Run's
  // argument arrays (hundreds of names for a K-step trainer) more heap.
  koffi.config({ ...koffi.config(), sync_stack_size: 16 << 20, async_stack_size: 16 << 20, async_heap_size: 4 << 20 });
  const lib = koffi.load(path.join(dir, "libonnxruntime.so.1"));
  const base = lib.func("void* OrtGetApiBase()")();
  const [getApiPtr, getVersionPtr] = koffi.decode(base, "void*", 2) as [Ptr, Ptr];
  const version = koffi.decode(getVersionPtr, koffi.proto("const char* OrtGetVersionString()"))() as string;
  const table = koffi.decode(getApiPtr, koffi.proto("void* OrtGetApi(uint32_t version)"))(ORT_API_VERSION) as Ptr;
  if (!table)
    throw new OrtApiError("GetApi", 1, `ONNX Runtime ${version} does not offer C API version ${ORT_API_VERSION}; alignc pins onnxruntime-node 1.29.0`);
  const highest = Math.max(...Object.values(FUNCTIONS).map(([slot]) => slot));
  const pointers = koffi.decode(table, "void*", highest + 1) as Ptr[];
  const fns = new Map<string, KoffiFunction>();
  for (const [name, [slot, proto]] of Object.entries(FUNCTIONS)) fns.set(name, koffi.decode(pointers[slot], koffi.proto(proto)) as KoffiFunction);
  const fn = (name: OrtFunctionName): KoffiFunction => {
    const f = fns.get(name);
    if (!f) throw new OrtApiError(name, 1, `alignc declares no C-API function ${name}`);
    return f;
  };
  const check = (fnName: string, status: Ptr): void => {
    if (!status) return;
    const code = fn("GetErrorCode")(status) as number;
    const message = fn("GetErrorMessage")(status) as string;
    fn("ReleaseStatus")(status);
    throw new OrtApiError(fnName, code, `${fnName}: ${message}`);
  };
  const call = (name: OrtFunctionName, ...args: unknown[]): void => check(name, fn(name)(...args));
  const callAsync = (name: OrtFunctionName, ...args: unknown[]): Promise<void> =>
    new Promise((resolve, reject) => {
      fn(name).async(...args, (err: Error | null, status: Ptr) => {
        if (err) return reject(err);
        try {
          check(name, status);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  const outOf = (name: OrtFunctionName, ...args: unknown[]): Ptr => {
    const result: Ptr[] = [null];
    call(name, ...args, result);
    return result[0];
  };
  const allocator: Ptr[] = [null];
  call("GetAllocatorWithDefaultOptions", allocator);
  const env: Ptr[] = [null];
  // ONNX Runtime keeps one OrtEnv per process; onnxruntime-node made it, this takes a reference to the same one.
  call("CreateEnv", 3, "alignc", env);
  return { koffi, version, fn, check, call, out: outOf, callAsync, cpuAllocator: allocator[0], env: env[0] };
}
