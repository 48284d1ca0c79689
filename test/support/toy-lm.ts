// A toy language-modelling task for the tensor compiler's learning tests and the train-loop benchmark: each
// sequence is `half` random tokens followed by the same tokens again, and the loss is scored on the second half
// only, so the model must learn to attend back (a bigram model cannot do better than chance there).

import { maskedCrossEntropy } from "../../src/models/layers/losses.ts";
import type { Tensor, TensorData } from "../../src/tensor/ir/graph.ts";
import * as op from "../../src/tensor/ops/index.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../src/tensor/optim/types.ts";
import type { TrainProgramSpec } from "../../src/tensor/program/train-program.ts";
import { Rng } from "../../src/util/random.ts";
import { type DecoderConfig, decoderLogits, initDecoder } from "./decoder-lm.ts";

export interface CopyTask {
  model: DecoderConfig;
  batch: number;
  half: number;
}

/** Staged batches for `count` micro-batches: tokens [count, B, T], labels (next token) and the scoring mask. */
export function copyBatches(task: CopyTask, count: number, seed: number, control = false): Record<string, TensorData> {
  const rng = new Rng(seed);
  const t = 2 * task.half;
  const tokens = new BigInt64Array(count * task.batch * t);
  const labels = new BigInt64Array(count * task.batch * t);
  const mask = new Float32Array(count * task.batch * t);
  for (let s = 0; s < count * task.batch; s++) {
    const seq = Array.from({ length: task.half }, () => Math.floor(rng.uniform() * task.model.vocab));
    // The control variant draws the second half independently: nothing to copy, so chance is the best possible.
    const second = control ? Array.from({ length: task.half }, () => Math.floor(rng.uniform() * task.model.vocab)) : seq;
    const full = [...seq, ...second];
    for (let i = 0; i < t; i++) {
      tokens[s * t + i] = BigInt(full[i]!);
      labels[s * t + i] = BigInt(full[(i + 1) % t]!);
      // Position i predicts token i+1; positions half-1 … 2·half-2 predict the repeated half.
      mask[s * t + i] = i >= task.half - 1 && i < t - 1 ? 1 : 0;
    }
  }
  const shape = [count, task.batch, t];
  return { tokens: { dtype: "int64", shape, data: tokens }, labels: { dtype: "int64", shape, data: labels }, mask: { dtype: "float32", shape, data: mask } };
}

export function copyTaskSpec(task: CopyTask, steps: number, optimizer: OptimizerConfig, schedule?: ScheduleConfig): TrainProgramSpec {
  const t = 2 * task.half;
  const init = initDecoder(task.model, new Rng(0));
  return {
    trainable: init.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
    batch: {
      tokens: { dtype: "int64", shape: [task.batch, t] },
      labels: { dtype: "int64", shape: [task.batch, t] },
      mask: { dtype: "float32", shape: [task.batch, t] },
    },
    steps,
    optimizer,
    schedule,
    clipNorm: 1,
    loss: (params, batch) => {
      const logits = decoderLogits(task.model, (name: string): Tensor => params[name]!, batch.tokens!);
      const loss = maskedCrossEntropy(logits, batch.labels!, batch.mask!);
      const correct = op.cast(op.equal(op.argMax(logits, -1), batch.labels!), "float32");
      const accuracy = op.div(op.reduceSum(op.mul(correct, batch.mask!)), op.reduceSum(batch.mask!));
      return { loss, metrics: { accuracy } };
    },
  };
}

export function initialParameters(task: CopyTask, seed: number): Map<string, TensorData> {
  return new Map(initDecoder(task.model, new Rng(seed)).map((p) => [p.name, p.data]));
}
