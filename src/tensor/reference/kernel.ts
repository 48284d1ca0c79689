// The shape of a reference kernel (each op's `reference`, beside its constructor in src/tensor/ops/), and helpers for
// reading its inputs and attributes.
import type { Graph, Node } from "../ir/graph.ts";
import type { Value } from "./value.ts";

export interface KernelArgs {
  node: Node;
  /** Input values in node order; null where an optional input was omitted. */
  inputs: readonly (Value | null)[];
  /** Evaluates a Loop/If body: `feeds` bind its inputs in order; it may read every value visible to the node. */
  runSubgraph(graph: Graph, feeds: readonly Value[]): Value[];
}

/** Computes a node's outputs in float64; the evaluator then rounds them to the declared dtypes. */
export type Kernel = (args: KernelArgs) => Value[];

/** Stops the evaluation with an error naming the node. */
export function fail(a: KernelArgs, msg: string): never {
  throw new Error(`reference ${a.node.op} (node ${a.node.name}): ${msg}`);
}

export function input(a: KernelArgs, i: number): Value {
  const v = a.inputs[i];
  if (!v) throw new Error(`reference ${a.node.op} (node ${a.node.name}): input ${i} is required`);
  return v;
}

export function optionalInput(a: KernelArgs, i: number): Value | null {
  return a.inputs[i] ?? null;
}

/**
 * An int or float attribute, or `fallback` when absent. ONNX stores float attributes as float32, so their values are
 * rounded to float32 here: the model means LayerNormalization's epsilon 1e-5 as 9.99999975e-6.
 */
export function numAttr(a: KernelArgs, name: string, fallback: number): number {
  const at = a.node.attrs[name];
  if (!at) return fallback;
  if (at.type !== "int" && at.type !== "float") throw new Error(`reference ${a.node.op}: attribute ${name} must be a number`);
  return at.type === "float" ? Math.fround(at.value) : at.value;
}

export function intsAttr(a: KernelArgs, name: string): number[] | undefined {
  const at = a.node.attrs[name];
  if (!at) return undefined;
  if (at.type !== "ints") throw new Error(`reference ${a.node.op}: attribute ${name} must be a list of ints`);
  return at.value;
}

export function strAttr(a: KernelArgs, name: string, fallback: string): string {
  const at = a.node.attrs[name];
  if (!at) return fallback;
  if (at.type !== "string") throw new Error(`reference ${a.node.op}: attribute ${name} must be a string`);
  return at.value;
}

export function graphAttr(a: KernelArgs, name: string): Graph {
  const at = a.node.attrs[name];
  if (at?.type !== "graph") throw new Error(`reference ${a.node.op} (node ${a.node.name}): needs graph attribute ${name}`);
  return at.value;
}

/** The elements of a (small) int64 argument such as axes or a shape. */
export function ints(v: Value): number[] {
  return Array.from(v.data);
}
