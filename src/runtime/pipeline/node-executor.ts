// What a node executor is: the runtime's implementation of one execution-graph node kind.
import type { GraphNode } from "../../graph/graph.ts";
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

export interface NodeExecutor {
  kind: string;
  /** Must equal the node's version: a different version means the compiler and runtime disagree on meaning. */
  version: number;
  /**
   * The node runs ONNX programs on the device its `device` setting names (or `alignc run --device`); the device kind
   * is then part of its store key. Nodes that get a runtime only through an input (a judge rater) need not say so.
   */
  usesDevice?: boolean;
  /** A digest of what the node reads from outside the graph (files); it is part of the node's store key. */
  external?(node: GraphNode, entryDir: string): string;
  /** Writes the node's outputs into ctx.out and returns a short summary (recorded in node.json). */
  run(ctx: ExecContext): Promise<Record<string, unknown>>;
}

/** An error in a node's inputs or settings found at run time; the message says what to change. */
export class NodeError extends Error {
  override name = "NodeError";
}
