// The execution graph: the contract between the compiler and the runtime. Nodes are typed (kind + version),
// carry their resolved params as plain JSON, name their inputs, and have a content hash computed from all of
// that and their inputs' hashes — so a node whose hash is already stored need not run again.
// The JSON Schema in execution-graph.schema.json describes this shape; docs/execution-graph.md explains it.

export const GRAPH_SCHEMA_VERSION = 1;

export interface GraphInput {
  /** The role of the input for this node: model, data, rater, reference, similarity, … */
  name: string;
  node: string;
  /** A named output of the input node (the part of a split). */
  port?: string;
}

export interface GraphNode {
  /**
   * Unique, readable id: the declaration's qualified name, or for generated nodes `<phase>.reference` (reference
   * log-probs), `<evaluation>.answers.<model>` (an evaluated model's answers) and `<declaration>.<argument>` (a model
   * written in place of an argument: `cosine { model: hf("…") }`).
   */
  id: string;
  kind: string;
  /** Version of the runtime's implementation of this kind; part of the hash. */
  version: number;
  /** What the node produces: model, rater, similarity, evaluation, answers, logprobs, or a dataset kind (dataset:pairs). */
  produces: string;
  params: Record<string, unknown>;
  inputs: GraphInput[];
  /** Named outputs besides the main one (split parts). */
  ports?: string[];
  /**
   * Params the file did not write, by dotted path into `params` (`beta`, `objective.label_smoothing`): their values are
   * the constructor's defaults. Absent when every param was written. For people (reports); not part of the hash.
   */
  defaults?: string[];
  /** sha256 of kind, version, params and the inputs' hashes. */
  hash: string;
  /** Where it was declared. */
  source?: { file: string; line: number; column: number };
}

export interface ExecutionGraph {
  schemaVersion: number;
  compiler: { name: "alignc"; version: string };
  entry: string;
  /** Resolved values of every param. */
  params: Record<string, unknown>;
  trial?: { sweep: string; ordinal: number; id: string; assignments: Record<string, unknown> };
  /** In dependency order: every input appears before the nodes that use it. */
  nodes: GraphNode[];
}
