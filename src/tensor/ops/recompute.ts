// Activation recomputation (gradient checkpointing): `recomputed(like, fn)` marks the nodes `fn` emits as one segment.
// Autodiff (grad.ts) does not keep the segment's intermediate tensors for the backward: when the backward reaches the
// segment, it emits the segment's forward again from the segment's inputs and applies the gradient rules to those
// copies, so only the segment's inputs (a decoder layer's input, say) stay alive between forward and backward.
//
// Two things would undo that inside ONNX Runtime, and grad.ts prevents both: the copies must not run early (a
// scheduler free to run them during the forward keeps everything alive again), and common-subexpression elimination
// must not merge them with the originals. Both are handled by making each input the copies read from the forward depend
// on the segment's output gradient: input + 0, the 0 computed from one element of that gradient as Cast(g > g) —
// exactly 0 whatever g is (NaN and ±inf compare false), so the copies compute the same values.
import type { Tensor } from "../ir/graph.ts";
import { ShapeError } from "../ir/shape.ts";
import { builderOf } from "./builder.ts";

let nextSegment = 1;

/** Runs `fn` (which emits into the graph of `like`) and marks everything it emits as one recomputed segment. */
export function recomputed(like: Tensor, fn: () => Tensor): Tensor {
  const g = builderOf(like).current;
  const start = g.nodes.length;
  const out = fn();
  const id = nextSegment++;
  for (const n of g.nodes.slice(start)) {
    if (n.meta.segment !== undefined) throw new ShapeError("recomputed: segments cannot nest");
    if (Object.values(n.attrs).some((a) => a.type === "graph")) throw new ShapeError(`recomputed: a segment cannot hold ${n.op} (a node with a subgraph)`);
    (n.meta as { segment?: number }).segment = id;
  }
  return out;
}
