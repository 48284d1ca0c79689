// What the runtime needs from an engine that runs ONNX models: create a session from model bytes with the runtime's
// settings, run it on CPU tensors, release it. Two engines implement it: onnxruntime-node's own binding
// (`binding-engine.ts`) and ONNX Runtime's C API through an FFI (`capi-engine.ts`), which can also configure the
// CUDA provider (arena, memory limit, TF32) and share one CUDA arena between sessions.
import type { DType } from "../../tensor/ir/dtype.ts";
import type { ExternalTensorData, TensorData } from "../../tensor/ir/graph.ts";
import type { Provider } from "./providers.ts";

export type GraphOptimizationLevel = "disabled" | "basic" | "extended" | "all";
/** ONNX Runtime's log severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. */
export type LogSeverity = 0 | 1 | 2 | 3 | 4;
export type EngineName = "binding" | "capi";
export const ENGINES: readonly EngineName[] = ["binding", "capi"];

/** How ONNX Runtime's CUDA arena grows when it runs out: by doubling its last extension (ORT's default), or by what was asked. */
export type ArenaGrowth = "power-of-two" | "as-requested";

/** CUDA provider settings only the C-API engine can pass (onnxruntime-node's binding passes the device id alone). */
export interface CudaSettings {
  arenaGrowth: ArenaGrowth;
  /** The arena's limit in bytes; 0 = no limit (ONNX Runtime's default). */
  memoryLimit: number;
  /** TF32 tensor cores for float32 matrix products (ONNX Runtime's default: on). */
  tf32: boolean;
  /** One CUDA arena for every session of the process (registered with the OrtEnv) instead of one per session. */
  sharedArena: boolean;
  /**
   * The shared arena splits a free chunk it hands out when more than this many bytes of it would go unused (ONNX
   * Runtime's default, 0 here, is 128 MiB: each tensor could strand up to that much; PyTorch's allocator splits above
   * 1 MiB). Only the shared arena takes it (its ArenaCfg); a session's own arena keeps ONNX Runtime's default.
   */
  arenaMaxDeadBytes: number;
  /** Give the arena's free memory back to CUDA after each run (ONNX Runtime's arena otherwise keeps all it grew to). */
  shrinkArena: boolean;
}

export interface SessionSettings {
  provider: Provider;
  deviceId: number;
  intraOpThreads: number;
  interOpThreads: number;
  graphOptimizationLevel: GraphOptimizationLevel;
  logSeverity: LogSeverity;
  spinning: boolean;
  profilePrefix: string;
  /** The real folder external-data initializers are read from (absent: the model has none). */
  externalFolder?: string;
  /** The model's external-data initializers by name (from the graph), for sharing one copy between sessions. */
  externalTensors?: readonly (ExternalTensorData & { name: string })[];
  /** Give every session one shared copy of each external-data initializer (C-API engine) instead of its own. */
  shareWeights: boolean;
  cuda: CudaSettings;
}

/** A declared input: its name, and for a tensor its element type and shape (a string for a symbolic dimension). */
export interface InputInfo {
  name: string;
  isTensor: boolean;
  /** ONNX Runtime's element type name (float32, int64, bool, …). */
  type: string;
  shape: readonly (number | string)[];
}

/**
 * A tensor kept in the engine's memory — on the GPU with CUDA — between runs, so that feeding it back costs no copy
 * (a trainer's parameters and optimizer state). The C-API engine makes them; `toHost` copies one into CPU memory.
 */
export interface ResidentTensor {
  readonly resident: true;
  readonly dtype: DType;
  readonly shape: readonly number[];
  toHost(): TensorData;
  /** Frees its memory now (it is also freed when garbage-collected); using it afterwards throws. */
  release(): void;
}

/** A feed or output: in CPU memory, or resident in the engine's. */
export type Value = TensorData | ResidentTensor;

export function isResident(v: Value): v is ResidentTensor {
  return (v as Partial<ResidentTensor>).resident === true;
}

/**
 * ONNX Runtime's arena allocator counters (`AllocatorGetStats`), in bytes: what its tensors hold now and at most
 * (`maxInUse`, comparable to PyTorch's `max_memory_allocated`), and what the arena took from the device (`reserved`,
 * comparable to `max_memory_reserved`: in use plus free chunks and split waste).
 */
export interface ArenaStats {
  inUse: number;
  maxInUse: number;
  reserved: number;
  /** The largest single allocation. */
  maxAllocation: number;
  allocations: number;
  /** Times the arena grew (a new region from the device). */
  extensions: number;
  /** The arena's limit (0 or less: none). */
  limit: number;
}

export interface EngineSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly InputInfo[];
  /**
   * Runs on feeds (already checked against `inputs`) and returns the named outputs: in CPU memory, except those in
   * `keep`, which an engine that can keeps resident (the binding cannot: it returns them in CPU memory too).
   */
  run(feeds: Record<string, Value>, outputs: readonly string[], keep?: ReadonlySet<string>): Promise<Record<string, Value>>;
  /**
   * The counters of the arena this session allocates from on its device (with a shared CUDA arena: the process's,
   * summed over every session); undefined where the engine cannot read them (the binding) or the allocator is no arena.
   */
  arenaStats(): ArenaStats | undefined;
  /** Ends profiling (settings.profilePrefix): ONNX Runtime writes the profile's JSON next to the prefix. */
  endProfiling(): Promise<void>;
  release(): Promise<void>;
}

export interface Engine {
  readonly name: EngineName;
  create(model: Uint8Array, settings: SessionSettings): Promise<EngineSession>;
}
