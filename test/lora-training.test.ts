// LoRA for TinyVLM's SFT and DPO phases (src/runtime/models/tinyvlm/adapters.ts): B = 0 starts from the base model exactly;
// training moves only the adapters (and the projector, with its own learning rate); the merged checkpoint is
// W + (α/r)·A·B and computes what the adapted model computed; per-parameter learning-rate scales are exact.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { LORA_META } from "../src/models/params/lora.ts";
import { ParamSet } from "../src/models/params/param-set.ts";
import { imageTokens, type TinyVlmConfig, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { vlmLogits } from "../src/models/tinyvlm/forward.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import type { Runtime } from "../src/runtime/engine/session.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import { loadCheckpoint, saveCheckpoint } from "../src/runtime/models/checkpoint.ts";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  buildAdapters,
  type LoraSettings,
  loraSettingsOf,
  loraTargetWeights,
  type VlmAdapters,
} from "../src/runtime/models/tinyvlm/adapters.ts";
import { trainDpo } from "../src/runtime/models/tinyvlm/dpo.ts";
import type { PairExample } from "../src/runtime/models/tinyvlm/dpo-feeds.ts";
import type { Example } from "../src/runtime/models/tinyvlm/feeds.ts";
import { modelToCheckpoint, type VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { type SftOptions, trainSft } from "../src/runtime/models/tinyvlm/sft.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import type { Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import * as op from "../src/tensor/ops/index.ts";
import { adamw, sgd } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { TEST_DEVICE, testRuntime } from "./support/device.ts";

const tmp = mkdtempSync(path.join(tmpdir(), "alignc-lora-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const tok = Tokenizer.train(["What colour is it?", "Red.", "Blue.", "Is it good?", "Yes.", "No."], { vocabSize: 128 });
// A TinyVLM smaller than nano (4 image tokens, 2 text layers): the properties do not depend on size.
const c: TinyVlmConfig = {
  ...tinyVlmConfig("nano", tok.vocabSize),
  size: "lora-test",
  imageSize: 16,
  patch: 8,
  vision: { width: 32, layers: 1, heads: 2, hidden: 128 },
  text: { width: 48, layers: 2, heads: 4, hidden: 192 },
  textContext: 24,
};
const fresh = (): VlmModel => ({ config: c, tokenizer: tok, params: new Map(initTinyVlm(c, new Rng(1)).map((p) => [p.name, p.data])) });
const copyParams = (m: VlmModel) => new Map([...m.params].map(([n, t]) => [n, { ...t, data: t.data.slice() } as TensorData]));

/** Solid red or blue images: the answer is only in the pixels, so the projector matters. */
function colours(n: number, seed: number): Example[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const red = r.uniform() < 0.5;
    const rgb = new Uint8Array(c.imageSize * c.imageSize * 3);
    for (let p = 0; p < rgb.length; p += 3) rgb.set(red ? [220, 30, 30] : [30, 30, 220], p);
    return { id: `c${i}`, prompt: "What colour is it?", answer: red ? "Red." : "Blue.", rgb };
  });
}

const sftOptions = (steps: number, lora?: LoraSettings): SftOptions => ({
  batch: 8,
  accumulation: 1,
  steps,
  stepsPerRun: steps,
  optimizer: adamw({ lr: 2e-2, weightDecay: 0.01 }),
  schedule: { kind: "constant", warmupSteps: 0 },
  clipNorm: 1,
  seed: 4,
  lora,
});

const feedsOf = (seed: number) => {
  const r = new Rng(seed);
  const B = 2;
  const T = 6;
  return {
    pixels: { dtype: "float32", shape: [B, c.imageSize, c.imageSize, 3], data: Float32Array.from({ length: B * c.imageSize ** 2 * 3 }, () => r.uniform()) },
    tokens: { dtype: "int64", shape: [B, T], data: BigInt64Array.from({ length: B * T }, () => BigInt(Math.floor(r.uniform() * tok.vocabSize))) },
    image_keep: { dtype: "float32", shape: [B, imageTokens(c)], data: new Float32Array(B * imageTokens(c)).fill(1) },
  } satisfies Record<string, TensorData>;
};

/** Logits of a forward graph over `weights`, whose named inputs are fed from `values`. */
async function logits(
  rt: Runtime,
  declare: (b: op.Builder) => (name: string) => Tensor,
  values: ReadonlyMap<string, TensorData>,
  seed = 7,
): Promise<Float32Array> {
  const b = new op.Builder();
  const f = feedsOf(seed);
  const weight = declare(b);
  const pixels = b.input("pixels", "float32", f.pixels.shape);
  const tokens = b.input("tokens", "int64", f.tokens.shape);
  const imageKeep = b.input("image_keep", "float32", f.image_keep.shape);
  b.output(vlmLogits(c, weight, { pixels, tokens, imageKeep }), "logits");
  const feeds: Record<string, TensorData> = { ...f };
  for (const t of b.root.inputs) if (values.has(t.name)) feeds[t.name] = values.get(t.name)!;
  const out = await rt.run(await rt.load(serializeModel(b.root)), feeds);
  return out.logits!.data as Float32Array;
}

/** Every weight a graph input (fed from `values`). */
const asInputs = (params: ReadonlyMap<string, TensorData>) => (b: op.Builder) => {
  const w = new Map([...params].map(([n, t]) => [n, b.input(n, t.dtype, t.shape)]));
  return (n: string) => w.get(n)!;
};

/** The adapted forward as training runs it: adapters as inputs, the rest initializers, W' = W + (α/r)·A·B. */
const adapted = (lora: VlmAdapters) => (b: op.Builder) => {
  const named: Record<string, Tensor> = {};
  for (const p of lora.trainable(adamw())) named[p.name] = b.input(p.name, p.dtype, p.shape);
  for (const f of lora.frozen()) named[f.name] = b.data(f.dtype, f.data, f.shape, f.name);
  const w = lora.adapt(named);
  return (n: string) => w[n]!;
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test("settings: the execution graph's lora param decodes (alpha defaults to 2·rank); dropout and conflicts are refused clearly", () => {
  assert.equal(loraSettingsOf(undefined), undefined);
  assert.deepEqual(loraSettingsOf({ dropout: 0, rank: 16, targets: ["q", "v"] }), { rank: 16, alpha: 32, targets: ["q", "v"], dropout: 0 });
  assert.deepEqual(loraSettingsOf({ alpha: 256, dropout: 0, projector_lr: 2e-5, rank: 128, targets: ["q", "v"] }), {
    rank: 128,
    alpha: 256,
    targets: ["q", "v"],
    dropout: 0,
    projectorLr: 2e-5,
  });
  assert.throws(() => loraSettingsOf({ rank: 8, targets: ["q"], dropout: 0.05 }), {
    name: "LoraError",
    message: /lora\.dropout 0\.05 is not supported.*use dropout: 0/,
  });
  assert.throws(() => loraSettingsOf({ rank: 8, targets: ["q", "projector"], dropout: 0, projector_lr: 1e-5 }), {
    name: "LoraError",
    message: /both a LoRA target and trained fully/,
  });
  assert.throws(() => loraSettingsOf({ rank: 8, targets: ["qq"], dropout: 0 }), { name: "LoraError", message: /unknown target "qq"/ });
  assert.throws(() => loraSettingsOf({ rank: 8, targets: ["q"], dropout: 0, ranks: 3 }), { name: "LoraError", message: /unknown setting ranks/ });
});

test("targets name TinyVLM's weights: q/k/v/o and mlp_* in the language model, the projector's matrix, the vision encoder's linear weights", () => {
  const names = [...fresh().params.keys()];
  assert.deepEqual(loraTargetWeights(names, ["q", "v"]), ["text.blocks.0.attn.q", "text.blocks.0.attn.v", "text.blocks.1.attn.q", "text.blocks.1.attn.v"]);
  assert.deepEqual(loraTargetWeights(names, ["mlp_in", "mlp_out", "projector"]), [
    "projector.weight",
    "text.blocks.0.mlp.up",
    "text.blocks.0.mlp.down",
    "text.blocks.1.mlp.up",
    "text.blocks.1.mlp.down",
  ]);
  assert.deepEqual(loraTargetWeights(names, ["vision"]), [
    "vision.patch_embed",
    "vision.blocks.0.attn.q",
    "vision.blocks.0.attn.k",
    "vision.blocks.0.attn.v",
    "vision.blocks.0.attn.o",
    "vision.blocks.0.mlp.up",
    "vision.blocks.0.mlp.down",
  ]);
});

test("at step 0 (B = 0) the adapted model's logits equal the base model's bit for bit", async () => {
  const rt = testRuntime();
  const model = fresh();
  const lora = buildAdapters(model, { rank: 4, alpha: 8, targets: ["q", "k", "v", "o", "mlp_in", "mlp_out", "projector", "vision"], dropout: 0 }, 3);
  const base = await logits(rt, asInputs(model.params), model.params);
  // Every weight an input in both graphs, so both run the same kernels: W' = W + 0 exactly.
  const all = new Map([...model.params, ...lora.initial()]);
  const viaAdapters = await logits(
    rt,
    (b) => {
      const named = Object.fromEntries([...all].map(([n, t]) => [n, b.input(n, t.dtype, t.shape)]));
      const w = lora.adapt(named);
      return (n) => w[n]!;
    },
    all,
  );
  assert.deepEqual(viaAdapters, base);
  // As the training program holds it (frozen weights as initializers): equal up to kernel choice.
  const asTrained = await logits(rt, adapted(lora), lora.initial());
  assert.ok(maxAbsDiff(asTrained, base) < (TEST_DEVICE === "cpu" ? 1e-5 : 3e-2), `max diff ${maxAbsDiff(asTrained, base)}`);
  // And merging untrained adapters gives back the base weights.
  for (const [n, t] of lora.merge(lora.initial())) assert.deepEqual(t.data, model.params.get(n)!.data, n);
});

test("SFT with LoRA on q, v and a projector lr: only adapters and projector move, loss falls, merge = W + (α/r)·A·B, merged logits = adapted logits", async () => {
  const rt = testRuntime();
  // LoRA adapts a trained model: the base first learns the colours the wrong way round (full SFT), LoRA must swap them.
  const swapped = colours(48, 1).map((ex) => ({ ...ex, answer: ex.answer === "Red." ? "Blue." : "Red." }));
  const model = (await trainSft(rt, fresh(), swapped, sftOptions(40))).model;
  const before = copyParams(model);
  const settings: LoraSettings = { rank: 4, alpha: 8, targets: ["q", "v"], dropout: 0, projectorLr: 5e-3 };
  const { model: trained, rows, adapters } = await trainSft(rt, model, colours(48, 1), sftOptions(40, settings));
  assert.ok(adapters);
  const first = rows.slice(0, 5).reduce((a, r) => a + r.loss, 0) / 5;
  const last = rows.slice(-5).reduce((a, r) => a + r.loss, 0) / 5;
  assert.ok(first > 2 && last < 0.1, `loss ${first} → ${last}`);

  // The input model is untouched; in the output, everything but the adapted weights and the projector is the base, bit for bit.
  for (const [n, t] of model.params) assert.deepEqual(t.data, before.get(n)!.data, `input ${n}`);
  const adaptedNames = new Set(adapters.weights);
  assert.deepEqual([...adaptedNames], ["text.blocks.0.attn.q", "text.blocks.0.attn.v", "text.blocks.1.attn.q", "text.blocks.1.attn.v"]);
  assert.deepEqual([...trained.params.keys()], [...model.params.keys()], "a plain TinyVLM: the same names in the same order");
  for (const [n, t] of trained.params) {
    if (adaptedNames.has(n) || n.startsWith("projector.")) assert.notDeepEqual(t.data, before.get(n)!.data, `${n} should have moved`);
    else assert.deepEqual(t.data, before.get(n)!.data, `${n} is frozen`);
  }
  assert.deepEqual(
    [...adapters.values.keys()].sort(),
    [...[...adaptedNames].flatMap((w) => [`${w}.lora_a`, `${w}.lora_b`]), "projector.weight", "projector.bias"].sort(),
  );
  for (const n of ["projector.weight", "projector.bias"]) assert.deepEqual(trained.params.get(n)!.data, adapters.values.get(n)!.data);

  // Merged weights are W + (α/r)·A·B.
  for (const w of adaptedNames) {
    const W = before.get(w)!;
    const A = adapters.values.get(`${w}.lora_a`)!.data as Float32Array;
    const B = adapters.values.get(`${w}.lora_b`)!.data as Float32Array;
    const [n, m] = W.shape as [number, number];
    const r = settings.rank;
    const got = trained.params.get(w)!.data as Float32Array;
    assert.ok(
      B.some((x) => x !== 0),
      `${w}: B moved`,
    );
    let err = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += A[i * r + k]! * B[k * m + j]!;
        err = Math.max(err, Math.abs(got[i * m + j]! - ((W.data[i * m + j] as number) + (settings.alpha / r) * s)));
      }
    assert.ok(err < 1e-6, `${w}: merge error ${err}`);
  }

  // The merged model computes what the adapted model computed.
  const lora = buildAdapters(model, settings, 4);
  const viaAdapters = await logits(rt, adapted(lora), adapters.values);
  const merged = await logits(rt, asInputs(trained.params), trained.params);
  // W + (α/r)·A·B and x·W + x·A·B round differently; TF32 products on CUDA (~1e-3 relative) more so.
  const tolerance = TEST_DEVICE === "cpu" ? 1e-4 : 3e-2;
  assert.ok(maxAbsDiff(viaAdapters, merged) < tolerance, `max diff ${maxAbsDiff(viaAdapters, merged)}`);

  // The checkpoint is a plain TinyVLM with the adapters beside it.
  const dir = path.join(tmp, "sft-lora");
  saveCheckpoint(dir, { ...modelToCheckpoint(trained), files: adapters.files() });
  const back = loadCheckpoint(dir);
  for (const [n, t] of trained.params) assert.deepEqual(back.params.get(n)!.data, t.data, n);
  const saved = ParamSet.load(path.join(dir, ADAPTER_WEIGHTS_FILE));
  assert.deepEqual(saved.names().sort(), [...adapters.values.keys()].sort());
  for (const [n, t] of adapters.values) assert.deepEqual(saved.get(n).data, t.data, n);
  assert.deepEqual(Object.keys(JSON.parse(saved.metadata.get(LORA_META)!)), [...adaptedNames]);
  const config = JSON.parse(readFileSync(path.join(dir, ADAPTER_CONFIG_FILE), "utf8"));
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 8);
  assert.deepEqual(config.modules_to_save, ["projector.weight", "projector.bias"]);
});

test("projector_lr = 0: the projector stays exactly where it was while the adapters train", async () => {
  const model = fresh();
  const { model: trained, adapters } = await trainSft(
    testRuntime(),
    model,
    colours(16, 2),
    sftOptions(4, { rank: 2, alpha: 4, targets: ["o", "mlp_in"], dropout: 0, projectorLr: 0 }),
  );
  assert.ok(adapters);
  for (const n of ["projector.weight", "projector.bias"]) assert.deepEqual(trained.params.get(n)!.data, model.params.get(n)!.data, n);
  for (const w of adapters.weights) assert.notDeepEqual(trained.params.get(w)!.data, model.params.get(w)!.data, w);
  assert.equal(adapters.weights.length, 4);
});

test("an lr scale: one SGD step moves a parameter by exactly lr·scale·grad; without scales the program is unchanged", async () => {
  const f64 = (shape: number[], v: number[]): TensorData => ({ dtype: "float64", shape, data: Float64Array.from(v) });
  const spec = (scales: [number | undefined, number | undefined]): TrainProgramSpec => ({
    trainable: [
      { name: "w", dtype: "float64", shape: [3], lrScale: scales[0] },
      { name: "p", dtype: "float64", shape: [3], lrScale: scales[1] },
    ],
    batch: { c: { dtype: "float64", shape: [3] } },
    steps: 1,
    optimizer: sgd({ lr: 0.1 }),
    schedule: { kind: "linear", warmupSteps: 0, totalSteps: 4 },
    loss: (p, b) => ({ loss: op.add(op.reduceSum(op.mul(b.c!, p.w!)), op.reduceSum(op.mul(op.mul(b.c!, p.p!), 2))) }),
  });
  const plain = serializeModel(buildTrainProgram(spec([undefined, undefined])).builder.root);
  assert.deepEqual(serializeModel(buildTrainProgram(spec([1, undefined])).builder.root), plain, "a scale of 1 changes nothing");
  assert.notDeepEqual(serializeModel(buildTrainProgram(spec([undefined, 0.25])).builder.root), plain);

  const s = spec([undefined, 0.25]);
  const trainer = new Trainer(
    testRuntime(),
    buildTrainProgram(s),
    s,
    new Map([
      ["w", f64([3], [0, 0, 0])],
      ["p", f64([3], [1, 1, 1])],
    ]),
  );
  const cv = [1, -2, 3];
  const m1 = await trainer.run({ c: f64([1, 3], cv) });
  const lr = 0.1 * 1; // linear schedule, step 0: factor 1
  assert.deepEqual(
    Array.from(trainer.parameters().get("w")!.data as Float64Array),
    [0, 0, 0].map((x, i) => x - lr * cv[i]!),
  );
  assert.deepEqual(
    Array.from(trainer.parameters().get("p")!.data as Float64Array),
    [1, 1, 1].map((x, i) => x - lr * 0.25 * (2 * cv[i]!)),
  );
  assert.equal(m1.values.lr![0], lr, "the reported lr is the base lr");
  // The schedule scales both: step 2's factor is 3/4.
  await trainer.run({ c: f64([1, 3], cv) });
  const lr2 = 0.1 * 0.75;
  const p = Array.from(trainer.parameters().get("p")!.data as Float64Array);
  assert.deepEqual(
    p,
    [1, 1, 1].map((x, i) => x - lr * 0.25 * (2 * cv[i]!) - lr2 * 0.25 * (2 * cv[i]!)),
  );
});

test("DPO with LoRA: the loss falls and margins grow on an easy pair set; the base stays frozen", async () => {
  const model = fresh();
  const before = copyParams(model);
  const pairs: PairExample[] = colours(16, 3).map((ex, i) => ({
    id: `p${i}`,
    prompt: "Is it good?",
    chosen: "Yes.",
    rejected: "No.",
    rgb: ex.rgb,
    weight: 1,
    refChosen: 0,
    refRejected: 0,
  }));
  const {
    model: trained,
    rows,
    adapters,
  } = await trainDpo(testRuntime(), model, pairs, {
    objective: { loss: "sigmoid", beta: 0.5, labelSmoothing: 0, logps: "sum", sftWeight: 0 },
    batch: 8,
    accumulation: 1,
    steps: 40,
    stepsPerRun: 20,
    optimizer: adamw({ lr: 1e-2, weightDecay: 0 }),
    schedule: { kind: "constant", warmupSteps: 0 },
    clipNorm: 1,
    seed: 2,
    lora: { rank: 4, alpha: 8, targets: ["q", "k", "v", "o"], dropout: 0 },
  });
  assert.ok(adapters);
  assert.equal(rows.length, 40);
  const avg = (rs: typeof rows, k: string) => rs.reduce((a, r) => a + (r[k] as number), 0) / rs.length;
  assert.ok(avg(rows.slice(-3), "loss") < avg(rows.slice(0, 3), "loss") - 0.2, `loss ${avg(rows.slice(0, 3), "loss")} → ${avg(rows.slice(-3), "loss")}`);
  assert.ok(avg(rows.slice(-3), "rewards/margins") > avg(rows.slice(0, 3), "rewards/margins") + 0.5, "margins grow");
  assert.equal(rows.at(-1)!["rewards/accuracies"], 1);
  for (const [n, t] of trained.params) {
    if (adapters.weights.includes(n)) assert.notDeepEqual(t.data, before.get(n)!.data, n);
    else assert.deepEqual(t.data, before.get(n)!.data, `${n} is frozen`);
  }
});
