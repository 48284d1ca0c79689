// Runs an execution graph: nodes in dependency order, each output stored under its key in the content-addressed
// store. A node whose key is stored is not run again (in this run directory, across runs, trials and edits that do
// not touch it); a failure stops the run and keeps every output finished so far, so running again resumes.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { failureCode } from "../../../diagnostics/failures.ts";
import type { ExecutionGraph, GraphNode } from "../../../graph/graph.ts";
import type { NodeKind } from "../../../graph/node-kinds.ts";
import type { Params } from "../../../graph/params.ts";
import { appendFileInside, copyFileAtomic, mkdirInside, removeInside, symlinkAtomic, writeFileAtomic } from "../../../util/safe-write.ts";
import { ALIGNC_VERSION } from "../../../version.ts";
import { CheckpointExistsError, latestCheckpointStep, removeCheckpointLinks } from "../checkpoints.ts";
import { KeyClaims } from "../claims.ts";
import { Devices } from "../devices.ts";
import { executorCode, UNKNOWN_CODE } from "../executor-code.ts";
import { EVALUATION_JSON, EVALUATION_MD } from "../executors/eval-metrics.ts";
import { EXECUTORS } from "../executors/index.ts";
import { publishExport } from "../executors/stage-export.ts";
import { partDir } from "../executors/stage-reshape.ts";
import { METRICS_FILE } from "../executors/train-sft.ts";
import { type NodeKey, storeKeys } from "../keys.ts";
import type { RunLayout } from "../layout.ts";
import { codeDigest, type LockedNode, writeLock } from "../lock.ts";
import { formatDuration, type RunLog } from "../log.ts";
import { type ExecContext, NodeError, type NodeExecutor, type StoredInput } from "../node-executor.ts";
import { type EntryInfo, Store } from "../store.ts";
import { checkGraph, where } from "./refusals.ts";
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
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx): a node's failure carries that failure's code. */
  readonly code: string = "ALN7002";
  override name = "RunError";
  constructor(
    message: string,
    readonly node?: GraphNode,
    /** Whether running the same command again continues (false when the message asks for another command). */
    readonly rerun = true,
    /** What made the node fail. */
    failure?: unknown,
  ) {
    super(message);
    if (failure !== undefined) this.code = failureCode(failure) ?? INTERNAL_FAILURE;
  }
}

/** A node's failure that is a bug in alignc rather than something the user can change: shown with its stack. */
const INTERNAL_FAILURE = "internal";

export { where } from "./refusals.ts";

export async function runGraph(graph: ExecutionGraph, o: RunOptions): Promise<NodeOutcome[]> {
  const executors = o.executors ?? EXECUTORS;
  const checked = checkGraph(graph, executors, o.force ?? []);
  if ("refused" in checked) throw new RunError(checked.refused);
  const run = await openRun(graph, o, executors, checked.params);
  o.log.line(`alignc ${ALIGNC_VERSION} run ${graph.entry}${graph.trial ? ` trial ${graph.trial.ordinal} (${graph.trial.id})` : ""} → ${o.layout.root}`);
  for (const node of graph.nodes) await runNode(run, node);
  run.lock();
  return [...run.outcomes.values()];
}

/** A run under way: what it was asked, where it stores, and what it has done so far. */
interface Run {
  graph: ExecutionGraph;
  o: RunOptions;
  executors: ReadonlyMap<string, NodeExecutor>;
  /** Each node's decoded params (src/graph/params.ts), by node id. */
  params: ReadonlyMap<string, unknown>;
  entryDir: string;
  store: Store;
  claims: KeyClaims;
  tensorboard: RunTensorBoard;
  devices: Devices;
  keys: ReadonlyMap<string, NodeKey>;
  locked: Map<string, LockedNode>;
  outcomes: Map<string, NodeOutcome>;
  /** Writes align.lock as the run stands. */
  lock(): void;
}

/** The run directory and store made ready (leftovers of dead runs healed), the plan with every node's key written. */
async function openRun(graph: ExecutionGraph, o: RunOptions, executors: ReadonlyMap<string, NodeExecutor>, params: ReadonlyMap<string, unknown>): Promise<Run> {
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
  const lock = () => writeLock(layout.lock, graph, entrySha, code, locked);
  return { graph, o, executors, params, entryDir, store, claims, tensorboard, devices, keys, locked, outcomes: new Map(), lock };
}

/** One node: reused when its key is stored (or another run stores it meanwhile), else computed; then published. */
async function runNode(run: Run, node: GraphNode): Promise<void> {
  const { key, external } = run.keys.get(node.id)!;
  const inputs = storedInputs(run, node);
  const forced = (run.o.force ?? []).includes(node.id);
  const computed = (await isStored(run, node, key, forced)) ? undefined : await compute(run, node, { key, external, inputs, forced });
  const outcome = computed?.outcome ?? reuse(run, node, key);
  run.outcomes.set(node.id, outcome);
  run.locked.set(node.id, { key, external, status: outcome.status, seconds: outcome.seconds, summary: outcome.summary });
  try {
    publish(run.o.layout, node, outcome.dir, run.params.get(node.id));
    // Every training phase and evaluation of the run in TensorBoard, reused ones too (from their stored metrics).
    run.tensorboard.publish(node, key, outcome.dir, run.store.info(key), computed?.live, (model) => {
      const from = run.outcomes.get(model);
      return from ? finalStep(from.dir) : 0;
    });
  } catch (e) {
    // The output is stored; only copying it into the run directory failed (an export path, a full disk).
    run.locked.set(node.id, { key, external, status: "failed", error: describeFailure(e) });
    run.lock();
    throw new RunError(`${where(node)}: ${node.id} (${node.kind}) failed: ${describeFailure(e)}`, node, true, e);
  }
}

/** Whether the key is stored, or — another run sharing the store (a sweep's trial) computing it — once that run stores it. */
async function isStored(run: Run, node: GraphNode, key: string, forced: boolean): Promise<boolean> {
  if (forced) return false; // --force recomputes regardless
  if (run.store.has(key)) return true;
  const claimed = await run.claims.acquire(key, (h) =>
    run.o.log.line(`… ${node.id}: being computed by another run (pid ${h.pid} on ${h.host}); waiting for its result`),
  );
  return claimed === "stored";
}

function reuse(run: Run, node: GraphNode, key: string): NodeOutcome {
  const info = run.store.info(key);
  run.o.log.line(`· ${node.id} (${node.kind}): stored ${key.slice(0, 12)}, not run again`);
  return { id: node.id, key, status: "cached", seconds: 0, dir: run.store.dir(key), summary: info.summary };
}

/** Runs the node's executor into a staging directory that becomes its store entry; a failure stops the run. */
async function compute(
  run: Run,
  node: GraphNode,
  { key, external, inputs, forced }: { key: string; external: string | undefined; inputs: StoredInput[]; forced: boolean },
): Promise<{ outcome: NodeOutcome; live: LiveEvents }> {
  const { layout, log } = run.o;
  log.line(`▶ ${node.id} (${node.kind}) at ${where(node)}`);
  const started = new Date();
  const t0 = performance.now();
  removeInside(layout.root, layout.metrics(node.id));
  const live = run.tensorboard.start(node.id);
  const scratch = run.store.scratch(key);
  try {
    const info = await run.store.commit(
      key,
      async (staging): Promise<EntryInfo> => {
        const context = execContext(run, node, { inputs, key, staging, scratch, live, forced });
        const executor = run.executors.get(node.kind)!;
        const params = run.params.get(node.id) as Params<NodeKind>;
        const summary = await runReleasing(run.devices, () => executor.run(context, executor.settings(params)));
        return entryInfo(run, node, key, inputs, { started, seconds: (performance.now() - t0) / 1000, summary });
      },
      { replace: forced },
    );
    run.store.dropScratch(key);
    run.claims.release(key);
    log.line(`✓ ${node.id} in ${formatDuration(info.seconds)}`);
    return { outcome: { id: node.id, key, status: "ran", seconds: info.seconds, dir: run.store.dir(key), summary: info.summary }, live };
  } catch (e) {
    run.claims.release(key);
    log.clearStatus();
    let message = describeFailure(e);
    const kept = e instanceof CheckpointExistsError ? undefined : latestCheckpointStep(scratch);
    if (kept !== undefined) message += `\n${node.id}'s checkpoint at step ${kept} is kept; run again with --resume to continue from it`;
    run.locked.set(node.id, { key, external, status: "failed", error: message });
    run.lock();
    throw new RunError(`${where(node)}: ${node.id} (${node.kind}) failed: ${message}`, node, !(e instanceof CheckpointExistsError) && kept === undefined, e);
  }
}

/** The stored outputs of the node's inputs; a split's parts are directories inside its entry (`name.part`). */
function storedInputs(run: Run, node: GraphNode): StoredInput[] {
  return node.inputs.map((i) => {
    const from = run.outcomes.get(i.node)!;
    const dir = i.port ? partDir(from.dir, i.port) : from.dir;
    return { name: i.name, node: run.graph.nodes.find((n) => n.id === i.node)!, dir, info: run.store.info(from.key) };
  });
}

function execContext(
  run: Run,
  node: GraphNode,
  at: { inputs: StoredInput[]; key: string; staging: string; scratch: string; live: LiveEvents; forced: boolean },
): ExecContext {
  const { layout, log } = run.o;
  const { inputs } = at;
  return {
    node,
    inputs,
    input(name) {
      const found = inputs.find((i) => i.name === name);
      if (!found) throw new NodeError(`${node.id}: no input named ${name}`);
      return found;
    },
    out: at.staging,
    scratch: at.scratch,
    key: at.key,
    resume: run.o.resume ?? false,
    force: at.forced,
    checkpointLinks: checkpointLinks(layout, node.id),
    entryDir: run.entryDir,
    log,
    runtime: (device) => run.devices.get(device),
    metrics(rows) {
      appendFileInside(layout.root, layout.metrics(node.id), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
      at.live.append(rows);
    },
  };
}

/** What node.json records of a node's computed entry. */
function entryInfo(
  run: Run,
  node: GraphNode,
  key: string,
  inputs: readonly StoredInput[],
  done: { started: Date; seconds: number; summary: Record<string, unknown> },
): EntryInfo {
  return {
    key,
    node: node.id,
    kind: node.kind,
    version: node.version,
    params: node.params,
    inputs: inputs.map((i) => ({ name: i.name, node: i.node.id, key: run.keys.get(i.node.id)!.key })),
    alignc: ALIGNC_VERSION,
    // The registry's executor of the kind (tests may substitute their own, whose code is not the module's).
    code: run.executors.get(node.kind) === EXECUTORS.get(node.kind) ? executorCode(node.kind) : UNKNOWN_CODE,
    started: done.started.toISOString(),
    seconds: done.seconds,
    summary: done.summary,
  };
}

/** Runs a node's executor, then frees the sessions it loaded, whether it finished or failed. */
async function runReleasing<T>(devices: Devices, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } finally {
    await devices.releaseSessions();
  }
}

/** A user-facing reason: a coded failure (ALN7xxx) as its message says it; anything else (a bug or a library failure) with its stack. */
function describeFailure(e: unknown): string {
  if (failureCode(e)) return (e as Error).message;
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
function publish(layout: RunLayout, node: GraphNode, dir: string, params: unknown): void {
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
  if (node.kind === "stage.export") publishExport(dir, layout.root, (params as Params<"stage.export">).path);
}

/** Whether `p` is `dir` or below it (by name). */
function isBelow(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === "" || !(rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
}
