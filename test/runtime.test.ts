// The runtime layer (src/runtime/): session caching, feeds and outputs as TensorData, dtype conversions,
// provider detection on a machine without CUDA, and `alignc doctor --json`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { ENGINES } from "../src/runtime/engine/engine.ts";
import { collectEnvironment } from "../src/runtime/engine/environment.ts";
import { cudaLibraryCheck, ProviderUnavailableError, providerStatus, requireProvider } from "../src/runtime/engine/providers.ts";
import { modelHash, Runtime, SessionFeedError } from "../src/runtime/engine/session.ts";
import { fromOrtTensor, TensorDataError, toOrtTensor, validateTensorData } from "../src/runtime/engine/tensors.ts";
import { Devices } from "../src/runtime/pipeline/devices.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { add, Builder, cast, matmul, not } from "../src/tensor/ops/index.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** y = x @ w + b with x [2,3], w [3,2], b [2]. */
function affineModel(): Uint8Array {
  const b = new Builder("affine");
  const x = b.input("x", "float32", [2, 3]);
  const w = b.input("w", "float32", [3, 2]);
  const bias = b.input("b", "float32", [2]);
  b.output(add(matmul(x, w), bias), "y");
  return serializeModel(b.root);
}

const f32 = (shape: number[], values: number[]): TensorData => ({ dtype: "float32", shape, data: new Float32Array(values) });

const affineFeeds = {
  x: f32([2, 3], [1, 2, 3, 4, 5, 6]),
  w: f32([3, 2], [1, 0, 0, 1, 1, 1]),
  b: f32([2], [10, 20]),
};

describe("Devices", () => {
  test("releaseSessions frees every runtime's cached sessions, and the runtimes stay usable", async () => {
    // The executor calls it after each node, so a run of many phases does not keep every phase's sessions.
    const devices = new Devices("cpu");
    const rt = await devices.get(undefined);
    assert.equal(await devices.get("cpu"), rt, "one runtime per device");
    await rt.load(affineModel());
    assert.equal(rt.size, 1);
    await devices.releaseSessions();
    assert.equal(rt.size, 0);
    const again = await rt.load(affineModel());
    assert.deepEqual([...((await rt.run(again, affineFeeds)).y!.data as Float32Array)], [14, 25, 20, 31]);
    await devices.releaseSessions();
  });
});

// Both engines (onnxruntime-node's binding, ONNX Runtime's C API) behind the same Runtime.
for (const engine of ENGINES)
  describe(`Runtime (${engine} engine)`, () => {
    const rt = new Runtime({ provider: "cpu", intraOpThreads: 1, engine });
    after(() => rt.release());

    test("loading the same model bytes twice returns the cached session", async () => {
      const bytes = affineModel();
      const [a, b] = await Promise.all([rt.load(bytes), rt.load(bytes)]);
      const c = await rt.load(affineModel()); // equal bytes, another array
      assert.equal(a, b);
      assert.equal(a, c);
      assert.equal(rt.size, 1);
      assert.ok(a.key.startsWith(modelHash(bytes)));
      assert.deepEqual(a.inputNames, ["x", "w", "b"]);
      assert.deepEqual(a.outputNames, ["y"]);
    });

    test("a different model or different options give another session", async () => {
      const other = new Builder("other");
      other.output(add(other.input("x", "float32", [2]), 1), "y");
      const s1 = await rt.load(affineModel());
      const s2 = await rt.load(serializeModel(other.root));
      assert.notEqual(s1, s2);
      const rt2 = new Runtime({ provider: "cpu", graphOptimizationLevel: "basic", engine });
      try {
        const s3 = await rt2.load(affineModel());
        assert.notEqual(s3.key, s1.key);
      } finally {
        await rt2.release();
      }
    });

    test("run takes and returns TensorData", async () => {
      const s = await rt.load(affineModel());
      const out = await rt.run(s, affineFeeds);
      assert.deepEqual(Object.keys(out), ["y"]);
      const y = out.y!;
      assert.equal(y.dtype, "float32");
      assert.deepEqual(y.shape, [2, 2]);
      // [1,2,3]·[[1,0],[0,1],[1,1]] = [4,5]; [4,5,6]· = [10,11]; + [10,20]
      assert.deepEqual(Array.from(y.data as Float32Array), [14, 25, 20, 31]);
    });

    test("a missing feed names the expected inputs", async () => {
      const s = await rt.load(affineModel());
      const { b: _b, ...partial } = affineFeeds;
      await assert.rejects(rt.run(s, partial), (e: Error) => {
        assert.ok(e instanceof SessionFeedError);
        assert.match(e.message, /missing feed "b"/);
        assert.match(e.message, /the model's inputs are "x", "w", "b"/);
        return true;
      });
    });

    test("an extra feed, a wrong dtype, a wrong shape and an unknown output are reported", async () => {
      const s = await rt.load(affineModel());
      await assert.rejects(rt.run(s, { ...affineFeeds, z: f32([1], [0]) }), /unexpected feed "z"; the model's inputs are "x", "w", "b"/);
      await assert.rejects(
        rt.run(s, { ...affineFeeds, b: { dtype: "float64", shape: [2], data: new Float64Array(2) } }),
        /feed "b": the model takes float32, got float64/,
      );
      await assert.rejects(rt.run(s, { ...affineFeeds, b: f32([3], [1, 2, 3]) }), /feed "b": the model takes shape \[2\], got \[3\]/);
      await assert.rejects(rt.run(s, affineFeeds, ["nope"]), /unknown output "nope"; the model's outputs are "y"/);
      await assert.rejects(rt.run(s, { ...affineFeeds, b: f32([2], [1, 2, 3]) }), TensorDataError);
    });

    test("int64 and bool tensors go through a session", async () => {
      const b = new Builder("ints");
      const i = b.input("i", "int64", [3]);
      const m = b.input("m", "bool", [3]);
      b.output(add(i, b.tensor("int64", 1)), "i1");
      b.output(not(m), "nm");
      b.output(cast(m, "int64"), "mi");
      const s = await rt.load(serializeModel(b.root));
      const out = await rt.run(s, {
        i: { dtype: "int64", shape: [3], data: new BigInt64Array([-5n, 0n, 2n ** 40n]) },
        m: { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) },
      });
      assert.equal(out.i1!.dtype, "int64");
      assert.deepEqual(Array.from(out.i1!.data as BigInt64Array), [-4n, 1n, 2n ** 40n + 1n]);
      assert.equal(out.nm!.dtype, "bool");
      assert.ok(out.nm!.data instanceof Uint8Array);
      assert.deepEqual(Array.from(out.nm!.data), [0, 1, 0]);
      assert.deepEqual(Array.from(out.mi!.data as BigInt64Array), [1n, 0n, 1n]);
      // Only the requested outputs come back.
      const one = await rt.run(
        s,
        { i: { dtype: "int64", shape: [3], data: new BigInt64Array(3) }, m: { dtype: "bool", shape: [3], data: new Uint8Array(3) } },
        ["nm"],
      );
      assert.deepEqual(Object.keys(one), ["nm"]);
    });

    test("a released session cannot run; the runtime can load again", async () => {
      const local = new Runtime({ engine });
      const s = await local.load(affineModel());
      await local.release();
      assert.equal(local.size, 0);
      await assert.rejects(local.run(s, affineFeeds), /was released/);
      const again = await local.load(affineModel());
      assert.notEqual(again, s);
      assert.equal((await local.run(again, affineFeeds)).y!.data[0], 14);
      await local.dispose();
    });

    test("bad options are rejected", () => {
      assert.throws(() => new Runtime({ intraOpThreads: -1 }), /intraOpThreads must be a non-negative integer/);
      assert.throws(() => new Runtime({ interOpThreads: 1.5 }), /interOpThreads/);
    });
  });

describe("tensor conversion", () => {
  test("int64, bool and float16 round-trip through ort.Tensor", () => {
    const cases: TensorData[] = [
      { dtype: "int64", shape: [2, 2], data: new BigInt64Array([1n, -2n, 2n ** 62n, -(2n ** 63n)]) },
      { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) },
      { dtype: "float16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }, // 1.0, -2.0
      { dtype: "float64", shape: [], data: new Float64Array([Math.PI]) },
      { dtype: "int32", shape: [0, 3], data: new Int32Array(0) },
      { dtype: "int8", shape: [1], data: new Int8Array([-7]) },
      { dtype: "uint8", shape: [1], data: new Uint8Array([200]) },
    ];
    for (const t of cases) {
      const o = toOrtTensor(t);
      assert.equal(o.type, t.dtype);
      assert.deepEqual([...o.dims], t.shape);
      const back = fromOrtTensor(o);
      assert.equal(back.dtype, t.dtype);
      assert.deepEqual(back.shape, t.shape);
      assert.equal(back.data.constructor, t.data.constructor);
      assert.deepEqual(Array.from(back.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>));
    }
  });

  test("malformed TensorData is rejected with the tensor named", () => {
    assert.throws(
      () => toOrtTensor({ dtype: "int64", shape: [2], data: new Int32Array(2) }, 'feed "i"'),
      /feed "i": a int64 tensor must hold a BigInt64Array, got Int32Array/,
    );
    assert.throws(() => toOrtTensor({ dtype: "bool", shape: [2], data: new Int8Array(2) }), /bool tensor must hold a Uint8Array/);
    assert.throws(() => validateTensorData({ dtype: "float32", shape: [2, 2], data: new Float32Array(3) }), /shape \[2, 2\] has 4 elements but the data has 3/);
    assert.throws(() => validateTensorData({ dtype: "float32", shape: [-1], data: new Float32Array(0) }), /non-negative integers/);
    assert.throws(() => validateTensorData({ dtype: "complex64" as never, shape: [1], data: new Float32Array(1) }), /unknown dtype 'complex64'/);
  });

  test("dtypes alignc does not use are refused when coming back", () => {
    assert.throws(() => fromOrtTensor(new ort.Tensor("uint16", new Uint16Array(1), [1]), "output"), /output: ONNX Runtime returned a uint16 tensor/);
  });
});

describe("providers", () => {
  test("cpu is available", async () => {
    assert.deepEqual(await providerStatus("cpu"), { provider: "cpu", available: true });
    await requireProvider("cpu");
  });

  // The project's own machines have no GPU and a CPU-only onnxruntime-node; on the GPU machine (provider
  // libraries installed) cuda must work instead.
  test("cuda: a ProviderUnavailableError that says what is missing, or a working session", async () => {
    const libs = cudaLibraryCheck();
    const status = await providerStatus("cuda");
    const rt = new Runtime({ provider: "cuda" });
    try {
      if (status.available) {
        const s = await rt.load(affineModel());
        assert.equal((await rt.run(s, affineFeeds)).y!.data[0], 14);
        return;
      }
      await assert.rejects(rt.load(affineModel()), (e: Error) => {
        assert.ok(e instanceof ProviderUnavailableError, `expected ProviderUnavailableError, got ${e}`);
        assert.equal(e.provider, "cuda");
        assert.equal((e as Error & { code?: string }).code, "ALN7009");
        assert.match(e.message, /the cuda execution provider is not available/);
        assert.match(e.message, /CPU provider works/);
        if (libs.missing.length > 0) {
          assert.match(e.message, /libonnxruntime_providers_cuda\.so/);
          assert.match(e.message, /com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9/);
        }
        return true;
      });
      assert.equal(rt.size, 0, "a failed load is not cached");
    } finally {
      await rt.release();
    }
  });

  test("environment facts", async () => {
    const env = await collectEnvironment({ providers: ["cpu"] });
    assert.equal(env.node, process.version);
    assert.equal(env.onnxruntime.version, "1.29.0");
    assert.ok(env.onnxruntime.backends.some((b) => b.name === "cpu"));
    assert.ok(env.cpus >= 1);
    assert.deepEqual(env.providers, [{ provider: "cpu", available: true }]);
    assert.equal(env.tf32, process.env.NVIDIA_TF32_OVERRIDE !== "0");
  });
});

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bin/alignc.js"), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("alignc doctor", () => {
  test("--json prints one JSON object with the environment", { timeout: 120_000 }, async () => {
    const r = await runCli(["doctor", "--json"], 110_000);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    const doc = JSON.parse(r.stdout) as { environment: Record<string, unknown>; gradientChecks: { status: string; rows: unknown[] } };
    for (const key of ["node", "platform", "arch", "cpus", "onnxruntime", "providers", "gpus", "cudaLibraries", "engines", "tf32"])
      assert.ok(key in doc.environment, key);
    const engines = doc.environment.engines as { default: string; capi: { available: boolean; detail: string } };
    assert.ok(engines.capi.available, engines.capi.detail);
    assert.match(engines.capi.detail, /ONNX Runtime 1\.29\.0, C API 29/);
    assert.equal((doc.environment.onnxruntime as { version: string }).version, "1.29.0");
    assert.equal(doc.gradientChecks.status, "passed");
    assert.ok(doc.gradientChecks.rows.length >= 60);
  });

  test("--help and a bad --provider", async () => {
    const help = await runCli(["doctor", "--help"], 60_000);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: alignc doctor/);
    assert.match(help.stdout, /--provider cpu\|cuda\|all/);
    const bad = await runCli(["doctor", "--provider", "tpu"], 60_000);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--provider must be cpu, cuda or all, got 'tpu'/);
  });
});
