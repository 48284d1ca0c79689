// Every VJP rule against central finite differences on the test device (test/support/device.ts; float64 where ORT has the kernels,
// float32 otherwise; tolerances are explained in src/runtime/engine/gradcheck/harness.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkCase } from "../src/runtime/engine/gradcheck/harness.ts";
import { allCases, runGradientChecks } from "../src/runtime/engine/gradcheck/index.ts";
import * as op from "../src/tensor/ops/index.ts";
import { OPS } from "../src/tensor/ops/registry.ts";
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
