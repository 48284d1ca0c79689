// Fake execution-graph nodes, stored inputs and executor contexts, for tests that call a node executor's run()
// directly instead of through alignc run (src/runtime/pipeline/node-executor.ts says what each part is).
import type { GraphNode } from "../../src/graph/graph.ts";
import type { Runtime } from "../../src/runtime/engine/session.ts";
import { RunLog } from "../../src/runtime/pipeline/log.ts";
import { type ExecContext, type NodeExecutor, type StoredInput, settingsOf } from "../../src/runtime/pipeline/node-executor.ts";
import type { EntryInfo } from "../../src/runtime/pipeline/store.ts";

const ZERO_KEY = "0".repeat(64);

/** A node of `kind` with `params` and no graph inputs (the context carries those); hash and produces are placeholders. */
export function graphNode(kind: string, params: Record<string, unknown> = {}, id = "n"): GraphNode {
  return { id, kind, version: 1, produces: "dataset", params, inputs: [], hash: ZERO_KEY };
}

/** The node.json of a store entry that `node` wrote under `key`. */
export function entryInfo(node: GraphNode, key = ZERO_KEY): EntryInfo {
  return { key, node: node.id, kind: node.kind, version: node.version, params: node.params, inputs: [], alignc: "test", started: "", seconds: 0, summary: {} };
}

/** `node`'s stored output in store entry `dir` (key `key`), given to a node in role `name`. */
export function storedInput(name: string, node: GraphNode, dir: string, key = ZERO_KEY): StoredInput {
  return { name, node, dir, info: entryInfo(node, key) };
}

export interface FakeContextOptions {
  node: GraphNode;
  /** The staging directory the executor writes into. */
  out: string;
  /** The inputs, or role → entry directory for executors that only read their inputs' directories (each gets a node named after its role). */
  inputs?: readonly StoredInput[] | Readonly<Record<string, string>>;
  /** Where relative paths in params are resolved. */
  entryDir: string;
  /** The scratch directory; `<out>.scratch` without it. */
  scratch?: string;
  /** The ONNX Runtime every device setting gets; without it asking for one rejects. */
  runtime?: Runtime;
  /** Without it the log is silent. */
  log?: RunLog;
}

/** An executor context as alignc run builds one, over `options`; metrics rows are dropped. */
export function fakeContext(options: FakeContextOptions): ExecContext {
  const given = options.inputs ?? [];
  const inputs: readonly StoredInput[] = Array.isArray(given)
    ? given
    : Object.entries(given).map(([name, dir]) => storedInput(name, graphNode("input", {}, name), dir));
  const { runtime } = options;
  return {
    node: options.node,
    inputs,
    input(name) {
      const found = inputs.find((i) => i.name === name);
      if (!found) throw new Error(`no input ${name}`);
      return found;
    },
    out: options.out,
    scratch: options.scratch ?? `${options.out}.scratch`,
    entryDir: options.entryDir,
    log: options.log ?? new RunLog(undefined, { write: () => {}, isTTY: false }),
    runtime: runtime ? async () => runtime : () => Promise.reject(new Error("no runtime in tests")),
    metrics: () => {},
  };
}

/**
 * Runs `executor` on `ctx` as alignc run does: the node's params decoded against its kind (defaults filled in, so a
 * test writes only the settings it means) and converted, then run. Params that do not fit reject, like a failed run.
 */
export async function runExecutor(executor: NodeExecutor, ctx: ExecContext): Promise<Record<string, unknown>> {
  return executor.run(ctx, settingsOf(executor, ctx.node));
}

/**
 * The executors with `kind`'s wrapped so that its metrics sink throws once a step beyond `step` arrives ("the machine
 * went away"): a training phase fails right after its checkpoint at `step` is complete.
 */
export function failingAfterStep(executors: ReadonlyMap<string, NodeExecutor>, kind: string, step: number): Map<string, NodeExecutor> {
  const real = executors.get(kind) as NodeExecutor;
  const failing = new Map(executors);
  failing.set(kind, {
    ...real,
    run: (ctx, settings) =>
      real.run(
        {
          ...ctx,
          metrics(rows) {
            if (rows.some((r) => (r as { step: number }).step > step)) throw new Error("the machine went away");
            ctx.metrics(rows);
          },
        },
        settings,
      ),
  });
  return failing;
}
