// Parameter sets: the seeded generator against published vectors, initialisers, freezing, saving and
// loading, binding to a graph (trainable → inputs, frozen → initializers), and LoRA, checked end to end in
// ONNX Runtime (B = 0 reproduces the base model exactly; merged and unmerged models agree).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { encodeSafetensors, saveSafetensors } from "../src/formats/safetensors.ts";
import { normal, ones, uniform, xavierUniform, zeros } from "../src/models/params/init.ts";
import { applyLora, LORA_META, loraAdapters, loraWeight, mergeLora, weightFn } from "../src/models/params/lora.ts";
import { META, ParamSet } from "../src/models/params/param-set.ts";
import { globToRegExp } from "../src/models/params/select.ts";
import type { Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import * as op from "../src/tensor/ops/index.ts";
import { Builder } from "../src/tensor/ops/index.ts";
import { Rng, splitmix64 } from "../src/util/random.ts";
import { ALIGNC_VERSION } from "../src/version.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-params-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (shape: number[], values: number[]): TensorData => ({ dtype: "float32", shape, data: new Float32Array(values) });

describe("Rng", () => {
  test("SplitMix64 matches the published sequence for seed 1234567", () => {
    let s = 1234567n;
    const out: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const [next, v] = splitmix64(s);
      s = next;
      out.push(v);
    }
    assert.deepEqual(out, [6457827717110365317n, 3203168211198807973n, 9817491932198370423n, 4593380528125082431n, 16408922859458223821n]);
  });

  test("xoshiro128** matches the reference for state {1, 2, 3, 4}", () => {
    const r = Rng.fromState(1, 2, 3, 4);
    const out = Array.from({ length: 10 }, () => r.nextU32());
    assert.deepEqual(out, [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  test("seeding agrees with an independent Python transcription of SplitMix64 + xoshiro128**", { skip: spawnSync("python3", ["-V"]).status !== 0 }, () => {
    const py = `
M64, M32 = (1 << 64) - 1, 0xffffffff
def sm(s):
    s = (s + 0x9e3779b97f4a7c15) & M64
    z = s
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return s, z ^ (z >> 31)
rotl = lambda x, k: ((x << k) | (x >> (32 - k))) & M32
s, x = sm(42)
_, y = sm(s)
st = [x & M32, x >> 32, y & M32, y >> 32]
out = []
for _ in range(6):
    out.append((rotl((st[1] * 5) & M32, 7) * 9) & M32)
    t = (st[1] << 9) & M32
    st[2] ^= st[0]; st[3] ^= st[1]; st[1] ^= st[2]; st[0] ^= st[3]; st[2] ^= t; st[3] = rotl(st[3], 11)
print(out)`;
    const run = spawnSync("python3", ["-c", py], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const r = new Rng(42);
    assert.deepEqual(
      JSON.parse(run.stdout),
      Array.from({ length: 6 }, () => r.nextU32()),
    );
  });

  test("same seed, same stream; forks are deterministic, label-specific and independent of the parent's use", () => {
    const a = new Rng(7);
    const b = new Rng(7n);
    assert.deepEqual([a.uniform(), a.normal(), a.normal()], [b.uniform(), b.normal(), b.normal()]);
    const parent = new Rng(7);
    const f1 = parent.fork("layers.0.w").uniform();
    parent.uniform();
    assert.equal(parent.fork("layers.0.w").uniform(), f1, "forking does not depend on how far the parent has run");
    assert.notEqual(parent.fork("layers.1.w").uniform(), f1);
    assert.notEqual(new Rng(8).fork("layers.0.w").uniform(), f1);
    assert.throws(() => new Rng(1.5), /the seed must be an integer/);
  });

  test("uniform is in [0, 1) and normal has mean 0 and variance 1", () => {
    const r = new Rng(123);
    const n = 40000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      assert.ok(u >= 0 && u < 1);
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    assert.ok(Math.abs(sum / n) < 0.03, `mean ${sum / n}`);
    assert.ok(Math.abs(sq / n - 1) < 0.03, `variance ${sq / n}`);
  });
});

describe("initialisers", () => {
  test("zeros and ones for every dtype", () => {
    assert.deepEqual(ones([2], "float16").data, new Uint16Array([0x3c00, 0x3c00]));
    assert.deepEqual(ones([2], "int64").data, new BigInt64Array([1n, 1n]));
    assert.deepEqual(ones([1], "bool").data, new Uint8Array([1]));
    assert.deepEqual(zeros([2, 3]), { dtype: "float32", shape: [2, 3], data: new Float32Array(6) });
    assert.throws(() => zeros([-1]), /shape \[-1\] must hold non-negative integers/);
  });

  test("xavierUniform stays within gain·sqrt(6/(fan_in+fan_out)); normal and uniform are seeded", () => {
    const w = xavierUniform(new Rng(1), [30, 20], 2);
    const bound = 2 * Math.sqrt(6 / 50);
    assert.ok([...(w.data as Float32Array)].every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...(w.data as Float32Array)) > bound * 0.9, "values spread over the range");
    assert.deepEqual(normal(new Rng(5), [4], 0.1).data, normal(new Rng(5), [4], 0.1).data);
    assert.ok([...(uniform(new Rng(5), [100], 2, 3, "float64").data as Float64Array)].every((v) => v >= 2 && v < 3));
    assert.throws(() => normal(new Rng(1), [2], 1, 0, "float16"), /random initialisation needs float32 or float64, got float16/);
    assert.throws(() => xavierUniform(new Rng(1), [3]), /needs a weight of rank >= 2/);
  });
});

function smallSet(): ParamSet {
  const rng = new Rng(2024);
  const ps = new ParamSet();
  ps.add("layers.0.attn.q", xavierUniform(rng.fork("layers.0.attn.q"), [4, 6]));
  ps.add("layers.0.mlp.up", xavierUniform(rng.fork("layers.0.mlp.up"), [6, 5]));
  ps.add("layers.0.norm.scale", normal(rng.fork("layers.0.norm.scale"), [5], 0.5, 1));
  ps.add("head.w", xavierUniform(rng.fork("head.w"), [5, 3]));
  ps.add("step", { dtype: "int64", shape: [], data: new BigInt64Array([3n]) }, { trainable: false });
  return ps;
}

describe("ParamSet", () => {
  test("names must be valid dotted identifiers and unique; values must match their dtype and shape", () => {
    const ps = new ParamSet();
    ps.add("a.b_0.c-1", zeros([1]));
    for (const bad of ["", "1abc", "a..b", "a.", "a b", "a/b", "é", "__metadata__"])
      assert.throws(() => ps.add(bad, zeros([1])), /is not valid: use dotted identifiers/, bad);
    assert.throws(() => ps.add("a.b_0.c-1", zeros([1])), /parameter "a.b_0.c-1" is already defined/);
    assert.throws(
      () => ps.add("x", { dtype: "float32", shape: [2], data: new Float32Array(3) }),
      /parameter "x": shape \[2\] needs 2 elements, the data holds 3/,
    );
    assert.throws(() => ps.get("nope"), /no parameter named "nope"/);
  });

  test("freezing by exact name, glob or regex; views and counts follow", () => {
    const ps = smallSet();
    assert.equal(ps.count(), 24 + 30 + 5 + 15 + 1);
    assert.deepEqual(
      ps.trainable().map((p) => p.name),
      ["layers.0.attn.q", "layers.0.mlp.up", "layers.0.norm.scale", "head.w"],
    );
    assert.deepEqual(ps.freeze("layers.*"), ["layers.0.attn.q", "layers.0.mlp.up", "layers.0.norm.scale"]);
    assert.deepEqual(
      ps.trainable().map((p) => p.name),
      ["head.w"],
    );
    assert.equal(ps.count("trainable"), 15);
    assert.equal(ps.count("frozen"), 24 + 30 + 5 + 1);
    assert.deepEqual(ps.unfreeze([/\.norm\./, "layers.0.attn.?"]), ["layers.0.attn.q", "layers.0.norm.scale"]);
    assert.deepEqual(
      ps.frozen().map((p) => p.name),
      ["layers.0.mlp.up", "step"],
    );
    assert.throws(() => ps.freeze(["head.*", "*.atn.q"]), /freeze: "\*\.atn\.q" matches no parameter/);
    assert.equal(ps.get("head.w").trainable, true, "a failed selection changes nothing");
    assert.ok(globToRegExp("*.attn.q").test("layers.10.attn.q"));
    assert.ok(!globToRegExp("*.attn.q").test("layers.10.attn.qk"));
  });

  test("setValue and restore reject dtype and shape mismatches, and missing or extra names", () => {
    const ps = smallSet();
    assert.throws(() => ps.setValue("head.w", zeros([3, 5])), /setValue: parameter "head.w" is float32 \[5, 3\] but the new value is float32 \[3, 5\]/);
    assert.throws(() => ps.setValue("head.w", zeros([5, 3], "float64")), /is float32 \[5, 3\] but the new value is float64 \[5, 3\]/);
    const file = path.join(dir, "ckpt.safetensors");
    const values = new Map([...ps].map((p) => [p.name, { dtype: p.dtype, shape: p.shape, data: p.data } as TensorData]));
    values.set("head.w", zeros([5, 4]));
    saveSafetensors(file, values);
    assert.throws(() => ps.restore(file), new RegExp(`^ParamError: ${file}: parameter "head.w" is float32 \\[5, 3\\] but the new value is float32 \\[5, 4\\]`));
    values.delete("head.w");
    saveSafetensors(file, values);
    assert.throws(() => ps.restore(file), /: no values for "head.w"/);
    values.set("head.w", zeros([5, 3]));
    values.set("extra", zeros([1]));
    saveSafetensors(file, values);
    assert.throws(() => ps.restore(file), /: values for unknown parameters "extra"/);
    values.delete("extra");
    saveSafetensors(file, values);
    ps.restore(file);
    assert.deepEqual(ps.get("head.w").data, new Float32Array(15));
  });

  test("save and load keep values, order, trainability and metadata", () => {
    const ps = smallSet();
    ps.freeze("layers.0.norm.*");
    ps.metadata.set("run", "exp-1");
    const file = path.join(dir, "set.safetensors");
    ps.save(file);
    const back = ParamSet.load(file);
    assert.deepEqual(back.names(), ps.names());
    assert.deepEqual(
      back.trainable().map((p) => p.name),
      ps.trainable().map((p) => p.name),
    );
    for (const p of ps) assert.deepEqual(back.get(p.name).data, p.data, p.name);
    assert.deepEqual([...back.metadata], [["run", "exp-1"]]);
    const raw = ParamSet.fromSafetensors(ps.toSafetensors(), "mem");
    assert.equal(raw.size, 5);
    // The alignc metadata is in the file, for other tools to read.
    const header = new TextDecoder().decode(ps.toSafetensors().subarray(8, 400));
    assert.ok(header.includes(`"${META.version}":"${ALIGNC_VERSION}"`));
  });

  test("a plain safetensors file (no alignc metadata) loads in file order, trainable unless told otherwise", () => {
    const bytes = encodeSafetensors({ b: zeros([2]), a: zeros([2], "float64") });
    const ps = ParamSet.fromSafetensors(bytes, "hub.safetensors");
    assert.deepEqual(ps.names(), ["a", "b"]);
    assert.equal(ps.trainable().length, 2);
    assert.equal(ParamSet.fromSafetensors(bytes, "hub.safetensors", { trainable: false }).trainable().length, 0);
  });

  test("inconsistent alignc metadata is a clear error", () => {
    const tensors = { a: zeros([1]) };
    assert.throws(
      () => ParamSet.fromSafetensors(encodeSafetensors(tensors, { [META.order]: '["a","b"]' }), "x.st"),
      /x\.st: "alignc.order" does not list exactly/,
    );
    assert.throws(
      () => ParamSet.fromSafetensors(encodeSafetensors(tensors, { [META.trainable]: '["z"]' }), "x.st"),
      /"alignc.trainable" names tensors not in the file: "z"/,
    );
    assert.throws(() => ParamSet.fromSafetensors(encodeSafetensors(tensors, { [META.trainable]: "nope" }), "x.st"), /must be a JSON array of distinct names/);
    const ps = new ParamSet();
    ps.metadata.set(META.order, "[]");
    assert.throws(() => ps.toSafetensors(), /metadata key "alignc.order" is reserved/);
  });
});

async function run(b: Builder, feeds: Map<string, TensorData>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(serializeModel(b.root));
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, v] of feeds) inputs[name] = new ort.Tensor(v.dtype as "float32", v.data as Float32Array, v.shape);
  const out = await session.run(inputs);
  return out.y!.data as Float32Array;
}

const X = f32([2, 4], [0.5, -1, 2, 0.25, -0.75, 1.5, 0.1, -2]);

/** The test model: y = ((relu(x @ q) @ up) * scale) @ head, every weight through `weight`. */
function model(ps: ParamSet): { b: Builder; feeds: Map<string, TensorData>; declared: Map<string, Tensor> } {
  const b = new Builder();
  const x = b.input("x", "float32", X.shape);
  const declared = ps.declare(b);
  const weight = weightFn(b, ps, declared);
  const h = op.relu(op.matmul(x, weight("layers.0.attn.q")));
  const y = op.matmul(op.mul(op.matmul(h, weight("layers.0.mlp.up")), weight("layers.0.norm.scale")), weight("head.w"));
  b.output(y, "y");
  const feeds = ps.feeds();
  feeds.set("x", X);
  return { b, feeds, declared };
}

describe("binding a ParamSet to a graph", () => {
  test("trainable parameters become graph inputs, frozen ones initializers, and the model runs", async () => {
    const ps = smallSet();
    const set = new ParamSet();
    for (const p of ps) if (p.name !== "step") set.add(p.name, p, { trainable: p.trainable });
    set.freeze("layers.0.mlp.*");
    const { b, feeds, declared } = model(set);
    assert.deepEqual(
      b.root.inputs.map((t) => t.name),
      ["x", "layers.0.attn.q", "layers.0.norm.scale", "head.w"],
    );
    const init = declared.get("layers.0.mlp.up")!;
    assert.equal(b.root.initializers.get(init)?.data, set.get("layers.0.mlp.up").data);
    assert.deepEqual([...feeds.keys()], ["layers.0.attn.q", "layers.0.norm.scale", "head.w", "x"]);
    const y = await run(b, feeds);
    assert.equal(y.length, 6);
    assert.ok(y.every(Number.isFinite));
  });

  test("declare refuses to run inside a subgraph", () => {
    const b = new Builder();
    b.subgraph("body", () => {
      assert.throws(() => smallSet().declare(b), /parameters belong to the root graph/);
    });
  });
});

function loraSet(): ParamSet {
  const ps = new ParamSet();
  for (const p of smallSet()) if (p.name !== "step") ps.add(p.name, p, { trainable: p.trainable });
  return ps;
}

describe("LoRA", () => {
  test("adds A [in, r] and B [r, out] = 0, trains only them and what the caller keeps", () => {
    const ps = loraSet();
    const adapters = applyLora(ps, { targets: ["*.attn.q", "*.mlp.up"], rank: 2, alpha: 8, rng: new Rng(9), keepTrainable: "head.*" });
    assert.deepEqual(
      adapters.map((a) => [a.weight, a.a, a.b]),
      [
        ["layers.0.attn.q", "layers.0.attn.q.lora_a", "layers.0.attn.q.lora_b"],
        ["layers.0.mlp.up", "layers.0.mlp.up.lora_a", "layers.0.mlp.up.lora_b"],
      ],
    );
    assert.deepEqual(ps.get("layers.0.attn.q.lora_a").shape, [4, 2]);
    assert.deepEqual(ps.get("layers.0.attn.q.lora_b").shape, [2, 6]);
    assert.deepEqual(ps.get("layers.0.mlp.up.lora_b").data, new Float32Array(10));
    assert.ok((ps.get("layers.0.mlp.up.lora_a").data as Float32Array).some((v) => v !== 0));
    assert.deepEqual(
      ps.trainable().map((p) => p.name),
      ["head.w", "layers.0.attn.q.lora_a", "layers.0.attn.q.lora_b", "layers.0.mlp.up.lora_a", "layers.0.mlp.up.lora_b"],
    );
    assert.deepEqual(JSON.parse(ps.metadata.get(LORA_META)!), { "layers.0.attn.q": { rank: 2, alpha: 8 }, "layers.0.mlp.up": { rank: 2, alpha: 8 } });
    // A is seeded per parameter: the same options give the same A.
    const again = loraSet();
    applyLora(again, { targets: ["*.attn.q", "*.mlp.up"], rank: 2, alpha: 8, rng: new Rng(9) });
    assert.deepEqual(again.get("layers.0.attn.q.lora_a").data, ps.get("layers.0.attn.q.lora_a").data);
  });

  test("bad selections are clear errors and leave the set unchanged", () => {
    const ps = loraSet();
    const opts = { rank: 2, alpha: 4, rng: new Rng(1) };
    assert.throws(() => applyLora(ps, { ...opts, targets: ["*.attn.q", "*.attn.k"] }), /applyLora: "\*\.attn\.k" matches no parameter/);
    assert.throws(() => applyLora(ps, { ...opts, targets: "*.norm.*" }), /"layers.0.norm.scale" has shape \[5\]; LoRA adapts 2-D weights \[in, out\] only/);
    assert.throws(
      () => applyLora(ps, { ...opts, targets: "head.w", keepTrainable: "nothing.*" }),
      /applyLora keepTrainable: "nothing\.\*" matches no parameter/,
    );
    assert.throws(() => applyLora(ps, { ...opts, targets: "head.w", rank: 0 }), /rank must be a positive integer/);
    assert.equal(ps.size, 4);
    assert.equal(ps.trainable().length, 4);
    applyLora(ps, { ...opts, targets: "head.w" });
    assert.throws(() => applyLora(ps, { ...opts, targets: "head.w" }), /"head.w" already has a LoRA adapter/);
  });

  test("with B = 0 the LoRA model's output equals the base model's bit for bit", async () => {
    const base = loraSet();
    const yBase = await run(model(base).b, model(base).feeds);
    const ps = loraSet();
    applyLora(ps, { targets: ["*.attn.q", "*.mlp.up", "head.w"], rank: 3, alpha: 6, rng: new Rng(3) });
    const m = model(ps);
    assert.ok(
      m.b.root.nodes.some((n) => n.op === "MatMul" && n.inputs[0]?.name === "layers.0.attn.q.lora_a"),
      "the graph computes A·B",
    );
    const yLora = await run(m.b, m.feeds);
    assert.deepEqual(new Uint32Array(yLora.buffer), new Uint32Array(yBase.buffer));
  });

  test("merged and unmerged models agree within float tolerance, also after a save/load round trip", async () => {
    const ps = loraSet();
    applyLora(ps, { targets: ["*.attn.q", "*.mlp.up"], rank: 2, alpha: 16, rng: new Rng(11) });
    // Training would move B off zero; stand in for it with random values.
    const rng = new Rng(12);
    for (const a of loraAdapters(ps)) ps.setValue(a.b, normal(rng.fork(a.b), ps.get(a.b).shape, 0.3));
    const file = path.join(dir, "lora.safetensors");
    ps.save(file);
    const loaded = ParamSet.load(file);
    const yLora = await run(model(loaded).b, model(loaded).feeds);
    const merged = mergeLora(loaded);
    assert.deepEqual(merged.names(), ["layers.0.attn.q", "layers.0.mlp.up", "layers.0.norm.scale", "head.w"]);
    assert.equal(merged.metadata.has(LORA_META), false);
    const yMerged = await run(model(merged).b, model(merged).feeds);
    const yBase = await run(model(loraSet()).b, model(loraSet()).feeds);
    for (let i = 0; i < yLora.length; i++)
      assert.ok(Math.abs(yLora[i]! - yMerged[i]!) <= 1e-5 * (1 + Math.abs(yLora[i]!)), `output ${i}: ${yLora[i]} vs ${yMerged[i]}`);
    assert.ok(
      yLora.some((v, i) => Math.abs(v - yBase[i]!) > 1e-3),
      "the adapters do change the output",
    );
    // mergeLora is pure: the adapted set is untouched.
    assert.deepEqual(loaded.get("layers.0.attn.q").data, loraSet().get("layers.0.attn.q").data);
  });

  test("names that are Object.prototype keys are plain data (a weight named __proto__)", () => {
    const ps = new ParamSet();
    ps.add("__proto__", f32([2, 2], [1, 2, 3, 4]));
    applyLora(ps, { targets: "__proto__", rank: 1, alpha: 1, rng: new Rng(1) });
    const back = ParamSet.fromSafetensors(ps.toSafetensors(), "mem");
    assert.deepEqual(
      loraAdapters(back).map((a) => a.weight),
      ["__proto__"],
    );
    assert.deepEqual(mergeLora(back).get("__proto__").data, new Float32Array([1, 2, 3, 4]));
  });

  test("loraWeight checks shapes; broken adapter metadata is reported", () => {
    const b = new Builder();
    const W = b.input("W", "float32", [4, 6]);
    const A = b.input("A", "float32", [4, 2]);
    const B = b.input("B", "float32", [2, 6]);
    assert.equal(loraWeight(b, W, A, B, 4, 2).shape.join(), "4,6");
    assert.throws(() => loraWeight(b, W, A, B, 4, 3), /rank 3 does not match A \[4, 2\] and B \[2, 6\]/);
    assert.throws(() => loraWeight(b, W, B, A, 4, 2), /rank 2 does not match/);
    const C = b.input("C", "float32", [2, 5]);
    assert.throws(() => loraWeight(b, W, A, C, 4, 2), /A·B is \[4, 5\] but W is \[4, 6\]/);
    const ps = loraSet();
    ps.metadata.set(LORA_META, JSON.stringify({ "head.w": { rank: 2, alpha: 1 } }));
    assert.throws(() => mergeLora(ps), /LoRA adapter of "head.w": parameter "head.w.lora_a" is missing/);
    ps.metadata.set(LORA_META, "[1]");
    assert.throws(() => loraAdapters(ps), /must be a JSON object of \{rank, alpha\} per weight/);
  });
});
