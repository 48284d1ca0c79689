// The runtime: owns ONNX Runtime sessions for the models the tensor compiler emits.
//
//   const rt = new Runtime({ provider: "cpu" });
//   const s = await rt.load(serializeModel(builder.root));   // compiled once per distinct model bytes
//   const out = await rt.run(s, { x: { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) } });
//   await rt.release();
//
// Sessions are cached by the sha256 of the model bytes plus the runtime's options, so loading the same graph
// again (the same training step for every trial of a sweep, say) reuses the compiled session. Concurrent loads
// of the same model share one creation. Feeds are checked against the session's declared inputs before ONNX
// Runtime sees them, so a missing or misspelled feed names the expected inputs.
import { realpathSync, statSync } from "node:fs";
import path from "node:path";
import type { ExternalTensorData, TensorData } from "../../tensor/ir/graph.ts";
import { sha256Hex } from "../../util/content-hash.ts";
import { BINDING_CUDA, bindingEngine } from "./binding-engine.ts";
import { capiEngine } from "./capi-engine.ts";
import {
  type ArenaStats,
  type CudaSettings,
  type Engine,
  type EngineName,
  type EngineSession,
  type GraphOptimizationLevel,
  isResident,
  type LogSeverity,
  type ResidentTensor,
  type Value,
} from "./engine.ts";
import { type Provider, requireProvider } from "./providers.ts";
import { validateTensorData } from "./tensors.ts";

export type { ArenaGrowth, ArenaStats, CudaSettings, EngineName, GraphOptimizationLevel, LogSeverity } from "./engine.ts";

const ENGINE_OF: Record<EngineName, Engine> = { binding: bindingEngine, capi: capiEngine };

/** The C-API engine's CUDA defaults: an arena that grows by what is asked, shared by every session of the process. */
export const CAPI_CUDA: Readonly<CudaSettings> = {
  arenaGrowth: "as-requested",
  memoryLimit: 0,
  tf32: true,
  sharedArena: true,
  shrinkArena: false,
  arenaMaxDeadBytes: 2 ** 20,
};

/** The engine a Runtime uses when its options name none: ALIGNC_ENGINE (binding or capi) when set, else the binding. */
export function defaultEngine(): EngineName {
  const name = process.env.ALIGNC_ENGINE;
  if (name === undefined || name === "") return "binding";
  if (!Object.hasOwn(ENGINE_OF, name)) throw new RangeError(`ALIGNC_ENGINE must be binding or capi, got ${JSON.stringify(name)}`);
  return name as EngineName;
}

export interface RuntimeOptions {
  /** Execution provider (default cpu). cuda is checked on first load and throws `ProviderUnavailableError` if missing. */
  provider?: Provider;
  /** CUDA device ordinal (default 0). */
  deviceId?: number;
  /** Threads inside one op; 0 lets ONNX Runtime choose (default 0). */
  intraOpThreads?: number;
  /** Threads across independent ops; above 1 it turns on ONNX Runtime's parallel execution mode (default 0 = sequential). */
  interOpThreads?: number;
  /** Graph optimization level (default all). */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Least severity ONNX Runtime logs (default 3, errors only: warnings such as node placement notes are noise here). */
  logSeverity?: LogSeverity;
  /**
   * Let idle worker threads spin (default false). On a shared 2-core machine spinning threads fight other processes:
   * measured on the medium train-loop model, spinning off costs ~9% when idle and saves ~32% under contention.
   */
  spinning?: boolean;
  /**
   * Write ONNX Runtime's profile (Chrome trace JSON, one event per node run) to files starting with this path prefix;
   * `Runtime.endProfiling(session)` returns the file. For benchmarks and performance work only.
   */
  profilePrefix?: string;
  /**
   * Which engine makes and runs sessions: onnxruntime-node's binding (default) or ONNX Runtime's C API through an FFI
   * ("capi"), which alone can pass the CUDA settings below (docs/cuda-engine.md).
   */
  engine?: EngineName;
  /** CUDA provider settings (the C-API engine; the binding takes only ONNX Runtime's defaults, `BINDING_CUDA`). */
  cuda?: Partial<CudaSettings>;
  /**
   * One copy of each external-data weight (a Hugging Face checkpoint's) shared by every session on the device, instead
   * of one per session. C-API engine only; default on for it on CUDA (on the CPU, ONNX Runtime maps the files in place).
   */
  shareWeights?: boolean;
}

/** A feed that does not match the session's inputs, or an output name the model does not have: a bug in the caller. */
export class SessionFeedError extends Error {
  override name = "SessionFeedError";
}

/**
 * Where a model's external-data initializers are (ONNX external data, e.g. frozen weights read in place from a
 * checkpoint's safetensors files): `folder`, and the file names in it the model's `location`s name
 * (`externalDataFiles(graph)`). ONNX Runtime memory-maps them; the session cache key includes the folder's real path
 * and each file's size and mtime, so a checkpoint rewritten in place is not served by a stale session.
 */
export interface ExternalDataFolder {
  folder: string;
  files: readonly string[];
  /** The external initializers by name (`externalTensors(graph)`): lets the C-API engine share one copy between sessions. */
  tensors?: readonly (ExternalTensorData & { name: string })[];
}

/** A compiled model, as returned by `Runtime.load`. Pass it back to `Runtime.run`. */
export interface LoadedSession {
  /** The cache key: sha256 of the model bytes (or the caller's key) and the options. */
  readonly key: string;
  readonly provider: Provider;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The engine's session (for metadata; use `Runtime.run` to run it). */
  readonly session: EngineSession;
}

/** sha256 of the model bytes, hex. */
export function modelHash(bytes: Uint8Array): string {
  return sha256Hex(bytes);
}

function checkCount(name: string, value: number | undefined): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return v;
}

export class Runtime {
  readonly options: Readonly<Required<Omit<RuntimeOptions, "cuda">>> & { readonly cuda: Readonly<CudaSettings> };
  /** Cached sessions by key; promises, so that concurrent loads of one model create one session. */
  private readonly sessions = new Map<string, Promise<LoadedSession>>();
  private readonly released = new WeakSet<LoadedSession>();
  /** Resident outputs handed out by runKeeping, freed by release() if their holder has not freed them. */
  private readonly kept = new Set<WeakRef<ResidentTensor>>();
  /** `kept`'s size at which references to collected tensors are dropped (a training node runs thousands of times). */
  private prunedAt = 1024;

  constructor(options: RuntimeOptions = {}) {
    const engine = options.engine ?? defaultEngine();
    if (!Object.hasOwn(ENGINE_OF, engine)) throw new RangeError(`unknown engine ${JSON.stringify(engine)}; alignc has binding and capi`);
    this.options = {
      provider: options.provider ?? "cpu",
      deviceId: checkCount("deviceId", options.deviceId),
      intraOpThreads: checkCount("intraOpThreads", options.intraOpThreads),
      interOpThreads: checkCount("interOpThreads", options.interOpThreads),
      graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
      logSeverity: options.logSeverity ?? 3,
      spinning: options.spinning ?? false,
      profilePrefix: options.profilePrefix ?? "",
      engine,
      shareWeights: options.shareWeights ?? (engine === "capi" && (options.provider ?? "cpu") === "cuda"),
      cuda: { ...(engine === "capi" ? CAPI_CUDA : BINDING_CUDA), ...options.cuda },
    };
    const limit = this.options.cuda.memoryLimit;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`cuda.memoryLimit must be a whole number of bytes (0 = no limit), got ${limit}`);
    const dead = this.options.cuda.arenaMaxDeadBytes;
    if (!Number.isSafeInteger(dead) || dead < 0)
      throw new RangeError(`cuda.arenaMaxDeadBytes must be a whole number of bytes (0 = ONNX Runtime's default), got ${dead}`);
  }

  /** How many sessions are cached (loading or loaded). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * The session for `model`, created on first use. `key`, when given, stands in for the content hash (the
   * caller vouches that equal keys mean equal bytes, e.g. a graph hash it already has). A model with external-data
   * initializers needs `external`: the folder its locations are relative to.
   */
  load(model: Uint8Array, key?: string, external?: ExternalDataFolder): Promise<LoadedSession> {
    const o = this.options;
    let folder: ReturnType<typeof externalIdentity> | undefined;
    try {
      folder = external ? externalIdentity(external) : undefined;
    } catch (e) {
      return Promise.reject(e);
    }
    const fullKey = `${key ?? modelHash(model)}${folder ? `|ext:${folder.identity}` : ""}|${o.provider}:${o.deviceId}|t${o.intraOpThreads}/${o.interOpThreads}|opt-${o.graphOptimizationLevel}|log${o.logSeverity}|spin${o.spinning ? 1 : 0}|prof${o.profilePrefix}|${o.engine}${o.shareWeights ? "+shared" : ""}${o.provider === "cuda" ? `:${JSON.stringify(o.cuda)}` : ""}`;
    let pending = this.sessions.get(fullKey);
    if (!pending) {
      pending = this.create(model, fullKey, folder && { realFolder: folder.realFolder, ...(external?.tensors ? { tensors: external.tensors } : {}) });
      this.sessions.set(fullKey, pending);
      // A failed load is not cached: the next call tries again (after, say, the CUDA libraries were installed).
      pending.catch(() => {
        if (this.sessions.get(fullKey) === pending) this.sessions.delete(fullKey);
      });
    }
    return pending;
  }

  private async create(model: Uint8Array, key: string, external?: { realFolder: string; tensors?: ExternalDataFolder["tensors"] }): Promise<LoadedSession> {
    const o = this.options;
    if (o.provider !== "cpu") await requireProvider(o.provider);
    const { engine, ...settings } = o;
    const session = await ENGINE_OF[engine].create(model, {
      ...settings,
      ...(external !== undefined ? { externalFolder: external.realFolder, ...(external.tensors ? { externalTensors: external.tensors } : {}) } : {}),
    });
    return { key, provider: o.provider, inputNames: session.inputNames, outputNames: session.outputNames, session };
  }

  /**
   * The arena counters of this runtime's sessions (C-API engine; undefined with the binding or before any session):
   * the session whose arena reserved most — with a shared CUDA arena every session reports the same one.
   */
  async arenaStats(): Promise<ArenaStats | undefined> {
    let best: ArenaStats | undefined;
    for (const r of await Promise.allSettled(this.sessions.values())) {
      const stats = r.status === "fulfilled" ? r.value.session.arenaStats() : undefined;
      if (stats && (!best || stats.reserved > best.reserved)) best = stats;
    }
    return best;
  }

  /** Ends the profiles of this runtime's sessions (profilePrefix): ONNX Runtime writes each one's JSON next to the prefix. */
  async endProfiling(): Promise<void> {
    for (const pending of this.sessions.values()) await (await pending).session.endProfiling();
  }

  /**
   * Runs `loaded` on `feeds` (exactly the model's inputs) and returns the named `outputs` (default: all of them).
   * Throws `SessionFeedError` for missing, extra or mistyped feeds and unknown output names.
   */
  async run(loaded: LoadedSession, feeds: Record<string, TensorData>, outputs?: readonly string[]): Promise<Record<string, TensorData>> {
    return (await this.runKeeping(loaded, feeds, outputs ?? loaded.outputNames, [])) as Record<string, TensorData>;
  }

  /** Whether this runtime's engine keeps outputs resident between runs (the C-API engine does; the binding copies them out). */
  get keepsResident(): boolean {
    return this.options.engine === "capi";
  }

  /**
   * Like `run`, with feeds that may be resident tensors, and the outputs in `keep` left resident (on the GPU with
   * CUDA) when the engine can (`keepsResident`); the caller releases what it keeps.
   */
  async runKeeping(loaded: LoadedSession, feeds: Record<string, Value>, outputs: readonly string[], keep: readonly string[]): Promise<Record<string, Value>> {
    if (this.released.has(loaded)) throw new SessionFeedError(`the session ${loaded.key.slice(0, 12)}… was released; load the model again`);
    checkFeeds(loaded, feeds);
    const unknown = [...outputs, ...keep].filter((n) => !loaded.outputNames.includes(n));
    if (unknown.length > 0) throw new SessionFeedError(`unknown output ${list(unknown)}; the model's outputs are ${list(loaded.outputNames)}`);
    const result = await loaded.session.run(feeds, outputs, new Set(keep));
    for (const v of Object.values(result)) if (isResident(v)) this.kept.add(new WeakRef(v));
    if (this.kept.size >= this.prunedAt) {
      for (const ref of this.kept) if (ref.deref() === undefined) this.kept.delete(ref);
      this.prunedAt = Math.max(1024, 2 * this.kept.size);
    }
    return result;
  }

  /**
   * Releases every cached session and every resident tensor a run kept that is still alive (a resident value holds
   * its session's memory — with CUDA the whole arena — until it is freed); the runtime stays usable (later loads create
   * fresh sessions). A trainer whose state was freed here cannot run again: its tensors say they were released.
   */
  async release(): Promise<void> {
    for (const ref of this.kept) ref.deref()?.release();
    this.kept.clear();
    const pending = [...this.sessions.values()];
    this.sessions.clear();
    const loaded = await Promise.allSettled(pending);
    for (const r of loaded) {
      if (r.status !== "fulfilled") continue;
      this.released.add(r.value);
      await r.value.session.release();
    }
  }

  /** Alias of `release`. */
  dispose(): Promise<void> {
    return this.release();
  }
}

/**
 * The external-data folder's real path, and its identity for the cache key: that path plus each file's name, size and
 * mtime. A file name must be a plain name in the folder (ONNX Runtime refuses others too; this says so first).
 */
function externalIdentity(external: ExternalDataFolder): { realFolder: string; identity: string } {
  const realFolder = realpathSync(external.folder);
  const parts = [realFolder];
  for (const file of [...external.files].sort()) {
    if (file === "" || file === "." || file === ".." || file.includes("/") || file.includes("\\") || path.isAbsolute(file))
      throw new SessionFeedError(`external data file ${JSON.stringify(file)} is not a plain file name in ${realFolder}`);
    const st = statSync(path.join(realFolder, file));
    parts.push(`${file}:${st.size}:${st.mtimeMs}`);
  }
  return { realFolder, identity: sha256Hex(JSON.stringify(parts)) };
}

function list(names: readonly string[]): string {
  return names.length === 0 ? "(none)" : names.map((n) => `"${n}"`).join(", ");
}

/** Checks feed names against the session's inputs, and each feed's storage, dtype and static dims against its metadata. */
function checkFeeds(loaded: LoadedSession, feeds: Record<string, Value>): void {
  const given = Object.keys(feeds);
  const missing = loaded.inputNames.filter((n) => !Object.hasOwn(feeds, n));
  const extra = given.filter((n) => !loaded.inputNames.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [];
    if (missing.length > 0) parts.push(`missing feed ${list(missing)}`);
    if (extra.length > 0) parts.push(`unexpected feed ${list(extra)}`);
    throw new SessionFeedError(`${parts.join("; ")}; the model's inputs are ${list(loaded.inputNames)}`);
  }
  for (const meta of loaded.session.inputs) {
    const feed = feeds[meta.name]!;
    const what = `feed "${meta.name}"`;
    if (meta.isTensor) {
      if (feed.dtype !== meta.type) throw new SessionFeedError(`${what}: the model takes ${meta.type}, got ${feed.dtype}`);
      // ONNX Runtime reports an unknown shape as [], so only a non-empty declared shape is checked.
      const declared = meta.shape;
      const shapeOk =
        declared.length === 0 || (declared.length === feed.shape.length && declared.every((d, i) => typeof d === "string" || d === feed.shape[i]));
      if (!shapeOk) throw new SessionFeedError(`${what}: the model takes shape [${declared.join(", ")}], got [${feed.shape.join(", ")}]`);
    }
    if (!isResident(feed)) validateTensorData(feed, what);
  }
}
