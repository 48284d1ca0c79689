// Runs an execution graph: nodes in dependency order, each output stored under its key in the content-addressed
// store. A node whose key is stored is not run again (in this run directory, across runs, trials and edits that do
// not touch it); a failure stops the run and keeps every output finished so far, so running again resumes.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import type { ExecutionGraph, GraphNode } from "../../../graph/graph.ts";
import { unsupportedSettings } from "../../../graph/node-kinds.ts";
import { appendFileInside, copyFileAtomic, mkdirInside, removeInside, symlinkAtomic, writeFileAtomic } from "../../../util/safe-write.ts";
import { ALIGNC_VERSION } from "../../../version.ts";
import { ProviderUnavailableError } from "../../engine/providers.ts";
import { CheckpointExistsError, latestCheckpointStep, removeCheckpointLinks } from "../checkpoints.ts";
import { KeyClaims } from "../claims.ts";
import { Devices } from "../devices.ts";
import { executorCode, UNKNOWN_CODE } from "../executor-code.ts";
import { EVALUATION_JSON, EVALUATION_MD } from "../executors/eval-metrics.ts";
import { EXECUTORS } from "../executors/index.ts";
import { publishExport } from "../executors/stage-export.ts";
import { partDir } from "../executors/stage-reshape.ts";
import { METRICS_FILE } from "../executors/train-sft.ts";
import { storeKeys } from "../keys.ts";
import type { RunLayout } from "../layout.ts";
import { codeDigest, type LockedNode, writeLock } from "../lock.ts";
import { formatDuration, type RunLog } from "../log.ts";
import { NodeError, type NodeExecutor, type StoredInput } from "../node-executor.ts";
import { type EntryInfo, Store } from "../store.ts";
import { finalStep, type LiveEvents, RunTensorBoard } from "./tensorboard.ts";

export interface RunOptions {
  layout: RunLayout;
  entryAbsPath: string;
  log: RunLog;
  /** Node ids to run again even if stored (their dependants follow, as their inputs change only if the output does). */
  force?: readonly string[];
  /** Device for nodes without a device setting. */
  device?: string;
  /** `--resume`: training phases with a checkpoint of an interrupted attempt continue from it (docs/preference-training.md, "Checkpoints and resuming"). */
  resume?: boolean;
  /** Executors by kind (tests substitute their own). */
  executors?: ReadonlyMap<string, NodeExecutor>;
  /**
   * `--tensorboard DIR`: where the TensorBoard event files go (a folder per node) instead of <run dir>/tensorboard.
   * The folder is the user's choice, like the run directory; writes stay inside it.
   */
  tensorboard?: string;
}

export interface NodeOutcome {
  id: string;
  key: string;
  status: "ran" | "cached";
  seconds: number;
  dir: string;
  summary: Record<string, unknown>;
}

/** A run that stopped: the node, where it was declared, and why. Outputs finished before it are kept. */
export class RunError extends Error {
  override name = "RunError";
  constructor(
    message: string,
    readonly node?: GraphNode,
    /** Whether running the same command again continues (false when the message asks for another command). */
    readonly rerun = true,
  ) {
    super(message);
  }
}

export function where(node: GraphNode): string {
  return node.source ? `${node.source.file}:${node.source.line}:${node.source.column}` : node.id;
}

export async function runGraph(graph: ExecutionGraph, o: RunOptions): Promise<NodeOutcome[]> {
  const executors = o.executors ?? EXECUTORS;
  const missing = graph.nodes.filter((n) => executors.get(n.kind)?.version !== n.version);
  if (missing.length > 0) {
    const lines = missing.map((n) => {
      const e = executors.get(n.kind);
      return `  ${where(n)}: ${n.id} (${n.kind}${e ? ` version ${n.version}; this runtime implements version ${e.version}` : ""})`;
    });
    throw new RunError(
      `this version of alignc cannot run ${missing.length === 1 ? "this node" : "these nodes"} yet:\n${lines.join("\n")}\n` +
        `it runs ${[...executors.keys()].join(", ")}. Nothing was run.`,
    );
  }
  // Settings an executor does not implement (src/graph/node-kinds.ts; `check` refuses them too, ALN3021).
  const unsupported = graph.nodes.flatMap((n) =>
    unsupportedSettings(n.kind, n.params).map((u) => `  ${where(n)}: ${n.id}: ${u.setting} ${JSON.stringify(u.value)} (${u.why})`),
  );
  if (unsupported.length > 0)
    throw new RunError(
      `this version of alignc does not run ${unsupported.length === 1 ? "this setting" : "these settings"} yet:\n${unsupported.join("\n")}\nNothing was run.`,
    );
  const unknownForce = (o.force ?? []).filter((id) => !graph.nodes.some((n) => n.id === id));
  if (unknownForce.length > 0) throw new RunError(`--force names no node: ${unknownForce.join(", ")} (nodes: ${graph.nodes.map((n) => n.id).join(", ")})`);

  const { layout, log } = o;
  const entryDir = path.dirname(o.entryAbsPath);
  const store = new Store(layout.store);
  const claims = new KeyClaims(store);
  const tensorboard =
    o.tensorboard !== undefined
      ? new RunTensorBoard(path.resolve(o.tensorboard), path.resolve(o.tensorboard))
      : new RunTensorBoard(layout.tensorboard, layout.root);
  const devices = new Devices(o.device);
  const keys = storeKeys(graph, executors, entryDir, await devices.kinds(graph));
  mkdirSync(layout.root, { recursive: true }); // the run directory itself is the user's choice (--run-dir)
  // The default store is inside the run directory: a link there must not lead the store's writes elsewhere. (A store
  // given with --store is the user's choice, like the run directory.)
  if (isBelow(layout.root, layout.store)) mkdirInside(layout.root, layout.store);
  // Leftovers of runs that died (a crash, SIGKILL): their staging directories and half-done claim take-overs.
  const healed = store.heal();
  claims.heal();
  if (healed.length > 0)
    log.line(`· removed ${healed.length} staging director${healed.length === 1 ? "y" : "ies"} of runs that are gone: ${healed.join(", ")}`);
  const externals = Object.fromEntries([...keys].filter(([, k]) => k.external).map(([id, k]) => [id, k.external]));
  const devicesOfNodes = Object.fromEntries([...keys].filter(([, k]) => k.device).map(([id, k]) => [id, k.device]));
  const storedPlan = { ...graph, keys: Object.fromEntries([...keys].map(([id, k]) => [id, k.key])), externals, devices: devicesOfNodes };
  writeFileAtomic(layout.plan, `${JSON.stringify(storedPlan, null, 2)}\n`, { root: layout.root });
  const entrySha = createHash("sha256").update(readFileSync(o.entryAbsPath)).digest("hex");
  const code = codeDigest();
  const locked = new Map<string, LockedNode>();
  const outcomes = new Map<string, NodeOutcome>();
  const lock = () => writeLock(layout.lock, graph, entrySha, code, locked);

  log.line(`alignc ${ALIGNC_VERSION} run ${graph.entry}${graph.trial ? ` trial ${graph.trial.ordinal} (${graph.trial.id})` : ""} → ${layout.root}`);
  for (const node of graph.nodes) {
    const { key, external } = keys.get(node.id)!;
    const executor = executors.get(node.kind)!;
    const inputs: StoredInput[] = node.inputs.map((i) => {
      const from = outcomes.get(i.node)!;
      // A split's parts are directories inside its entry; `name.part` refers to one of them.
      const dir = i.port ? partDir(from.dir, i.port) : from.dir;
      return { name: i.name, node: graph.nodes.find((n) => n.id === i.node)!, dir, info: store.info(from.key) };
    });
    let outcome: NodeOutcome;
    let live: LiveEvents | undefined;
    const forced = (o.force ?? []).includes(node.id);
    let cached = store.has(key) && !forced;
    // Another run sharing the store (a sweep's trial) may be computing this key: wait for its entry, then use it.
    // (--force recomputes regardless.)
    if (!cached && !forced)
      cached =
        (await claims.acquire(key, (h) => log.line(`… ${node.id}: being computed by another run (pid ${h.pid} on ${h.host}); waiting for its result`))) ===
        "stored";
    if (cached) {
      const info = store.info(key);
      outcome = { id: node.id, key, status: "cached", seconds: 0, dir: store.dir(key), summary: info.summary };
      log.line(`· ${node.id} (${node.kind}): stored ${key.slice(0, 12)}, not run again`);
    } else {
      log.line(`▶ ${node.id} (${node.kind}) at ${where(node)}`);
      const started = new Date();
      const t0 = performance.now();
      removeInside(layout.root, layout.metrics(node.id));
      const events = tensorboard.start(node.id);
      live = events;
      const scratch = store.scratch(key);
      try {
        const info = await store.commit(key, async (staging): Promise<EntryInfo> => {
          const summary = await runReleasing(devices, () =>
            executor.run({
              node,
              inputs,
              input(name) {
                const found = inputs.find((i) => i.name === name);
                if (!found) throw new NodeError(`${node.id}: no input named ${name}`);
                return found;
              },
              out: staging,
              scratch,
              key,
              resume: o.resume ?? false,
              force: (o.force ?? []).includes(node.id),
              checkpointLinks: checkpointLinks(layout, node.id),
              entryDir,
              log,
              runtime: (device) => devices.get(device),
              metrics(rows) {
                appendFileInside(layout.root, layout.metrics(node.id), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
                events.append(rows);
              },
            }),
          );
          return {
            key,
            node: node.id,
            kind: node.kind,
            version: node.version,
            params: node.params,
            inputs: inputs.map((i) => ({ name: i.name, node: i.node.id, key: keys.get(i.node.id)!.key })),
            alignc: ALIGNC_VERSION,
            // The registry's executor of the kind (tests may substitute their own, whose code is not the module's).
            code: executor === EXECUTORS.get(node.kind) ? executorCode(node.kind) : UNKNOWN_CODE,
            started: started.toISOString(),
            seconds: (performance.now() - t0) / 1000,
            summary,
          };
        });
        store.dropScratch(key);
        claims.release(key);
        outcome = { id: node.id, key, status: "ran", seconds: info.seconds, dir: store.dir(key), summary: info.summary };
        log.line(`✓ ${node.id} in ${formatDuration(info.seconds)}`);
      } catch (e) {
        claims.release(key);
        log.clearStatus();
        let message = describeFailure(e);
        const kept = e instanceof CheckpointExistsError ? undefined : latestCheckpointStep(scratch);
        if (kept !== undefined) message += `\n${node.id}'s checkpoint at step ${kept} is kept; run again with --resume to continue from it`;
        locked.set(node.id, { key, external, status: "failed", error: message });
        lock();
        throw new RunError(`${where(node)}: ${node.id} (${node.kind}) failed: ${message}`, node, !(e instanceof CheckpointExistsError) && kept === undefined);
      }
    }
    outcomes.set(node.id, outcome);
    locked.set(node.id, { key, external, status: outcome.status, seconds: outcome.seconds, summary: outcome.summary });
    try {
      publish(layout, node, outcome.dir);
      // Every training phase and evaluation of the run in TensorBoard, reused ones too (from their stored metrics).
      tensorboard.publish(node, key, outcome.dir, store.info(key), live, (model) => {
        const from = outcomes.get(model);
        return from ? finalStep(from.dir) : 0;
      });
    } catch (e) {
      // The output is stored; only copying it into the run directory failed (an export path, a full disk).
      locked.set(node.id, { key, external, status: "failed", error: describeFailure(e) });
      lock();
      throw new RunError(`${where(node)}: ${node.id} (${node.kind}) failed: ${describeFailure(e)}`, node);
    }
  }
  lock();
  return [...outcomes.values()];
}

/** Runs a node's executor, then frees the sessions it loaded, whether it finished or failed. */
async function runReleasing<T>(devices: Devices, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } finally {
    await devices.releaseSessions();
  }
}

/** A user-facing reason: our own errors as they are; anything else (a bug or a library failure) with its stack. */
function describeFailure(e: unknown): string {
  if (e instanceof NodeError || e instanceof ProviderUnavailableError) return e.message;
  if (e instanceof Error && ["FeedError", "CheckpointError", "TokenizerError", "LoraError", "UnsafePathError"].includes(e.name)) return e.message;
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

/** Where a training node's checkpoints are linked in the run directory while it is unfinished. */
function checkpointLinks(layout: RunLayout, id: string): string {
  return path.join(layout.root, "checkpoints", id);
}

/**
 * Readable names in the run directory for the node's output: outputs/<id>, metrics, evaluation tables. The links to
 * checkpoints of an unfinished attempt go: they pointed into the scratch directory, removed once the entry is stored.
 */
function publish(layout: RunLayout, node: GraphNode, dir: string): void {
  removeCheckpointLinks(checkpointLinks(layout, node.id));
  // Every folder on the way is checked to stay inside the run directory; the link is made under a name of its own
  // and renamed into place (relative, from where the folder really is, so it works whatever way leads there).
  const link = layout.output(node.id);
  const linkDir = mkdirInside(layout.root, path.dirname(link));
  symlinkAtomic(path.relative(linkDir, realpathSync(dir)), link, { root: layout.root });
  const copy = (file: string, to: string) => {
    if (!existsSync(path.join(dir, file))) return;
    copyFileAtomic(path.join(dir, file), to, { root: layout.root });
  };
  copy(METRICS_FILE, layout.metrics(node.id));
  copy(EVALUATION_MD, layout.evaluation(node.id, "md"));
  copy(EVALUATION_JSON, layout.evaluation(node.id, "json"));
  if (node.kind === "stage.export") publishExport(dir, layout.root, String(node.params.path));
}

/** Whether `p` is `dir` or below it (by name). */
function isBelow(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === "" || !(rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
}
