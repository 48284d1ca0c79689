// Every VJP rule against central finite differences on the test device (test/support/device.ts; float64 where ORT has the kernels,
// float32 otherwise; tolerances are explained in src/runtime/engine/gradcheck/harness.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkCase } from "../src/runtime/engine/gradcheck/harness.ts";
import { allCases, runGradientChecks } from "../src/runtime/engine/gradcheck/index.ts";
import { evaluate } from "../src/tensor/evaluate.ts";
import { grad } from "../src/tensor/grad.ts";
import { Builder } from "../src/tensor/ops/builder.ts";
import * as op from "../src/tensor/ops/index.ts";
import { OPS } from "../src/tensor/ops/registry.ts";
import { Rng } from "../src/util/random.ts";
import { testProvider } from "./support/device.ts";

test("every gradient-check case passes on the test device", async () => {
  const rows = await runGradientChecks({ provider: testProvider().provider });
  const failed = rows.filter((r) => !r.ok).map((r) => `${r.op} ${r.case}: abs ${r.maxAbsError} rel ${r.maxRelError} ${r.error ?? ""}`);
  assert.deepEqual(failed, []);
  assert.ok(rows.length >= 60);
});

test("every op with a VJP rule has at least one gradient-check case", () => {
  const checked = new Set(allCases.map((c) => c.op));
  // Identity is exercised by stop-gradient and graph outputs; Sum only appears in backward passes (fan-out).
  const missing = [...OPS.values()]
    .filter((d) => d.vjp && !checked.has(d.onnxType) && d.onnxType !== "Identity" && d.onnxType !== "Sum")
    .map((d) => d.onnxType);
  assert.deepEqual(missing, []);
});

test("the harness detects a wrong gradient", async () => {
  // stopGradient hides x·x from autodiff, so the analytic gradient is 0 while finite differences see 2x.
  const row = await checkCase(
    {
      op: "negative control",
      case: "gradient blocked",
      inputs: [{ name: "x", shape: [3], domain: "positive" }],
      build: (_b, i) => op.mul(op.stopGradient(op.mul(i.x!, i.x!)), 1),
    },
    { provider: testProvider().provider, dtype: "float64" },
  );
  assert.equal(row.ok, false);
  assert.ok(row.maxAbsError > 0.5);
});

test("LayerNormalization's float32 backward, which reads the node's mean and 1/σ, equals the float64 rule that recomputes them", () => {
  const rng = new Rng(3);
  const values = (n: number) => Array.from({ length: n }, () => 4 * rng.uniform() - 2);
  const [x, g, bias, w] = [values(12), values(4), values(4), values(12)];
  const gradsIn = (dtype: "float32" | "float64") => {
    const b = new Builder(`ln_${dtype}`);
    const xs = b.input("x", dtype, [3, 4]);
    const gs = b.input("g", dtype, [4]);
    const bs = b.input("bias", dtype, [4]);
    const y = op.layerNorm(xs, gs, bs);
    const lnNode = b.root.nodes.find((n) => n.op === "LayerNormalization");
    assert.equal(lnNode?.outputs.length, dtype === "float32" ? 3 : 1);
    const loss = op.reduceSum(op.mul(y, b.data(dtype, (dtype === "float32" ? Float32Array : Float64Array).from(w), [3, 4], "w")));
    for (const [i, t] of grad(loss, [xs, gs, bs]).entries()) b.output(t, `d${i}`);
    const arr = dtype === "float32" ? Float32Array : Float64Array;
    const out = evaluate(b.root, {
      x: { dtype, shape: [3, 4], data: arr.from(x) },
      g: { dtype, shape: [4], data: arr.from(g) },
      bias: { dtype, shape: [4], data: arr.from(bias) },
    });
    return [0, 1, 2].map((i) => Array.from(out[`d${i}`]!.data as Float64Array));
  };
  const single = gradsIn("float32");
  const double = gradsIn("float64");
  for (const [i, d] of single.entries())
    for (const [k, v] of d.entries()) assert.ok(Math.abs(v - double[i]![k]!) < 1e-5, `d${i}[${k}]: ${v} vs ${double[i]![k]}`);
});
