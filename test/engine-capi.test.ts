// The C-API engine (src/runtime/engine/capi-engine.ts, ort-capi.ts): ONNX Runtime's C API through koffi, behind the same Runtime as
// onnxruntime-node's binding. It must compute exactly what the binding computes (same library, same kernels), say
// what went wrong in ONNX Runtime's words, release what it makes, and pass the CUDA settings the binding cannot.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { readHfConfig } from "../src/models/hf/config.ts";
import { buildHfLogitsProgram } from "../src/models/hf/decoder.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import { externalHfWeights, findHfWeights, readHfTensorIndex } from "../src/models/hf/weights.ts";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { BINDING_CUDA, bindingEngine } from "../src/runtime/engine/binding-engine.ts";
import { capiEngine, cudaProviderOptions, sharedWeightCount } from "../src/runtime/engine/capi-engine.ts";
import { isResident, type SessionSettings } from "../src/runtime/engine/engine.ts";
import { OrtApiError, ortApi } from "../src/runtime/engine/ort-capi.ts";
import { ProviderUnavailableError } from "../src/runtime/engine/providers.ts";
import { CAPI_CUDA, defaultEngine, Runtime } from "../src/runtime/engine/session.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { externalDataOf, serializeModel } from "../src/tensor/onnx/serialize.ts";
import { add, Builder, cast, gather, matmul } from "../src/tensor/ops/index.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { repoRoot } from "./support/align-files.ts";
import { testProvider } from "./support/device.ts";

const { provider, deviceId } = testProvider();
const binding = new Runtime({ engine: "binding", provider, ...(deviceId !== undefined ? { deviceId } : {}) });
const capi = new Runtime({ engine: "capi", provider, ...(deviceId !== undefined ? { deviceId } : {}) });
after(async () => {
  await binding.release();
  await capi.release();
});

const settings = (over: Partial<SessionSettings> = {}): SessionSettings => ({
  provider: "cpu",
  deviceId: 0,
  intraOpThreads: 1,
  interOpThreads: 0,
  graphOptimizationLevel: "all",
  logSeverity: 3,
  spinning: false,
  profilePrefix: "",
  shareWeights: false,
  cuda: { ...CAPI_CUDA },
  ...over,
});

function bytesOf(t: TensorData): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

describe("the C-API engine", () => {
  test("loads the ONNX Runtime onnxruntime-node loaded, at the pinned version", () => {
    assert.equal(ortApi().version, "1.29.0");
  });

  test("a status becomes an OrtApiError with ONNX Runtime's code and message", () => {
    const api = ortApi();
    const status = api.fn("CreateStatus")(2, "an invalid argument");
    assert.throws(
      () => api.check("Probe", status),
      (e: Error) => e instanceof OrtApiError && e.ortCode === 2 && e.message === "Probe: an invalid argument",
    );
    assert.doesNotThrow(() => api.check("Probe", null));
  });

  test("the CUDA functions answer: arena settings and memory info anywhere, the provider with ONNX Runtime's error where CUDA is missing", {
    skip: provider === "cuda" ? "the CUDA provider is here: scripts/device-engine.sh runs it for real" : false,
  }, () => {
    const api = ortApi();
    const cfg = [null as unknown];
    api.call("CreateArenaCfgV2", ["arena_extend_strategy", "max_mem"], new BigUint64Array([1n, 2n ** 30n]), 2, cfg);
    assert.ok(cfg[0]);
    api.fn("ReleaseArenaCfg")(cfg[0]);
    const mem = [null as unknown];
    api.call("CreateMemoryInfo", "Cuda", 1, 0, 0, mem);
    assert.ok(mem[0]);
    try {
      // Nothing is registered for CUDA here: ONNX Runtime says so.
      assert.throws(() => api.call("UnregisterAllocator", api.env, mem[0]), OrtApiError);
      const options = [null as unknown];
      try {
        api.call("CreateCUDAProviderOptions", options);
        api.call("UpdateCUDAProviderOptions", options[0], ["device_id"], ["0"], 1);
        const so = [null as unknown];
        api.call("CreateSessionOptions", so);
        assert.throws(() => api.call("SessionOptionsAppendExecutionProvider_CUDA_V2", so[0], options[0]), OrtApiError);
        api.fn("ReleaseSessionOptions")(so[0]);
        api.fn("ReleaseCUDAProviderOptions")(options[0]);
      } catch (e) {
        assert.ok(e instanceof OrtApiError && /CUDA|cuda|provider/.test(e.message), String(e));
      }
    } finally {
      api.fn("ReleaseMemoryInfo")(mem[0]);
    }
  });

  test("without CUDA, a CUDA session is refused before ONNX Runtime is asked (its shared-arena call would abort the process)", {
    skip: provider === "cuda" ? "the CUDA provider is here" : false,
  }, async () => {
    const model = serializeModel(new Builder("x").root);
    await assert.rejects(capiEngine.create(model, settings({ provider: "cuda" })), (e: Error) => e instanceof ProviderUnavailableError);
  });

  test("a TinyVLM DPO training run gives the same state and metrics on both engines (bit for bit on the CPU)", async () => {
    const vocab = 64;
    const c = tinyVlmConfig("nano", vocab);
    const params = initTinyVlm(c, new Rng(0));
    const fields = dpoBatch(c, 2, 6);
    const spec: TrainProgramSpec = {
      trainable: params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
      batch: fields,
      steps: 2,
      optimizer: adamw({ lr: 1e-3 }),
      clipNorm: 1,
      loss: dpoLoss(c, { loss: "sigmoid", beta: 0.1, labelSmoothing: 0, logps: "sum", sftWeight: 0 }),
    };
    const rng = new Rng(7);
    const batch: Record<string, TensorData> = {};
    for (const [name, s] of Object.entries(fields)) {
      const shape = [spec.steps, ...s.shape];
      const n = shape.reduce((a, b) => a * b, 1);
      if (s.dtype === "int64")
        batch[name] = { dtype: "int64", shape, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rng.uniform() * vocab))) };
      else if (/^ref_/.test(name)) batch[name] = { dtype: "float32", shape, data: Float32Array.from({ length: n }, () => -20 * rng.uniform()) };
      else batch[name] = { dtype: "float32", shape, data: new Float32Array(n).fill(1) };
    }
    const initial = new Map(params.map((p) => [p.name, p.data]));
    const program = buildTrainProgram(spec);
    const results = [];
    for (const rt of [binding, capi]) {
      const trainer = new Trainer(rt, program, spec, initial);
      const m1 = await trainer.run(batch);
      const m2 = await trainer.run(batch);
      results.push({ metrics: [m1, m2], state: trainer.snapshot().state });
    }
    const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
    assert.ok(Number.isFinite(a.metrics[1]!.values.loss![0]!), "the loss is a number");
    assert.deepEqual([...b.state.keys()], [...a.state.keys()]);
    if (provider === "cpu") {
      assert.deepEqual(b.metrics, a.metrics);
      for (const [name, t] of a.state) assert.ok(bytesOf(t).equals(bytesOf(b.state.get(name)!)), `state ${name} differs between engines`);
    } else {
      // CUDA's reductions are not bit-reproducible from run to run (atomics), on either engine: close, not equal.
      const close = (x: number, y: number) => Math.abs(x - y) <= 1e-4 * Math.max(1, Math.abs(y));
      for (const [i, m] of a.metrics.entries())
        assert.ok(
          m.values.loss!.every((v, j) => close(b.metrics[i]!.values.loss![j]!, v)),
          "losses differ",
        );
      // Elementwise closeness is too strict for the state: Adam's first steps move each parameter by about ±lr
      // whatever its gradient's size, so an element whose gradient is near zero may step either way on the two runs.
      // The state as a whole agrees: ‖x − y‖ ≤ 1e-2·‖y‖ (an engine that did not train would be ~0.2 off here).
      const norm = (v: Float32Array) => Math.sqrt(v.reduce((acc, e) => acc + e * e, 0));
      for (const [name, t] of a.state) {
        const [x, y] = [t.data as Float32Array, b.state.get(name)!.data as Float32Array];
        const diff = norm(x.map((v, j) => v - y[j]!));
        assert.ok(diff <= 1e-2 * norm(y) + 1e-12, `state ${name} differs between engines: ‖x − y‖ ${diff} against ‖y‖ ${norm(y)}`);
      }
    }
  });

  test("resident tensors: kept outputs stay in the engine's memory, feed the next run without a copy, and copy out on demand", async () => {
    const b = new Builder("acc");
    const x = b.input("x", "float32", [3]);
    b.output(add(x, x), "y");
    b.output(cast(x, "int64"), "i");
    const s = await capi.load(serializeModel(b.root));
    const x0: TensorData = { dtype: "float32", shape: [3], data: Float32Array.from([1, 2.5, -3]) };
    const first = await capi.runKeeping(s, { x: x0 }, ["y", "i"], ["y"]);
    const y = first.y!;
    assert.ok(isResident(y), "y is kept");
    assert.ok(!isResident(first.i!), "i comes back to the host");
    assert.deepEqual([y.dtype, [...y.shape]], ["float32", [3]]);
    const second = await capi.runKeeping(s, { x: y }, ["y"], ["y"]);
    assert.deepEqual([...(y.toHost().data as Float32Array)], [2, 5, -6]);
    const z = second.y!;
    assert.ok(isResident(z));
    assert.deepEqual([...(z.toHost().data as Float32Array)], [4, 10, -12]);
    y.release();
    y.release(); // twice is harmless
    await assert.rejects(capi.runKeeping(s, { x: y }, ["y"], []), /used after release/);
    assert.deepEqual([...((await capi.run(s, { x: z.toHost() })).y!.data as Float32Array)], [8, 20, -24]);
    z.release();
    // The binding keeps nothing: asked to, it returns host tensors, and it refuses another engine's resident tensor.
    const bs = await binding.load(serializeModel(b.root));
    assert.ok(!isResident((await binding.runKeeping(bs, { x: x0 }, ["y"], ["y"])).y!));
    const kept = (await capi.runKeeping(s, { x: x0 }, ["y"], ["y"])).y!;
    await assert.rejects(binding.runKeeping(bs, { x: kept }, ["y"], []), /resident in another engine's memory/);
    if (isResident(kept)) kept.release();
  });

  test("Runtime.release frees the resident tensors its runs kept, and a fresh runtime starts over on the device", async () => {
    const own = new Runtime({ engine: "capi", provider, ...(deviceId !== undefined ? { deviceId } : {}) });
    const b = new Builder("twice");
    const x = b.input("x", "float32", [2]);
    b.output(add(x, x), "y");
    const model = serializeModel(b.root);
    const s = await own.load(model);
    const kept = (await own.runKeeping(s, { x: { dtype: "float32", shape: [2], data: Float32Array.from([1, 2]) } }, ["y"], ["y"])).y!;
    assert.ok(isResident(kept));
    assert.deepEqual([...(kept.toHost().data as Float32Array)], [2, 4]);
    // Every session of the process released (this file's shared runtime too: it loads afresh in later tests): the
    // device's copy programs, and with CUDA its shared arena, go with the last one.
    await capi.release();
    await own.release();
    assert.throws(() => kept.toHost(), /used after release/);
    assert.equal(sharedWeightCount(), 0);
    // A new session brings them back.
    const again = await own.load(model);
    const next = (await own.runKeeping(again, { x: { dtype: "float32", shape: [2], data: Float32Array.from([3, 4]) } }, ["y"], ["y"])).y!;
    assert.ok(isResident(next));
    assert.deepEqual([...(next.toHost().data as Float32Array)], [6, 8]);
    await own.release();
  });

  test("metadata: input names, element types and symbolic dimensions as the binding reports them", async () => {
    const b = new Builder("meta");
    const x = b.input("x", "float32", [2, "n"]);
    const i = b.input("ids", "int64", ["batch", 3]);
    const m = b.input("mask", "bool", [4]);
    b.output(add(x, x), "y");
    b.output(cast(i, "float32"), "f");
    b.output(cast(m, "int32"), "k");
    const model = serializeModel(b.root);
    const [sb, sc] = [await binding.load(model), await capi.load(model)];
    assert.deepEqual(sc.inputNames, ["x", "ids", "mask"]);
    assert.deepEqual(sc.outputNames, ["y", "f", "k"]);
    assert.deepEqual(sc.session.inputs, sb.session.inputs);
    assert.deepEqual(sc.session.inputs[1], { name: "ids", isTensor: true, type: "int64", shape: ["batch", 3] });
  });

  test("every dtype alignc uses, empty tensors and bfloat16 go in and come out", async () => {
    const b = new Builder("dtypes");
    const names = ["float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool"] as const;
    for (const d of names) b.output(b.input(d, d, [-1] as never), `${d}_out`);
    const bf = b.input("bf", "bfloat16", [3]);
    b.output(cast(cast(bf, "float32"), "bfloat16"), "bf_out");
    const s = await capi.load(serializeModel(b.root));
    const feeds: Record<string, TensorData> = {
      float32: { dtype: "float32", shape: [2], data: new Float32Array([1.5, -2]) },
      float64: { dtype: "float64", shape: [1], data: new Float64Array([Math.PI]) },
      float16: { dtype: "float16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
      int64: { dtype: "int64", shape: [2], data: new BigInt64Array([-(2n ** 40n), 7n]) },
      int32: { dtype: "int32", shape: [0], data: new Int32Array(0) },
      int8: { dtype: "int8", shape: [1], data: new Int8Array([-3]) },
      uint8: { dtype: "uint8", shape: [1], data: new Uint8Array([250]) },
      bool: { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) },
      bf: { dtype: "bfloat16", shape: [3], data: new Uint16Array([0x3f80, 0xc040, 0x0000]) },
    };
    const out = await capi.run(s, feeds);
    for (const d of names) {
      assert.equal(out[`${d}_out`]!.dtype, d);
      assert.deepEqual(out[`${d}_out`]!.shape, feeds[d]!.shape);
      assert.ok(bytesOf(out[`${d}_out`]!).equals(bytesOf(feeds[d]!)), `${d} round-trips`);
      assert.equal(out[`${d}_out`]!.data.constructor, feeds[d]!.data.constructor);
    }
    assert.deepEqual([...(out.bf_out!.data as Uint16Array)], [0x3f80, 0xc040, 0x0000]);
    // The binding cannot even open a model with a bfloat16 input.
    await assert.rejects(binding.load(serializeModel(b.root)), /Unsupported data type: 16/);
  });

  test("an ONNX Runtime failure is an OrtApiError with ONNX Runtime's message, and the session stays usable", async () => {
    // A feed whose shape the model does not accept: ONNX Runtime refuses the run on every provider (an index out of
    // range would do on the CPU, but CUDA's Gather does not check its indices).
    const b = new Builder("gather");
    b.output(gather(b.input("x", "float32", [3]), b.input("i", "int64", [1])), "y");
    const s = await capi.load(serializeModel(b.root));
    const x: TensorData = { dtype: "float32", shape: [3], data: Float32Array.from([5, 6, 7]) };
    const i = (k: bigint): TensorData => ({ dtype: "int64", shape: [1], data: BigInt64Array.from([k]) });
    // The engine's session itself: Runtime.run would refuse the feed before ONNX Runtime sees it.
    await assert.rejects(s.session.run({ x: { dtype: "float32", shape: [4], data: new Float32Array(4) }, i: i(0n) }, ["y"]), (e: Error) => {
      assert.ok(e instanceof OrtApiError, `${e.name}: ${e.message}`);
      assert.equal(e.fn, "Run");
      assert.match(e.message, /^Run: .*invalid dimensions/is);
      return true;
    });
    const ok = await capi.run(s, { x, i: i(2n) });
    assert.deepEqual([...(ok.y!.data as Float32Array)], [7]);
    await assert.rejects(capiEngine.create(new Uint8Array([1, 2, 3]), settings()), (e: Error) => e instanceof OrtApiError && e.fn === "CreateSessionFromArray");
  });

  test("profiling writes ONNX Runtime's trace next to the prefix", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-capi-prof-"));
    try {
      const b = new Builder("prof");
      b.output(add(b.input("x", "float32", [2]), 1), "y");
      const session = await capiEngine.create(serializeModel(b.root), settings({ profilePrefix: path.join(dir, "p") }));
      await session.run({ x: { dtype: "float32", shape: [2], data: new Float32Array(2) } }, ["y"]);
      await session.endProfiling();
      await session.release();
      await session.release(); // twice is harmless
      const files = readdirSync(dir);
      assert.equal(files.length, 1);
      const trace = JSON.parse(readFileSync(path.join(dir, files[0]!), "utf8")) as { name?: string }[];
      assert.ok(
        trace.some((e) => e.name === "model_run"),
        "a model_run event",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("CUDA settings: the provider options they become; the binding refuses what it cannot pass", async () => {
    assert.deepEqual(cudaProviderOptions(settings({ deviceId: 1 })), { device_id: "1", arena_extend_strategy: "kSameAsRequested", use_tf32: "1" });
    assert.deepEqual(cudaProviderOptions(settings({ cuda: { ...CAPI_CUDA, arenaGrowth: "power-of-two", tf32: false, memoryLimit: 2 ** 33 } })), {
      device_id: "0",
      arena_extend_strategy: "kNextPowerOfTwo",
      use_tf32: "0",
      gpu_mem_limit: String(2 ** 33),
    });
    const model = serializeModel(new Builder("x").root);
    await assert.rejects(
      bindingEngine.create(model, settings({ provider: "cuda", cuda: { ...BINDING_CUDA, tf32: false, sharedArena: true } })),
      /cannot set the CUDA provider's tf32, sharedArena; use the C-API engine/,
    );
    await assert.rejects(bindingEngine.create(model, settings({ shareWeights: true })), /cannot share weights between sessions; use the C-API engine/);
    assert.equal(new Runtime({ engine: "capi", provider: "cuda" }).options.shareWeights, true, "shared by default on CUDA");
    assert.equal(new Runtime({ engine: "capi" }).options.shareWeights, false, "not on the CPU: ONNX Runtime maps the files in place");
    assert.equal(new Runtime({ engine: "binding", provider: "cuda" }).options.shareWeights, false);
    assert.deepEqual(new Runtime({ engine: "capi" }).options.cuda, CAPI_CUDA);
    assert.deepEqual(new Runtime({ engine: "binding" }).options.cuda, BINDING_CUDA);
    assert.equal(new Runtime({ engine: "capi", cuda: { tf32: false } }).options.cuda.tf32, false);
    assert.throws(() => new Runtime({ engine: "capi", cuda: { memoryLimit: -1 } }), /memoryLimit must be a whole number of bytes/);
    assert.throws(() => new Runtime({ engine: "nope" as never }), /unknown engine "nope"/);
  });

  test("shared weights: two programs of one checkpoint hold one copy of each weight and compute what the binding computes", async () => {
    const dir = path.join(repoRoot, "test", "fixtures", "hf", "qwen2-tied-v5");
    const config = readHfConfig(dir);
    assert.ok(config.ok);
    const shape = decoderShapeOf(config.config);
    const found = findHfWeights(dir);
    assert.ok(found.ok);
    const weights = externalHfWeights(dir, readHfTensorIndex(found.files));
    const programs = [1, 2].map((batch) => ({ batch, root: buildHfLogitsProgram(shape, weights, { batch, length: 5 }).root }));
    const feedsFor = (batch: number) => {
      const { cos, sin } = ropeTables(shape, arangePositions(batch, 5));
      const ids: TensorData = { dtype: "int64", shape: [batch, 5], data: BigInt64Array.from({ length: batch * 5 }, (_, i) => BigInt((7 * i + 3) % 50)) };
      return { input_ids: ids, attention_mask: { dtype: "int64", shape: [batch, 5], data: new BigInt64Array(batch * 5).fill(1n) } as TensorData, cos, sin };
    };
    const shared = new Runtime({ engine: "capi", provider, ...(deviceId !== undefined ? { deviceId } : {}), shareWeights: true });
    const before = sharedWeightCount();
    try {
      for (const { batch, root } of programs) {
        const external = externalDataOf(root, weights.folder);
        const got = await shared.run(await shared.load(serializeModel(root), undefined, external), feedsFor(batch));
        const want = await binding.run(await binding.load(serializeModel(root), undefined, external), feedsFor(batch));
        if (provider === "cpu") assert.ok(bytesOf(got.logits!).equals(bytesOf(want.logits!)), `batch ${batch}: logits differ from the binding's`);
        else {
          const [g, w] = [got.logits!.data as Float32Array, want.logits!.data as Float32Array];
          assert.ok(
            g.every((v, i) => Math.abs(v - w[i]!) <= 1e-4 * Math.max(1, Math.abs(w[i]!))),
            `batch ${batch}: logits differ from the binding's`,
          );
        }
      }
      // Both programs read the same tensors: one copy of each, whatever each graph calls it.
      assert.equal(sharedWeightCount() - before, weights.tensors.size);
    } finally {
      await shared.release();
    }
    assert.equal(sharedWeightCount(), before, "released with the last session that held them");
  });

  const onCuda = provider === "cuda" ? false : "needs CUDA (ALIGNC_DEVICE=cuda on the GPU machine, scripts/device-engine.sh)";

  test("on CUDA: TF32 follows the setting (run without NVIDIA_TF32_OVERRIDE)", {
    skip: onCuda || (process.env.NVIDIA_TF32_OVERRIDE ? "NVIDIA_TF32_OVERRIDE is set" : false),
  }, async () => {
    const n = 512;
    const b = new Builder("mm");
    b.output(matmul(b.input("a", "float32", [n, n]), b.input("b", "float32", [n, n])), "c");
    const model = serializeModel(b.root);
    const rng = new Rng(3);
    const m = (): TensorData => ({ dtype: "float32", shape: [n, n], data: Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5) });
    const feeds = { a: m(), b: m() };
    const cpu = new Runtime({ engine: "capi", provider: "cpu" });
    const reference = (await cpu.run(await cpu.load(model), feeds)).c!.data as Float32Array;
    await cpu.release();
    const maxError = async (tf32: boolean) => {
      const rt = new Runtime({ engine: "capi", provider, deviceId: deviceId ?? 0, cuda: { tf32, sharedArena: false } });
      try {
        const c = (await rt.run(await rt.load(model), feeds)).c!.data as Float32Array;
        return c.reduce((worst, v, i) => Math.max(worst, Math.abs(v - reference[i]!)), 0);
      } finally {
        await rt.release();
      }
    };
    const [off, on] = [await maxError(false), await maxError(true)];
    assert.ok(off < 1e-4, `TF32 off: max |Δ| ${off} against the CPU`);
    assert.ok(on > 10 * off, `TF32 on rounds the inputs to 10 bits: max |Δ| ${on} vs ${off} off`);
  });

  test("on CUDA: an arena memory limit stops a run that needs more, with ONNX Runtime's message", { skip: onCuda }, async () => {
    const b = new Builder("big");
    b.output(add(b.input("x", "float32", ["n"]), 1), "y");
    const rt = new Runtime({ engine: "capi", provider, deviceId: deviceId ?? 0, cuda: { memoryLimit: 2 ** 28, sharedArena: false } });
    try {
      const s = await rt.load(serializeModel(b.root));
      const f = (n: number): TensorData => ({ dtype: "float32", shape: [n], data: new Float32Array(n) });
      assert.equal((await rt.run(s, { x: f(2 ** 20) })).y!.data[0], 1);
      await assert.rejects(rt.run(s, { x: f(2 ** 27) }), (e: Error) => e instanceof OrtApiError && /alloc|memory/i.test(e.message));
    } finally {
      await rt.release();
    }
  });

  test("reads ONNX Runtime's arena counters after a run (AllocatorGetStats); the binding cannot", async () => {
    const b = new Builder("counted");
    const x = b.input("x", "float32", ["n"]);
    b.output(add(add(x, 1), x), "y");
    const n = 2 ** 20; // a 4 MiB intermediate
    const feeds = { x: { dtype: "float32" as const, shape: [n], data: new Float32Array(n).fill(1) } };
    const model = serializeModel(b.root);
    const rt = new Runtime({ engine: "capi", provider, ...(deviceId !== undefined ? { deviceId } : {}) });
    after(() => rt.release());
    assert.equal(await rt.arenaStats(), undefined, "no session yet");
    await rt.run(await rt.load(model), feeds);
    const stats = await rt.arenaStats();
    assert.ok(stats, "the C-API engine reads its arena's counters");
    assert.ok(stats.maxInUse >= 4 * n, `the 4 MiB intermediate was in use at once: max in use ${stats.maxInUse}`);
    assert.ok(stats.reserved >= stats.maxInUse, `reserved ${stats.reserved} ≥ max in use ${stats.maxInUse}`);
    assert.ok(stats.maxAllocation >= 4 * n && stats.allocations > 0 && stats.extensions > 0, JSON.stringify(stats));
    assert.ok(stats.inUse <= stats.maxInUse);
    await binding.run(await binding.load(model), feeds);
    assert.equal(await binding.arenaStats(), undefined, "onnxruntime-node does not expose them");
  });

  test("ALIGNC_ENGINE picks the default engine", () => {
    const saved = process.env.ALIGNC_ENGINE;
    try {
      process.env.ALIGNC_ENGINE = "capi";
      assert.equal(defaultEngine(), "capi");
      assert.equal(new Runtime().options.engine, "capi");
      delete process.env.ALIGNC_ENGINE;
      assert.equal(defaultEngine(), "binding");
      process.env.ALIGNC_ENGINE = "cuda";
      assert.throws(() => new Runtime(), /ALIGNC_ENGINE must be binding or capi, got "cuda"/);
    } finally {
      if (saved === undefined) delete process.env.ALIGNC_ENGINE;
      else process.env.ALIGNC_ENGINE = saved;
    }
  });
});
