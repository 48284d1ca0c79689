// ALIGNC_CPU_THREADS: ONNX Runtime's CPU threads per process (for sweeps of many workers on one machine).
import assert from "node:assert/strict";
import { test } from "node:test";
import { cpuThreads } from "../src/runtime/pipeline/devices.ts";

test("ALIGNC_CPU_THREADS: unset or empty is ONNX Runtime's default (0); a whole number is used; anything else is refused", () => {
  assert.equal(cpuThreads({}), 0);
  assert.equal(cpuThreads({ ALIGNC_CPU_THREADS: "" }), 0);
  assert.equal(cpuThreads({ ALIGNC_CPU_THREADS: "2" }), 2);
  for (const bad of ["0", "-1", "1.5", "two", "5000"])
    assert.throws(() => cpuThreads({ ALIGNC_CPU_THREADS: bad }), /ALIGNC_CPU_THREADS must be a whole number from 1 to 1024, got/);
});
