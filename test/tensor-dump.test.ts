// The text dump of tensor graphs (test/support/tensor-dump.ts): exact expected text for small graphs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Builder } from "../src/tensor/ops/builder.ts";
import * as op from "../src/tensor/ops/index.ts";
import { dumpGraph } from "./support/tensor-dump.ts";

const lines = (...l: string[]) => l.join("\n");

function smallModel(): Builder {
  const b = new Builder();
  const x = b.input("x", "float32", ["batch", 3]);
  const w = b.data(
    "float32",
    Float32Array.from({ length: 12 }, (_, i) => i / 10 - 0.5),
    [3, 4],
    "w",
  );
  const h = op.layerNorm(op.matmul(x, w), b.tensor("float32", [1, 1, 1, 1]), null);
  const [p, q] = op.split(op.stopGradient(h), 1, [1, 3]);
  b.output(op.gelu(op.reduceSum(p!, [1]), "tanh"), "y");
  b.output(op.full(q!, [2], 0, "int64"), "zeros");
  return b;
}

test("a small graph dumps as inputs, initializers, one line per node, outputs", () => {
  assert.equal(
    dumpGraph(smallModel().root),
    lines(
      "graph main {",
      "  input %x: float32[batch,3]",
      "  init %w: float32[3,4] = [-0.5, -0.4, -0.3, -0.2, -0.1, 0, 0.1, 0.2, … (12 values)]",
      "  init %c_float32_vec: float32[4] = [1, 1, 1, 1]",
      "  init %c_int64_vec: int64[2] = [1, 3]",
      "  init %c_int64_vec_2: int64[1] = [1]",
      "  init %c_int64_vec_4: int64[1] = [2]",
      "  %matmul: float32[batch,4] = MatMul(%x, %w)",
      "  %layernormalization: float32[batch,4], %ln_mean: float32[batch,1], %ln_inv_std: float32[batch,1] = LayerNormalization(%matmul, %c_float32_vec)  {axis: 1, epsilon: 0.00001}",
      "  %layernormalization_nograd: float32[batch,4] = Identity(%layernormalization)  # stop-gradient",
      "  %split: float32[batch,1], %split_1: float32[batch,3] = Split(%layernormalization_nograd, %c_int64_vec)  {axis: 1}",
      "  %reducesum: float32[batch] = ReduceSum(%split, %c_int64_vec_2)  {keepdims: 0}",
      '  %gelu: float32[batch] = Gelu(%reducesum)  {approximate: "tanh"}',
      "  %y: float32[batch] = Identity(%gelu)",
      "  %constantofshape: int64[2] = ConstantOfShape(%c_int64_vec_4)  {value: int64[1] [0]}",
      "  %zeros: int64[2] = Identity(%constantofshape)",
      "  output %y: float32[batch]",
      "  output %zeros: int64[2]",
      "}",
    ),
  );
});

test("Loop and If bodies are indented under their node", () => {
  const b = new Builder("rnn");
  const h0 = b.input("h0", "float64", [1, 2]);
  const w = b.input("w", "float64", [2, 2]);
  const r = op.loop(b, 3, [h0], (i, [h]) => ({ carried: [op.tanh(op.matmul(h!, w))], scans: [op.cast(i, "float64")] }));
  const [out] = op.cond(
    op.greater(op.reduceSum(r.scans[0]!), 1),
    () => [op.neg(r.carried[0]!)],
    () => [r.carried[0]!],
  );
  b.output(out!, "h");
  assert.equal(
    dumpGraph(b.root),
    lines(
      "graph rnn {",
      "  input %h0: float64[1,2]",
      "  input %w: float64[2,2]",
      "  init %c_int64: int64[] = 3",
      "  init %c_bool: bool[] = true",
      "  init %c_int64_vec: int64[1] = [0]",
      "  init %c_float64: float64[] = 1",
      "  %h0_final: float64[1,2], %loop_scan: float64[3] = Loop(%c_int64, %c_bool, %h0)",
      "    body: graph loop_body {",
      "      input %loop_iter: int64[]",
      "      input %loop_cond_in: bool[]",
      "      input %h0_in: float64[1,2]",
      "      %matmul: float64[1,2] = MatMul(%h0_in, %w)",
      "      %tanh: float64[1,2] = Tanh(%matmul)",
      "      %cast: float64[] = Cast(%loop_iter)  {to: 11}",
      "      %loop_cond_out: bool[] = Identity(%loop_cond_in)",
      "      output %loop_cond_out: bool[]",
      "      output %tanh: float64[1,2]",
      "      output %cast: float64[]",
      "    }",
      "  %reducesum: float64[] = ReduceSum(%loop_scan, %c_int64_vec)  {keepdims: 0}",
      "  %greater: bool[] = Greater(%reducesum, %c_float64)",
      "  %if: float64[1,2] = If(%greater)",
      "    else_branch: graph else {",
      "      %h0_final_else: float64[1,2] = Identity(%h0_final)",
      "      output %h0_final_else: float64[1,2]",
      "    }",
      "    then_branch: graph then {",
      "      %neg: float64[1,2] = Neg(%h0_final)",
      "      output %neg: float64[1,2]",
      "    }",
      "  %h: float64[1,2] = Identity(%if)",
      "  output %h: float64[1,2]",
      "}",
    ),
  );
});

test("the dump is deterministic across builds", () => {
  assert.equal(dumpGraph(smallModel().root), dumpGraph(smallModel().root));
});
