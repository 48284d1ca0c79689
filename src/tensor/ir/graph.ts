// The tensor IR: symbolic tensors produced by nodes in graphs. A `Builder` (ops/builder.ts) creates them;
// autodiff, serialization, the text dump and the reference evaluator read them.
import type { DType, TypedArray } from "./dtype.ts";
import type { Shape } from "./shape.ts";

/** What a graph needs from the builder that made it (kept abstract so the IR does not import the builder). */
export interface GraphOwner {
  readonly current: Graph;
}

/** Concrete tensor contents (constants, initializers, runtime values in tests). */
export interface TensorData {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/**
 * An initializer whose bytes stay in a file (ONNX external data): `length` little-endian raw bytes at byte `offset`
 * of `location`, a file name relative to the folder the session is given (src/runtime/engine/session.ts).
 */
export interface ExternalTensorData {
  dtype: DType;
  shape: number[];
  location: string;
  offset: number;
  length: number;
}

export type Attr =
  | { type: "int"; value: number }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "ints"; value: number[] }
  | { type: "floats"; value: number[] }
  | { type: "tensor"; value: TensorData }
  | { type: "graph"; value: Graph };

export class Tensor {
  /** The node that computes this tensor; undefined for graph inputs and initializers. */
  producer?: Node;
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** The graph whose scope defines this tensor (a subgraph may read tensors of enclosing graphs). */
    readonly graph: Graph,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
}

export interface Node {
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  /** `null` marks an omitted optional input. */
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** Compiler-only facts, never serialized. */
  readonly meta: NodeMeta;
}

export interface NodeMeta {
  /** Autodiff treats this node's outputs as constants (see `stopGradient`). */
  stopGradient?: boolean;
  /** The recomputed segment the node belongs to: autodiff re-emits the segment for its backward (ops/recompute.ts). */
  segment?: number;
}

export class Graph {
  readonly inputs: Tensor[] = [];
  readonly outputs: Tensor[] = [];
  readonly nodes: Node[] = [];
  /** Constant tensors stored in the graph (frozen weights, folded constants). */
  readonly initializers = new Map<Tensor, TensorData>();
  /** Constant tensors whose data stays in files beside the model (frozen weights read in place), serialized after `initializers`. */
  readonly externalInitializers = new Map<Tensor, ExternalTensorData>();
  constructor(
    readonly name: string,
    readonly owner: GraphOwner,
    /** The enclosing graph for `Loop`/`If` bodies. */
    readonly parent?: Graph,
  ) {}

  /** Whether `t` is visible here: defined in this graph or in an enclosing one. */
  sees(t: Tensor): boolean {
    for (let g: Graph | undefined = this; g; g = g.parent) if (t.graph === g) return true;
    return false;
  }
}
