// TinyVLM: sizes, the image-token keep mask (BDHS needs it to switch attention to image tokens off), and a first
// SFT run that has to use the image.
import assert from "node:assert/strict";
import { test } from "node:test";
import { maskedCrossEntropy } from "../src/models/layers/losses.ts";
import { imageTokens, parameterCount, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { vlmLogits } from "../src/models/tinyvlm/forward.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import type { Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import * as op from "../src/tensor/ops/index.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { testRuntime } from "./support/device.ts";

const vocab = 16;
const c = tinyVlmConfig("nano", vocab);
const P = imageTokens(c);
const params = initTinyVlm(c, new Rng(1));

test("named sizes: nano < 1M parameters, small 10–30M, base ≥ 100M; the count matches the initialised tensors", () => {
  assert.ok(parameterCount(c) < 1_000_000);
  const small = parameterCount(tinyVlmConfig("small", 1024));
  assert.ok(small > 10_000_000 && small < 30_000_000, String(small));
  assert.ok(parameterCount(tinyVlmConfig("base", 1024)) >= 100_000_000);
  assert.equal(
    params.reduce((a, p) => a + p.data.data.length, 0),
    parameterCount(c),
  );
});

/** A forward model with weights as initializers; `withKeep` adds an imageKeep input. */
function forwardModel(withKeep: boolean): Uint8Array {
  const b = new op.Builder();
  const weights = new Map(params.map((p) => [p.name, b.data(p.data.dtype, p.data.data, p.data.shape, p.name)]));
  const pixels = b.input("pixels", "float32", [2, c.imageSize, c.imageSize, 3]);
  const tokens = b.input("tokens", "int64", [2, 5]);
  const imageKeep = withKeep ? b.input("keep", "float32", [2, P]) : undefined;
  b.output(
    vlmLogits(c, (n) => weights.get(n)!, { pixels, tokens, imageKeep }),
    "logits",
  );
  return serializeModel(b.root);
}

const rng = new Rng(9);
const image = (): TensorData => ({
  dtype: "float32",
  shape: [2, c.imageSize, c.imageSize, 3],
  data: Float32Array.from({ length: 2 * c.imageSize * c.imageSize * 3 }, () => rng.uniform()),
});
const tokens: TensorData = { dtype: "int64", shape: [2, 5], data: BigInt64Array.from([1n, 5n, 6n, 7n, 2n, 1n, 8n, 9n, 3n, 2n]) };
const keep = (v: number): TensorData => ({ dtype: "float32", shape: [2, P], data: new Float32Array(2 * P).fill(v) });

test("a keep mask of all ones equals the unmasked model; masking every image token makes the output independent of the image", async () => {
  const rt = testRuntime();
  const plain = await rt.load(forwardModel(false));
  const masked = await rt.load(forwardModel(true));
  const img = image();
  const a = (await rt.run(plain, { pixels: img, tokens })).logits!.data as Float32Array;
  const b = (await rt.run(masked, { pixels: img, tokens, keep: keep(1) })).logits!.data as Float32Array;
  assert.deepEqual(b, a);
  const off1 = (await rt.run(masked, { pixels: img, tokens, keep: keep(0) })).logits!.data as Float32Array;
  const off2 = (await rt.run(masked, { pixels: image(), tokens, keep: keep(0) })).logits!.data as Float32Array;
  assert.deepEqual(off2, off1);
  const changed = a.reduce((m, v, i) => Math.max(m, Math.abs(v - off1[i]!)), 0);
  assert.ok(changed > 1e-4, `masking all image tokens should change the logits (max change ${changed})`);
});

test("SFT: nano learns to name the colour of a solid image (the answer is only in the pixels)", async () => {
  const batch = 8;
  const k = 40;
  const spec: TrainProgramSpec = {
    trainable: params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
    batch: {
      pixels: { dtype: "float32", shape: [batch, c.imageSize, c.imageSize, 3] },
      tokens: { dtype: "int64", shape: [batch, 2] },
      labels: { dtype: "int64", shape: [batch, 2] },
      mask: { dtype: "float32", shape: [batch, 2] },
    },
    steps: k,
    optimizer: adamw({ lr: 3e-3, weightDecay: 0 }),
    schedule: { kind: "constant", warmupSteps: 5 },
    loss: (w, bt) => {
      const logits = vlmLogits(c, (n): Tensor => w[n]!, { pixels: bt.pixels!, tokens: bt.tokens! });
      const correct = op.cast(op.equal(op.argMax(logits, -1), bt.labels!), "float32");
      const accuracy = op.div(op.reduceSum(op.mul(correct, bt.mask!)), op.reduceSum(bt.mask!));
      return { loss: maskedCrossEntropy(logits, bt.labels!, bt.mask!), metrics: { accuracy } };
    },
  };
  const colours = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ];
  const data = (seed: number) => {
    const r = new Rng(seed);
    const n = k * batch;
    const pixels = new Float32Array(n * c.imageSize * c.imageSize * 3);
    const toks = new BigInt64Array(n * 2);
    const labels = new BigInt64Array(n * 2);
    const mask = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const colour = Math.floor(r.uniform() * 3);
      for (let px = 0; px < c.imageSize * c.imageSize; px++)
        for (let ch = 0; ch < 3; ch++) pixels[(i * c.imageSize * c.imageSize + px) * 3 + ch] = colours[colour]![ch]! * (0.7 + 0.3 * r.uniform());
      toks[2 * i] = 1n; // <bos>: "what colour?"
      toks[2 * i + 1] = BigInt(10 + colour);
      labels[2 * i] = BigInt(10 + colour);
      mask[2 * i] = 1;
    }
    return {
      pixels: { dtype: "float32" as const, shape: [k, batch, c.imageSize, c.imageSize, 3], data: pixels },
      tokens: { dtype: "int64" as const, shape: [k, batch, 2], data: toks },
      labels: { dtype: "int64" as const, shape: [k, batch, 2], data: labels },
      mask: { dtype: "float32" as const, shape: [k, batch, 2], data: mask },
    };
  };
  const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map(params.map((p) => [p.name, p.data])));
  let m = await trainer.run(data(1));
  m = await trainer.run(data(2));
  const acc = m.values.accuracy!.slice(-10).reduce((a, v) => a + v, 0) / 10;
  assert.ok(acc > 0.95, `accuracy over the last 10 steps ${acc}`);
});
