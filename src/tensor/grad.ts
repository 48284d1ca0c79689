// Reverse-mode automatic differentiation over one graph: emits the backward pass into the builder's current graph
// (the same graph as the forward pass, e.g. a training Loop's body) as ordinary ONNX ops, with each op's VJP rule
// from the op registry (ops/registry.ts). It sits above the op families, which define those rules.
import { isFloat } from "./ir/dtype.ts";
import type { Node, Tensor } from "./ir/graph.ts";
import { formatShape, ShapeError } from "./ir/shape.ts";
import { builderOf } from "./ops/builder.ts";
import * as op from "./ops/index.ts";
import { opDef } from "./ops/registry.ts";
import { zerosLike } from "./ops/shape-ops.ts";

export class AutodiffError extends Error {
  override name = "AutodiffError";
}

export interface GradOptions {
  /** Upstream gradient of `loss` (defaults to 1 for a scalar loss). */
  seed?: Tensor;
}

/**
 * Gradients of `loss` with respect to each of `wrt` (graph inputs, loop-carried values or any intermediate tensor).
 * A variable the loss does not depend on gets zeros. Integer and bool tensors never carry gradients; neither do the
 * outputs of `stopGradient`.
 */
export function grad(loss: Tensor, wrt: readonly Tensor[], options: GradOptions = {}): Tensor[] {
  const b = builderOf(loss);
  const graph = b.current;
  if (!isFloat(loss.dtype)) throw new AutodiffError(`grad: the loss must be floating point, got ${loss.dtype}`);
  if (!options.seed && loss.rank !== 0)
    throw new AutodiffError(`grad: the loss must be a scalar, got shape ${formatShape(loss.shape)}; reduce it or pass a seed`);
  for (const w of wrt) if (!isFloat(w.dtype)) throw new AutodiffError(`grad: cannot differentiate with respect to "${w.name}" of type ${w.dtype}`);

  // Forward reachability from the variables, over the nodes of this graph in emission (topological) order.
  const varying = new Set<Tensor>(wrt);
  const nodes = graph.nodes;
  const onPath = new Set<Node>();
  for (const n of nodes) {
    if (n.meta.stopGradient) continue;
    if (n.inputs.some((t) => t && varying.has(t) && isFloat(t.dtype))) {
      onPath.add(n);
      for (const o of n.outputs) if (isFloat(o.dtype)) varying.add(o);
    }
  }

  const pending = new Map<Tensor, Tensor[]>();
  const addGrad = (t: Tensor, g: Tensor) => {
    const list = pending.get(t);
    if (list) list.push(g);
    else pending.set(t, [g]);
  };
  const total = (t: Tensor): Tensor | null => {
    const list = pending.get(t);
    if (!list) return null;
    // Fan-out: sum the contributions once, in a fixed order (deterministic).
    const sum = list.length === 1 ? list[0]! : b.emit("Sum", list, [{ dtype: t.dtype, shape: t.shape, name: `${t.name}_grad` }])[0]!;
    pending.set(t, [sum]);
    return sum;
  };

  if (varying.has(loss)) addGrad(loss, options.seed ?? b.tensor(loss.dtype, 1));
  // Where each variable tensor is read first (its gradient is whole once the backward has passed that node) and made.
  // Only nodes the loss depends on pass gradients back (the update's join of the parameters, say, does not).
  const needed = new Set<Tensor>([loss]);
  const toLoss = new Set<Node>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    toLoss.add(n);
    for (const t of n.inputs) if (t) needed.add(t);
  }
  const firstRead = new Map<Tensor, number>();
  const madeAt = new Map<Node, number>();
  nodes.forEach((n, i) => {
    madeAt.set(n, i);
    if (onPath.has(n) && toLoss.has(n)) for (const t of n.inputs) if (t && varying.has(t) && !firstRead.has(t)) firstRead.set(t, i);
  });
  const tiedIn = new Set<Tensor>();
  /**
   * Gradients whole before node `i` but made long before it (a parameter's, joined for the update only at the end):
   * a recomputed segment's copies wait for them (see Recomputation.emit), so that ONNX Runtime's order computes them
   * now rather than after the whole backward with their operands alive.
   */
  const finishedBefore = (i: number, segmentStart: number): Tensor[] => {
    const out: Tensor[] = [];
    for (const t of pending.keys()) {
      if (tiedIn.has(t) || (firstRead.get(t) ?? -1) <= i) continue;
      if (t.producer && t.graph === graph && (madeAt.get(t.producer) ?? -1) >= segmentStart) continue;
      tiedIn.add(t);
      out.push(total(t) as Tensor);
    }
    return out;
  };
  const recompute = new Recomputation(nodes);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!onPath.has(n)) continue;
    const grads = n.outputs.map(total);
    if (grads.every((g) => g === null)) continue;
    const rule = opDef(n.op)?.vjp;
    if (!rule) throw new AutodiffError(`autodiff: no gradient rule for ${n.op} (node ${n.name}); give its entry in src/tensor/ops/ a vjp`);
    const needs = n.inputs.map((t) => !!t && varying.has(t) && isFloat(t.dtype));
    // In a recomputed segment the rule reads the re-emitted copies of the node's inputs and outputs.
    const seen = recompute.view(n, grads.find((g) => g !== null) as Tensor, (start) => finishedBefore(i, start));
    const inputGrads = rule({ node: n, inputs: seen.inputs, outputs: seen.outputs, grads, needs });
    inputGrads.forEach((g, k) => {
      const t = n.inputs[k];
      if (!g || !t || !needs[k]) return;
      if (g.dtype !== t.dtype || g.rank !== t.rank || g.shape.some((d, j) => d !== t.shape[j]))
        throw new ShapeError(`autodiff: the ${n.op} rule returned ${g.dtype}${formatShape(g.shape)} for input ${k} of shape ${t.dtype}${formatShape(t.shape)}`);
      addGrad(t, g);
    });
  }
  return wrt.map((w) => total(w) ?? zerosLike(w));
}

/** The recomputed segments of a graph (ops/recompute.ts): each re-emitted once, when the backward first reaches it. */
class Recomputation {
  private readonly segments = new Map<number, Node[]>();
  private readonly copies = new Map<number, Map<Tensor, Tensor>>();
  /** Each segment's first node's index. */
  private readonly starts = new Map<number, number>();

  constructor(nodes: readonly Node[]) {
    for (const [i, n] of nodes.entries()) {
      const id = n.meta.segment;
      if (id === undefined) continue;
      if (!this.starts.has(id)) this.starts.set(id, i);
      const list = this.segments.get(id);
      if (list) list.push(n);
      else this.segments.set(id, [n]);
    }
  }

  /**
   * The inputs and outputs a node's rule reads: its own, or its segment's copies (`gradient`: one of its output
   * gradients; `finished(start)`: the gradients the copies also wait for, given where the segment starts).
   */
  view(n: Node, gradient: Tensor, finished: (segmentStart: number) => Tensor[]): { inputs: readonly (Tensor | null)[]; outputs: readonly Tensor[] } {
    const id = n.meta.segment;
    if (id === undefined) return n;
    let copy = this.copies.get(id);
    if (!copy) {
      copy = this.emit(this.segments.get(id) as Node[], gradient, finished(this.starts.get(id) as number));
      this.copies.set(id, copy);
    }
    const map = copy;
    return { inputs: n.inputs.map((t) => (t ? (map.get(t) ?? t) : t)), outputs: n.outputs.map((t) => map.get(t) ?? t) };
  }

  /**
   * Emits the segment's nodes again; inputs computed by the forward outside the segment are tied (+ 0) to `gradient`
   * and to the `finished` gradients — one element of each — so that ONNX Runtime, which orders nodes by walking back
   * from the outputs (docs/tensor-compiler.md, "Recomputation and ONNX Runtime's order"), runs the copies only after
   * the backward has reached them and after those gradients are made.
   */
  private emit(segment: readonly Node[], gradient: Tensor, finished: readonly Tensor[]): Map<Tensor, Tensor> {
    const b = builderOf(gradient);
    const copy = new Map<Tensor, Tensor>();
    const inside = new Set(segment.flatMap((n) => n.outputs));
    // Exactly 0 from one element of each gradient, whatever its value: s > s is false even for NaN and ±inf (a sum
    // with a NaN or an infinity of each sign is NaN). In float32: CUDA has no bfloat16 Greater kernel.
    const elementOf = (t: Tensor): Tensor => {
      const e =
        t.rank === 0
          ? op.reshape(t, [1])
          : op.slice(
              t,
              t.shape.map(() => 0),
              t.shape.map(() => 1),
            );
      return e.dtype === "float32" ? e : op.cast(e, "float32");
    };
    const elements = [gradient, ...finished].map(elementOf);
    const rank = Math.max(...elements.map((e) => e.rank));
    const first = elements.length === 1 ? elements[0]! : b.emit("Sum", elements, [{ dtype: "float32", shape: Array(rank).fill(1) }])[0]!;
    const never = op.reshape(op.greater(first, first), []);
    const tied = new Map<Tensor, Tensor>();
    const tie = (t: Tensor): Tensor => {
      // Graph inputs, initializers and tensors of enclosing graphs live through the backward anyway.
      if (inside.has(t) || !t.producer || t.graph !== b.current || !isFloat(t.dtype)) return t;
      let out = tied.get(t);
      if (!out) {
        out = op.add(t, op.cast(never, t.dtype));
        tied.set(t, out);
      }
      return out;
    };
    for (const n of segment) {
      const inputs = n.inputs.map((t) => (t ? (copy.get(t) ?? tie(t)) : null));
      const outs = b.emit(
        n.op,
        inputs,
        n.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape, name: `${o.name}_re` })),
        n.attrs,
        n.domain,
      );
      n.outputs.forEach((o, k) => {
        copy.set(o, outs[k] as Tensor);
      });
    }
    return copy;
  }
}
