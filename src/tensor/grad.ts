// Reverse-mode automatic differentiation over one graph: emits the backward pass into the builder's current graph
// (the same graph as the forward pass, e.g. a training Loop's body) as ordinary ONNX ops, with each op's VJP rule
// from the op registry (ops/registry.ts). It sits above the op families, which define those rules.
import { isFloat } from "./ir/dtype.ts";
import type { Node, Tensor } from "./ir/graph.ts";
import { formatShape, ShapeError } from "./ir/shape.ts";
import { builderOf } from "./ops/builder.ts";
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
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!onPath.has(n)) continue;
    const grads = n.outputs.map(total);
    if (grads.every((g) => g === null)) continue;
    const rule = opDef(n.op)?.vjp;
    if (!rule) throw new AutodiffError(`autodiff: no gradient rule for ${n.op} (node ${n.name}); give its entry in src/tensor/ops/ a vjp`);
    const needs = n.inputs.map((t) => !!t && varying.has(t) && isFloat(t.dtype));
    const inputGrads = rule({ node: n, inputs: n.inputs, outputs: n.outputs, grads, needs });
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
