// `alignc plan` against a run directory: for every node, whether its output is already stored (and so will not
// run) and, if not, why — compared with the plan of the directory's latest run: a setting that changed (old →
// new), an input whose key changed, files it reads that changed, a new implementation version ("made by different
// code"), or a node the last run did not finish (with the partial results it kept). A stored output made by code
// other than the current sources (node.json's `code`, executor-code.ts) is reused, with a note saying so.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ExecutionGraph, GraphNode } from "../../../graph/graph.ts";
import { contentHash } from "../../../util/content-hash.ts";
import { isObject, readJsonFile, UnreadableFileError } from "../../../util/read-json.ts";
import { latestCheckpointStep } from "../checkpoints.ts";
import { executorCode } from "../executor-code.ts";
import { type DeviceKindOf, type NodeKey, onCpu, storeKeys } from "../keys.ts";
import type { RunLayout } from "../layout.ts";
import type { NodeExecutor } from "../node-executor.ts";
import { Store } from "../store.ts";

export interface NodeStatus {
  id: string;
  key: string;
  stored: boolean;
  /** Why the node will run (empty when stored). */
  reasons: string[];
  /** About a stored output: it was made by different code (sources changed, version unchanged), so it is reused. */
  notes?: string[];
}

/** plan.json as runGraph writes it: the graph, each node's key, and the digests of the files nodes read. */
export interface StoredPlan extends ExecutionGraph {
  keys: Record<string, string>;
  externals?: Record<string, string>;
  /** Nodes whose key includes a device kind (cuda); absent ones ran on CPU. */
  devices?: Record<string, string>;
}

/** What to do about a plan.json that cannot be read. */
export const PLAN_REMEDY = "run `alignc run` again to rewrite it (or delete it)";

/** Reads a run directory's plan.json; one that is torn or not a plan is an UnreadableFileError naming it. */
export function readPlanFile(file: string): StoredPlan {
  return readJsonFile<StoredPlan>(file, PLAN_REMEDY, (v) =>
    !isObject(v) ? "not an object" : !Array.isArray(v.nodes) ? 'no "nodes" list' : !isObject(v.keys) ? 'no "keys" object' : undefined,
  );
}

/** The previous run's plan, for the reasons `alignc plan` gives; an unreadable one counts as none (run rewrites it). */
export function readStoredPlan(layout: RunLayout): StoredPlan | undefined {
  if (!existsSync(layout.plan)) return undefined;
  try {
    return readPlanFile(layout.plan);
  } catch (e) {
    if (e instanceof UnreadableFileError) return undefined;
    throw e;
  }
}

export function planStatus(
  graph: ExecutionGraph,
  layout: RunLayout,
  executors: ReadonlyMap<string, NodeExecutor>,
  entryDir: string,
  deviceOf: DeviceKindOf = onCpu,
): NodeStatus[] {
  const store = new Store(layout.store);
  const keys = storeKeys(graph, executors, entryDir, deviceOf);
  const previous = readStoredPlan(layout);
  const before = new Map((previous?.nodes ?? []).map((n) => [n.id, n]));
  return graph.nodes.map((node) => {
    const { key } = keys.get(node.id)!;
    if (store.has(key)) {
      const note = codeNote(node, store, key);
      return { id: node.id, key, stored: true, reasons: [], ...(note ? { notes: [note] } : {}) };
    }
    const reasons: string[] = [];
    const old = before.get(node.id);
    if (!previous) reasons.push(`no earlier run in ${layout.root}`);
    else if (!old) reasons.push("new: not in the latest run");
    else if (previous.keys[node.id] === key) {
      reasons.push("not finished by the latest run (it failed or was stopped)");
      const partial = partialResults(layout.store, key);
      if (partial) reasons.push(partial);
    } else {
      reasons.push(...differences(old, node, previous, keys));
    }
    return { id: node.id, key, stored: false, reasons };
  });
}

function differences(old: GraphNode, node: GraphNode, previous: StoredPlan, keys: ReadonlyMap<string, NodeKey>): string[] {
  const { external, device = "cpu" } = keys.get(node.id)!;
  const out: string[] = [];
  if (old.kind !== node.kind) return [`kind changed: ${old.kind} → ${node.kind}`];
  if (old.version !== node.version) out.push(`made by different code: ${node.kind} version ${old.version} → ${node.version}`);
  for (const d of paramDiff(old.params, node.params)) out.push(`setting ${d}`);
  const oldInputs = new Map(old.inputs.map((i) => [i.name, i]));
  for (const input of node.inputs) {
    const was = oldInputs.get(input.name);
    const from = `${input.node}${input.port ? `.${input.port}` : ""}`;
    if (!was) out.push(`new input ${input.name}: ${from}`);
    else if (was.node !== input.node || was.port !== input.port) out.push(`input ${input.name}: ${was.node}${was.port ? `.${was.port}` : ""} → ${from}`);
    else if (previous.keys[input.node] !== keys.get(input.node)?.key) out.push(`input ${input.name} (${from}) changed`);
  }
  for (const name of oldInputs.keys()) if (!node.inputs.some((i) => i.name === name)) out.push(`input ${name} removed`);
  if ((previous.externals?.[node.id] ?? undefined) !== external) out.push("files it reads changed");
  const deviceBefore = previous.devices?.[node.id] ?? "cpu";
  if (deviceBefore !== device) out.push(`device: ${deviceBefore} → ${device}`);
  if (out.length === 0) out.push(old.hash !== node.hash ? "alignc's compiler changed how this node is described" : "alignc's runtime changed (store key)");
  return out;
}

/**
 * Whether the stored entry of `key` was made by code other than the current sources of its kind: the entry's recorded
 * digest differs from the digest of the executor's source closure now. Its version is the same (it is part of the
 * key), so the output is reused; the drift test (test/node-kind-drift.test.ts) is what ties outputs to versions.
 * Nothing is said when either digest is unknown (entries made before node.json recorded it, an install without src/).
 */
function codeNote(node: GraphNode, store: Store, key: string): string | undefined {
  let made: string | undefined;
  try {
    made = store.info(key).code?.sha256;
  } catch {
    return undefined; // a torn node.json: the run reports it
  }
  const now = executorCode(node.kind).sha256;
  if (made === undefined || made === "unknown" || now === "unknown" || made === now) return undefined;
  return `made by different code: ${node.kind}'s sources changed since it was stored; its version (${node.version}) did not, so the stored output is reused`;
}

/** Settings that differ, as `path: old → new`. */
export function paramDiff(a: unknown, b: unknown, at = ""): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const isExpr = (v: unknown) => isObject(v) && "text" in v && "tree" in v;
  if (isObject(a) && isObject(b) && !isExpr(a) && !isExpr(b)) {
    const out: string[] = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) out.push(...paramDiff(a[k], b[k], at ? `${at}.${k}` : k));
    return out;
  }
  if (contentHash(a ?? null) === contentHash(b ?? null)) return [];
  return [`${at}: ${show(a)} → ${show(b)}`];
}

function show(v: unknown): string {
  if (v === undefined) return "(unset)";
  if (typeof v === "object" && v !== null && "text" in v) return String((v as { text: string }).text);
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** What an unfinished attempt of `key` kept in its scratch directory (replies of a rater, a training checkpoint). */
function partialResults(storeRoot: string, key: string): string | undefined {
  const dir = path.join(storeRoot, ".partial", key);
  if (!existsSync(dir)) return undefined;
  const step = latestCheckpointStep(dir);
  if (step !== undefined) return `checkpoint at step ${step} kept; alignc run --resume continues from it`;
  let lines = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".jsonl")) continue;
    lines += readFileSync(path.join(dir, f), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "").length;
  }
  return lines > 0 ? `${lines} results of the unfinished attempt are kept and will not be asked for again` : undefined;
}
