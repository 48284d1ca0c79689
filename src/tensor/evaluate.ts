// A reference interpreter of the tensor IR: plain TypeScript, float64 arithmetic, no optimisation. It is the
// oracle that ONNX Runtime's results are checked against, so it favours obvious code over speed, and it checks
// every computed shape and dtype against the IR (a mismatch is a shape-inference bug in an op constructor). Each
// op's kernel comes from the op registry (ops/registry.ts); what kernels share is in reference/.
import type { Graph, Node, Tensor, TensorData } from "./ir/graph.ts";
import { formatShape } from "./ir/shape.ts";
import { opDef } from "./ops/registry.ts";
import type { Kernel } from "./reference/kernel.ts";
import { castValue, fromTensorData, toTensorData, type Value } from "./reference/value.ts";

export type Feeds = ReadonlyMap<Tensor, TensorData> | Readonly<Record<string, TensorData>>;

/** Values computed in one graph, nested in the scope of the node that runs it (outer tensors stay visible). */
class Scope {
  private readonly values = new Map<Tensor, Value>();
  constructor(
    readonly graph: Graph,
    readonly parent?: Scope,
  ) {}

  set(t: Tensor, v: Value): void {
    this.values.set(t, v);
  }

  get(t: Tensor): Value | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const v = s.values.get(t);
      if (v) return v;
    }
    return undefined;
  }
}

/** State shared by the whole evaluation: sizes bound to named dimensions, converted initializers. */
class Evaluation {
  private readonly dims = new Map<string, number>();
  private readonly constants = new Map<TensorData, Value>();

  /** A tensor's value: computed, fed, or an initializer of the graph being run or an enclosing one. */
  read(scope: Scope, t: Tensor, user: string): Value {
    const v = scope.get(t);
    if (v) return v;
    for (let g: Graph | undefined = scope.graph; g; g = g.parent) {
      const data = g.initializers.get(t);
      if (!data) continue;
      let c = this.constants.get(data);
      if (!c) {
        c = this.check(t, fromTensorData(data), `initializer "${t.name}"`);
        this.constants.set(data, c);
      }
      return c;
    }
    throw new Error(`reference: ${user} reads "${t.name}", which has no value here (not fed, computed earlier, or an initializer in scope)`);
  }

  /** Checks a value against the IR's dtype and shape, binding named dimensions on first sight. */
  check(t: Tensor, v: Value, what: string): Value {
    const bad = (why: string) => new Error(`reference: ${what} is ${v.dtype}${formatShape(v.shape)}, the IR says ${t.dtype}${formatShape(t.shape)} (${why})`);
    if (v.dtype !== t.dtype) throw bad("dtype");
    if (v.shape.length !== t.shape.length) throw bad("rank");
    t.shape.forEach((d, i) => {
      const actual = v.shape[i]!;
      if (typeof d === "number") {
        if (d !== actual) throw bad(`dimension ${i}`);
        return;
      }
      const bound = this.dims.get(d);
      if (bound === undefined) this.dims.set(d, actual);
      else if (bound !== actual) throw bad(`"${d}" was ${bound} elsewhere`);
    });
    return v;
  }

  /** Binds `feeds` to the graph's inputs, runs its nodes in order, and returns its outputs. */
  run(graph: Graph, feeds: readonly Value[], parent?: Scope): Value[] {
    const scope = new Scope(graph, parent);
    if (feeds.length !== graph.inputs.length) throw new Error(`reference: graph "${graph.name}" has ${graph.inputs.length} inputs, got ${feeds.length} values`);
    graph.inputs.forEach((t, i) => {
      scope.set(t, this.check(t, feeds[i]!, `input "${t.name}" of graph "${graph.name}"`));
    });
    for (const node of graph.nodes) this.runNode(node, scope);
    return graph.outputs.map((t) => this.read(scope, t, `the outputs of graph "${graph.name}"`));
  }

  private runNode(node: Node, scope: Scope): void {
    const where = `node ${node.name} (${node.op}) in graph "${scope.graph.name}"`;
    const kernel: Kernel | undefined = node.domain === "" ? opDef(node.op)?.reference : undefined;
    if (!kernel) throw new Error(`reference: no kernel for op ${node.domain ? `${node.domain}.` : ""}${node.op} (${where})`);
    const inputs = node.inputs.map((t) => (t ? this.read(scope, t, where) : null));
    const results = kernel({ node, inputs, runSubgraph: (g, feeds) => this.run(g, feeds, scope) });
    if (results.length < node.outputs.length) throw new Error(`reference: ${where} computed ${results.length} outputs, the IR has ${node.outputs.length}`);
    node.outputs.forEach((t, i) => {
      // Kernels compute in float64; rounding to the declared dtype here is what makes float32 results match.
      const v = this.check(t, results[i]!, `output "${t.name}" of ${where}`);
      scope.set(t, castValue(v, t.dtype));
    });
  }
}

/**
 * Evaluates `graph` on `feeds` (keyed by input tensor or input name) and returns its outputs by name.
 * Floats are computed in float64 and rounded to their declared dtype after every node.
 */
export function evaluate(graph: Graph, feeds: Feeds): Record<string, TensorData> {
  const lookup = (t: Tensor): TensorData | undefined => (feeds instanceof Map ? feeds.get(t) : (feeds as Record<string, TensorData>)[t.name]);
  const values = graph.inputs.map((t) => {
    const data = lookup(t);
    if (!data) throw new Error(`reference: no value fed for input "${t.name}" of graph "${graph.name}"`);
    return fromTensorData(data);
  });
  const outputs = new Evaluation().run(graph, values);
  return Object.fromEntries(graph.outputs.map((t, i) => [t.name, toTensorData(outputs[i]!)]));
}
