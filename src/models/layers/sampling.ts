// Choosing the next token from logits [B, V] inside a generation Loop: greedy argmax, or Gumbel-max sampling
// (CUDA has no Multinomial kernel) after temperature, top-k and top-p (nucleus) filtering.

import type { Tensor } from "../../tensor/ir/graph.ts";
import * as op from "../../tensor/ops/index.ts";
import { zerosLike } from "../../tensor/ops/shape-ops.ts";

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  /** Seeds the Gumbel noise; the stream advances with every draw of a session. */
  seed: number;
}

const NEG = -1e9;

export function chooseToken(logits: Tensor, o: SamplingOptions): Tensor {
  if (o.temperature <= 0) return op.argMax(logits, -1);
  const vocab = logits.shape[1] as number;
  let z = op.div(logits, o.temperature);
  if (o.topK !== undefined && o.topK < vocab) {
    const [values] = op.topK(z, o.topK, -1);
    z = op.where(op.less(z, op.reduceMin(values, [-1], true)), NEG, z);
  }
  if (o.topP !== undefined && o.topP < 1) {
    const [sorted, order] = op.topK(z, vocab, -1);
    // Drop a token when the probability mass of the tokens ranked above it already reaches p (the top one stays).
    const before = op.cumSum(op.softmax(sorted, -1), -1, { exclusive: true });
    const dropSorted = op.cast(op.greaterOrEqual(before, o.topP), z.dtype);
    const drop = op.scatterElements(zerosLike(z), order, dropSorted, -1);
    z = op.where(op.greater(drop, 0.5), NEG, z);
  }
  const u = op.randomUniformLike(z, o.seed, 1e-12, 1);
  const gumbel = op.neg(op.log(op.neg(op.log(u))));
  return op.argMax(op.add(z, gumbel), -1);
}
