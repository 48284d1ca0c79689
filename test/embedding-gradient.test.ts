// The embedding lookup's gradient (Gather's VJP, src/tensor/ops/gather.ts): below SCATTER_GRADIENT_ROWS rows it is
// OneHot × MatMul, from that size on a ScatterND-add that never builds the [lookups, rows] one-hot matrix (a
// 152k-token vocabulary). Both sum the gradients of repeated ids (negative ids counting from the end) into the rows
// they came from; checked against the sums done on the host, on ONNX Runtime.
import assert from "node:assert/strict";
import { test } from "node:test";
import { grad } from "../src/tensor/grad.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { Builder } from "../src/tensor/ops/builder.ts";
import { SCATTER_GRADIENT_ROWS } from "../src/tensor/ops/gather.ts";
import * as op from "../src/tensor/ops/index.ts";
import { Rng } from "../src/util/random.ts";
import { testRuntime } from "./support/device.ts";

for (const rows of [64, SCATTER_GRADIENT_ROWS + 5]) {
  test(`the gradient of an embedding lookup into ${rows} rows sums repeated ids into their rows (${rows >= SCATTER_GRADIENT_ROWS ? "ScatterND-add" : "OneHot × MatMul"})`, async () => {
    const width = 3;
    const ids = [
      [0, 5, 5, rows - 1, -1],
      [7, 0, 2, 5, 3],
    ];
    const rng = new Rng(11);
    const weights = Float32Array.from({ length: 2 * 5 * width }, () => rng.normal());
    const b = new Builder("embedding_grad");
    const table = b.input("table", "float32", [rows, width]);
    const idx = b.input("ids", "int64", [2, 5]);
    const w = b.input("w", "float32", [2, 5, width]);
    const loss = op.reduceSum(op.mul(op.gather(table, idx, 0), w));
    const [g] = grad(loss, [table]);
    b.output(g!, "grad");
    const kinds = new Set(b.root.nodes.map((n) => n.op));
    assert.equal(kinds.has("ScatterND"), rows >= SCATTER_GRADIENT_ROWS);
    assert.equal(kinds.has("OneHot"), rows < SCATTER_GRADIENT_ROWS);
    const rt = testRuntime();
    try {
      const feeds: Record<string, TensorData> = {
        table: { dtype: "float32", shape: [rows, width], data: new Float32Array(rows * width) },
        ids: { dtype: "int64", shape: [2, 5], data: BigInt64Array.from(ids.flat().map(BigInt)) },
        w: { dtype: "float32", shape: [2, 5, width], data: weights },
      };
      const got = (await rt.run(await rt.load(serializeModel(b.root)), feeds)).grad!.data as Float32Array;
      const want = new Float64Array(rows * width);
      ids.flat().forEach((id, k) => {
        const row = id < 0 ? rows + id : id;
        for (let j = 0; j < width; j++) want[row * width + j]! += weights[k * width + j]!;
      });
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      assert.ok(worst < 1e-6, `max |Δ| ${worst}`);
    } finally {
      await rt.release();
    }
  });
}

test("a bfloat16 table's large-vocabulary gradient is summed in float32 (ORT's CUDA ScatterND has no bfloat16 kernel) and cast back", async () => {
  const rows = SCATTER_GRADIENT_ROWS + 5;
  const width = 2;
  const ids = [3, 3, rows - 1, 0];
  const weights = Float32Array.from([0.5, -1.25, 0.75, 2, -0.5, 1, 1.5, -2]);
  const b = new Builder("embedding_grad_bf16");
  const table = b.input("table", "float32", [rows, width]);
  const idx = b.input("ids", "int64", [4]);
  const w = b.input("w", "float32", [4, width]);
  // As mixed precision computes: float32 master weights cast to bfloat16 for the lookup.
  const looked = op.cast(op.gather(op.cast(table, "bfloat16"), idx, 0), "float32");
  const [g] = grad(op.reduceSum(op.mul(looked, w)), [table]);
  b.output(g!, "grad");
  const scatter = b.root.nodes.find((n) => n.op === "ScatterND");
  assert.equal(scatter?.inputs.map((t) => t?.dtype).join(","), "float32,int64,float32");
  const rt = testRuntime();
  try {
    const got = (
      await rt.run(await rt.load(serializeModel(b.root)), {
        table: { dtype: "float32", shape: [rows, width], data: new Float32Array(rows * width) },
        ids: { dtype: "int64", shape: [4], data: BigInt64Array.from(ids.map(BigInt)) },
        w: { dtype: "float32", shape: [4, width], data: weights },
      })
    ).grad!.data as Float32Array;
    // Sums of these values are exact in bfloat16: row 3 gets rows 0 and 1 of w.
    assert.deepEqual([got[3 * width], got[3 * width + 1], got[(rows - 1) * width], got[0], got[1]], [1.25, 0.75, -0.5, 1.5, -2]);
  } finally {
    await rt.release();
  }
});
