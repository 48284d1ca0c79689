// The shape of a vector-Jacobian rule (each op's `vjp`, beside its constructor in src/tensor/ops/). A rule gets the
// forward node, the gradient of each output (null when that output does not reach the loss) and which inputs need a
// gradient; it returns one gradient per input (null for none). Rules build their results with the ordinary op
// constructors, so the backward pass is made of standard ONNX ops only.
import type { Node, Tensor } from "../ir/graph.ts";

export interface VjpArgs {
  node: Node;
  /** Inputs of the forward node (non-null where `needs` is true). */
  inputs: readonly (Tensor | null)[];
  outputs: readonly Tensor[];
  /** Upstream gradients, one per output. */
  grads: readonly (Tensor | null)[];
  /** needs[i]: input i is on a path from a differentiated variable. */
  needs: readonly boolean[];
}

export type VjpRule = (args: VjpArgs) => (Tensor | null)[];

/** First upstream gradient, which single-output rules require. */
export function dy(args: VjpArgs): Tensor {
  const g = args.grads[0];
  if (!g) throw new Error(`autodiff: ${args.node.op} node ${args.node.name} has no upstream gradient`);
  return g;
}
