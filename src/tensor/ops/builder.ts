// The graph builder: owns a root graph and a stack of open subgraphs, gives every tensor and node a
// deterministic unique name, and stores constants. Op constructors (ops/*.ts) emit nodes through `emit`.
import { type DType, fromNumbers, type TypedArray } from "../ir/dtype.ts";
import { type Attr, type ExternalTensorData, Graph, type GraphOwner, type Node, type NodeMeta, Tensor, type TensorData } from "../ir/graph.ts";
import { type Shape, ShapeError } from "../ir/shape.ts";

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
  /** A naming hint (made unique), or the exact name when `exact` (already claimed by the caller). */
  name?: string;
  exact?: boolean;
}

export class Builder implements GraphOwner {
  readonly root: Graph;
  private scopes: Graph[];
  private counter = 0;
  private readonly used = new Set<string>();
  private readonly scalarCache = new Map<string, Tensor>();

  constructor(name = "main") {
    this.root = new Graph(name, this);
    this.scopes = [this.root];
  }

  get current(): Graph {
    return this.scopes[this.scopes.length - 1]!;
  }

  /** A name not used anywhere in the model (ONNX wants names unique across subgraphs too). */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, "_") || "t";
    if (!this.used.has(base) && !/_\d+$/.test(base)) {
      this.used.add(base);
      return base;
    }
    let name: string;
    do name = `${base}_${++this.counter}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new ShapeError(`the name "${name}" is already used in this model; graph inputs and outputs need unique names`);
    this.used.add(name);
    return name;
  }

  /**
   * Declares an input of the current graph. Root-graph names are the model's interface and used exactly;
   * in a subgraph (a body input such as Loop's iteration number) the name is a hint made unique.
   */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    const exact = this.current === this.root ? this.claim(name) : this.fresh(name);
    const t = new Tensor(exact, dtype, shape, this.current);
    this.current.inputs.push(t);
    return t;
  }

  /** Marks `t` as an output of the current graph, under `name` when given (inserting an Identity if needed). */
  output(t: Tensor, name?: string): Tensor {
    let out = t;
    const g = this.current;
    const needsCopy =
      (name !== undefined && g === this.root && name !== t.name) || t.graph !== g || g.inputs.includes(t) || g.outputs.includes(t) || g.initializers.has(t);
    if (needsCopy) {
      const outName = name !== undefined && g === this.root ? this.claim(name) : undefined;
      out = this.emit("Identity", [t], [{ dtype: t.dtype, shape: t.shape, name: outName ?? name ?? `${t.name}_out`, exact: outName !== undefined }])[0]!;
    }
    g.outputs.push(out);
    return out;
  }

  /** A constant stored as an initializer of the root graph, so every subgraph can read it. */
  constant(value: TensorData, hint = "const"): Tensor {
    const t = new Tensor(this.fresh(hint), value.dtype, value.shape, this.root);
    this.root.initializers.set(t, value);
    return t;
  }

  /** A scalar or 1-D constant from plain numbers; small ones are shared. */
  tensor(dtype: DType, values: number | readonly number[], shape?: number[]): Tensor {
    const list = typeof values === "number" ? [values] : values;
    const dims = shape ?? (typeof values === "number" ? [] : [list.length]);
    const key = `${dtype}|${dims.join(",")}|${list.join(",")}`;
    const small = list.length <= 16;
    const cached = small ? this.scalarCache.get(key) : undefined;
    if (cached) return cached;
    const t = this.constant({ dtype, shape: dims, data: fromNumbers(dtype, list) }, typeof values === "number" ? `c_${dtype}` : `c_${dtype}_vec`);
    if (small) this.scalarCache.set(key, t);
    return t;
  }

  /** Raw constant from a typed array (weights and other large values). */
  data(dtype: DType, data: TypedArray, shape: number[], hint = "const"): Tensor {
    return this.constant({ dtype, shape, data }, hint);
  }

  /**
   * An initializer of the root graph whose bytes stay in a file (ONNX external data): the model holds only the
   * reference, and ONNX Runtime reads the bytes from the folder the session is given (graph.ts, `externalInitializers`).
   */
  external(ref: ExternalTensorData, hint = "external"): Tensor {
    const t = new Tensor(this.fresh(hint), ref.dtype, ref.shape, this.root);
    this.root.externalInitializers.set(t, ref);
    return t;
  }

  /** Builds a subgraph (a `Loop` or `If` body) whose nodes may read tensors of the enclosing graphs. */
  subgraph(name: string, body: (g: Graph) => void): Graph {
    const g = new Graph(this.fresh(name), this, this.current);
    this.scopes.push(g);
    try {
      body(g);
    } finally {
      this.scopes.pop();
    }
    return g;
  }

  /** Appends a node to the current graph; the op constructors have already checked and inferred shapes. */
  emit(
    op: string,
    inputs: readonly (Tensor | null)[],
    outputs: readonly OutputSpec[],
    attrs: Record<string, Attr> = {},
    domain = "",
    meta: NodeMeta = {},
  ): Tensor[] {
    const g = this.current;
    for (const t of inputs) {
      if (t && !g.sees(t)) throw new ShapeError(`${op}: input "${t.name}" belongs to graph "${t.graph.name}", which is not visible from "${g.name}"`);
    }
    const outs = outputs.map((o) => new Tensor(o.exact && o.name ? o.name : this.fresh(o.name ?? op.toLowerCase()), o.dtype, o.shape, g));
    const node: Node = { name: this.fresh(`n_${op}`), op, domain, inputs, outputs: outs, attrs, meta };
    for (const t of outs) t.producer = node;
    g.nodes.push(node);
    return outs;
  }
}

/** The builder that owns `t`'s graph. */
export function builderOf(t: Tensor): Builder {
  const owner = t.graph.owner;
  if (!(owner instanceof Builder)) throw new Error("tensor does not belong to a Builder");
  return owner;
}
