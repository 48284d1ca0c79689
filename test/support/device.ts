// The device the tests run their ONNX programs on: ALIGNC_DEVICE (cpu, cuda or cuda:N; cpu when unset) — the
// variable that also sets alignc run's default --device, so the CLI tests follow it too. On the GPU machine,
// `ALIGNC_DEVICE=cuda npm test` runs every test that is not CPU-specific on CUDA (docs/gpu.md).
import type { ExecutionGraph } from "../../src/graph/graph.ts";
import type { Provider } from "../../src/runtime/engine/providers.ts";
import { Runtime, type RuntimeOptions } from "../../src/runtime/engine/session.ts";
import { Devices } from "../../src/runtime/pipeline/devices.ts";
import type { DeviceKindOf } from "../../src/runtime/pipeline/keys.ts";

export const TEST_DEVICE = process.env.ALIGNC_DEVICE ?? "cpu";

/** Provider and device id for TEST_DEVICE. */
export function testProvider(): { provider: Provider; deviceId?: number } {
  const m = /^cuda(?::(\d+))?$/.exec(TEST_DEVICE);
  if (m) return { provider: "cuda", deviceId: Number(m[1] ?? 0) };
  if (TEST_DEVICE !== "cpu") throw new Error(`ALIGNC_DEVICE must be cpu, cuda or cuda:N, got '${TEST_DEVICE}'`);
  return { provider: "cpu" };
}

/** A Runtime on the test device (options other than the provider as given). */
export function testRuntime(options: Omit<RuntimeOptions, "provider" | "deviceId"> = {}): Runtime {
  return new Runtime({ ...options, ...testProvider() });
}

/** A `skip` option for a test that holds on CPU only, saying why (bit-exact results, CPU provider behaviour). */
export function cpuOnly(why: string): string | false {
  return TEST_DEVICE === "cpu" ? false : `CPU-specific (${why}); ALIGNC_DEVICE=${TEST_DEVICE}`;
}

/** Each node's device kind as `alignc run --device TEST_DEVICE` keys it (for planStatus and storeKeys in tests). */
export function testDeviceKinds(graph: ExecutionGraph): Promise<DeviceKindOf> {
  return new Devices(TEST_DEVICE).kinds(graph);
}
