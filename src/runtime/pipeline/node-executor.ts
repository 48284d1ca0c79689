// What a node executor is: the runtime's implementation of one execution-graph node kind. It is declared against the
// kind's params (src/graph/params.ts): the runner decodes every node's params before anything runs, and an executor
// turns its kind's typed params into what it works with (`settings`) and runs with those.

import { failureCode } from "../../diagnostics/failures.ts";
import type { GraphNode } from "../../graph/graph.ts";
import type { NodeKind } from "../../graph/node-kinds.ts";
import { decodeParams, type Params } from "../../graph/params.ts";
import type { Runtime } from "../engine/session.ts";
import type { RunLog } from "./log.ts";
import type { EntryInfo } from "./store.ts";

/** An input node's stored output. */
export interface StoredInput {
  /** The input's role for this node (model, data, model[0], …). */
  name: string;
  node: GraphNode;
  /** The store entry directory. */
  dir: string;
  info: EntryInfo;
}

export interface ExecContext {
  node: GraphNode;
  inputs: readonly StoredInput[];
  /** The input in role `name`; throws if the graph gave none. */
  input(name: string): StoredInput;
  /** The staging directory to write outputs into (empty; becomes the store entry). */
  out: string;
  /**
   * A directory kept across attempts of this node's key (store/.partial/<key>), removed once the entry is stored:
   * a stage that calls something slow or flaky (a rater) journals its results here so that a run killed half-way
   * asks again only for what is missing.
   */
  scratch: string;
  /** The entry file's directory: relative paths in params are relative to it. */
  entryDir: string;
  log: RunLog;
  /** The ONNX Runtime for a device setting (cpu, cuda, cuda:N, auto), created once per device. */
  runtime(device: unknown): Promise<Runtime>;
  /** Appends per-step metrics rows to the run's metrics/<node>.jsonl as they come. */
  metrics(rows: readonly object[]): void;
  /** The node's store key (its scratch directory's name). */
  key?: string;
  /**
   * `alignc run --resume`: a training phase whose scratch directory holds a checkpoint continues from it. Without it,
   * such a phase stops with a message (nothing is deleted). Absent means false.
   */
  resume?: boolean;
  /** The node was named by `--force`: a training phase deletes the checkpoints of an earlier attempt and starts over. */
  force?: boolean;
  /**
   * Where a training phase links its kept checkpoints in the run directory (<run dir>/checkpoints/<node id>); the
   * runtime removes it when the node's entry is stored. Absent: no links.
   */
  checkpointLinks?: string;
}

export interface NodeExecutor<K extends NodeKind = NodeKind, S = unknown> {
  kind: K;
  /** Must equal the node's version: a different version means the compiler and runtime disagree on meaning. */
  version: number;
  /**
   * The node runs ONNX programs on the device its `device` setting names (or `alignc run --device`); the device kind
   * is then part of its store key. Nodes that get a runtime only through an input (a judge rater) need not say so.
   */
  usesDevice?: boolean;
  /**
   * What the executor works with, from the node's decoded params: a plain conversion (the decoder has checked and
   * defaulted them), which reads every setting of the kind (test/node-params.test.ts holds it to that).
   */
  settings(params: Params<K>): S;
  /** A digest of what the node reads from outside the graph (files); it is part of the node's store key. */
  external?(settings: S, entryDir: string): string;
  /** Writes the node's outputs into ctx.out and returns a short summary (recorded in node.json). */
  run(ctx: ExecContext, settings: S): Promise<Record<string, unknown>>;
}

/** An executor of kind K, its settings' type inferred: `defineExecutor({ ...nodeKind(kind), settings(params) { … }, run(ctx, settings) { … } })`. */
export function defineExecutor<K extends NodeKind, S>(executor: NodeExecutor<K, S>): NodeExecutor<K, S> {
  return executor;
}

/** For kinds without params. */
export const noSettings = (): Record<string, never> => ({});

/** The settings `executor` runs `node` with: its params decoded against its kind, then converted. */
export function settingsOf<S>(executor: NodeExecutor<NodeKind, S>, node: GraphNode): S {
  return executor.settings(decodeParams(executor.kind, node.params));
}

/** The digest of what `node` reads from outside the graph, for executors that read any (part of its store key). */
export function externalDigest(executor: NodeExecutor, node: GraphNode, entryDir: string): string | undefined {
  return executor.external ? executor.external(settingsOf(executor, node), entryDir) : undefined;
}

/** An error in a node's inputs or settings found at run time; the message says what to change. */
export class NodeError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx); a failure it restates keeps its own. */
  readonly code: string = "ALN7001";
  override name = "NodeError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    const restated = failureCode(options?.cause);
    if (restated) this.code = restated;
  }
}
