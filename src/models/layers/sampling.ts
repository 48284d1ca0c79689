// Choosing the next token from logits [B, V] inside a generation Loop: greedy argmax, or Gumbel-max sampling
// (CUDA has no Multinomial kernel) after temperature, top-k and top-p (nucleus) filtering.

import type { Tensor } from "../../tensor/ir/graph.ts";
import { type Builder, builderOf } from "../../tensor/ops/builder.ts";
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

export interface StepChoice extends SamplingOptions {
  /** The token written once a row is done. */
  pad: number;
  /** Token ids that end a row (kept in its output). */
  stopTokens: readonly number[];
}

/**
 * One step of a generation Loop: the chosen token (`pad` once its row is done), whether the row is done after it, and
 * the step's scan outputs — the token, its log-prob under the untempered logits (0 once done), and 1 while active.
 */
export function chooseStep(logits: Tensor, done: Tensor, o: StepChoice): { token: Tensor; nextDone: Tensor; scans: Tensor[] } {
  const chosen = chooseToken(logits, o);
  const logp = op.squeeze(op.gatherElements(op.logSoftmax(logits, -1), op.unsqueeze(chosen, [1]), 1), [1]);
  const token = op.where(done, o.pad, chosen);
  // Without stop tokens nothing stops early (and CUDA's ReduceSum refuses the empty axis a [0, B] table would have).
  const stops = builderOf(logits).tensor("int64", [...o.stopTokens], [o.stopTokens.length, 1]);
  const nextDone =
    o.stopTokens.length === 0 ? done : op.or(done, op.greater(op.reduceSum(op.cast(op.equal(op.unsqueeze(token, [0]), stops), "int64"), [0]), 0));
  return { token, nextDone, scans: [token, op.where(done, 0, logp), op.cast(op.not(done), "int64")] };
}

/** A generation program's outputs from its Loop's scans: `tokens` and `logprobs` [B, N], `lengths` [B]. */
export function generationOutputs(b: Builder, scans: readonly Tensor[]): void {
  const [tokens, logprobs, active] = scans as [Tensor, Tensor, Tensor];
  b.output(op.transpose(tokens, [1, 0]), "tokens");
  b.output(op.transpose(logprobs, [1, 0]), "logprobs");
  b.output(op.reduceSum(active, [0]), "lengths");
}
