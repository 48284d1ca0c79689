// Mixed precision in training programs: float16 compute with float32 master weights and dynamic loss scaling
// (skip and halve on overflow, double after a run of finite steps), carried across runs and snapshots; and a nano
// TinyVLM SFT step in float16 against the same step in float32.
import assert from "node:assert/strict";
import { test } from "node:test";
import { imageTokens, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import { fromNumbers, toNumbers } from "../src/tensor/ir/dtype.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { bfloat16ToNumber, halfToNumber, numberToBfloat16, numberToHalf, toHalfBits } from "../src/tensor/ir/half.ts";
import * as op from "../src/tensor/ops/index.ts";
import { adamw, sgd } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, io, type MixedPrecision, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { testRuntime } from "./support/device.ts";

const f32 = (shape: number[], values: number[]): TensorData => ({ dtype: "float32", shape, data: Float32Array.from(values) });

test("16-bit float conversions round to nearest even and keep the specials", () => {
  assert.equal(numberToHalf(1), 0x3c00);
  assert.equal(numberToHalf(65504), 0x7bff);
  assert.equal(numberToHalf(70000), 0x7c00); // overflow → +inf
  assert.equal(halfToNumber(numberToHalf(1 + 2 ** -11)), 1); // a tie rounds to even
  assert.equal(numberToBfloat16(1), 0x3f80);
  assert.equal(bfloat16ToNumber(numberToBfloat16(Math.PI)), 3.140625);
  assert.equal(bfloat16ToNumber(numberToBfloat16(1 + 2 ** -8)), 1); // tie → even
  assert.equal(bfloat16ToNumber(numberToBfloat16(1 + 3 * 2 ** -8)), 1 + 2 ** -6); // tie → even, upwards
  assert.ok(Number.isNaN(bfloat16ToNumber(numberToBfloat16(Number.NaN))));
  assert.equal(bfloat16ToNumber(numberToBfloat16(1e39)), Number.POSITIVE_INFINITY);
  // Constants: fromNumbers stores bit patterns, not truncated numbers.
  assert.deepEqual(toNumbers(fromNumbers("float16", [2, -0.5]), "float16"), [2, -0.5]);
  assert.deepEqual(toNumbers(fromNumbers("bfloat16", [2, -0.5]), "bfloat16"), [2, -0.5]);
  assert.deepEqual(Array.from(toHalfBits(Float32Array.from([1, 2]), "float16")), [0x3c00, 0x4000]);
});

/** loss = Σ x·w computed in float16 (w is the half copy), so ∂loss/∂w = x exactly; SGD with lr 1. */
function linearSpec(steps: number, mixedPrecision: MixedPrecision): TrainProgramSpec {
  return {
    trainable: [{ name: "w", dtype: "float32", shape: [2] }],
    batch: { x: { dtype: "float32", shape: [2] } },
    steps,
    optimizer: sgd({ lr: 1 }),
    mixedPrecision,
    loss: (p, b) => ({ loss: op.cast(op.reduceSum(op.mul(op.cast(b.x!, p.w!.dtype), p.w!)), "float32") }),
  };
}

test("dynamic loss scaling: overflowing steps are skipped and halve the scale; finite runs double it", async () => {
  // The float16 gradient of the loss, the scale itself, overflows (> 65504) for scales ≥ 2^16: starting at 2^20, five
  // steps are skipped (2^20 … 2^16), 2^15 takes two finite steps and grows back to 2^16, which overflows again. (With
  // x = 1 the weight gradient is the scale too; larger x would overflow the product, which ONNX Runtime's CPU
  // provider computes in float32 — it has no float16 Mul — so the sequence would depend on the device.)
  const steps = 12;
  const spec = linearSpec(steps, { compute: "float16", initialScale: 2 ** 20, growthInterval: 2 });
  const program = buildTrainProgram(spec);
  assert.ok(program.stateInputs.includes(io.lossScale) && program.stateInputs.includes(io.finiteSteps));
  const trainer = new Trainer(testRuntime(), program, spec, new Map([["w", f32([2], [1, -1])]]));
  const ones = () => f32([steps, 2], new Array(2 * steps).fill(1));
  const m = await trainer.run({ x: ones() });
  const scales = [20, 19, 18, 17, 16, 15, 15, 16, 15, 15, 16, 15].map((e) => 2 ** e);
  assert.deepEqual(m.values["amp/loss_scale"], scales);
  assert.deepEqual(m.values["amp/skipped"], [1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 0]);
  // Five finite steps of w ← w − x: the skipped ones left w alone.
  assert.deepEqual(Array.from(trainer.parameters().get("w")!.data as Float32Array), [1 - 5, -1 - 5]);
  // Finite steps report the unscaled gradient norm (‖x‖ = √2), skipped ones 0.
  const norms = m.values.grad_norm!;
  for (const [i, skipped] of m.values["amp/skipped"]!.entries())
    assert.ok(skipped ? norms[i] === 0 : Math.abs(norms[i]! - Math.SQRT2) < 1e-5, `step ${i + 1}: norm ${norms[i]}`);
  // The scale and the count are state: the next run continues from 2^15 with one finite step counted.
  const state = trainer.snapshot().state;
  assert.deepEqual(Array.from(state.get(io.lossScale)!.data as Float32Array), [2 ** 15]);
  assert.deepEqual(Array.from(state.get(io.finiteSteps)!.data as Float32Array), [1]);
  const next = await trainer.run({ x: ones() });
  assert.deepEqual(next.values["amp/loss_scale"]!.slice(0, 3), [2 ** 15, 2 ** 16, 2 ** 15], "the second finite step in a row doubles the scale");
  assert.deepEqual(next.values["amp/skipped"]!.slice(0, 3), [0, 1, 0]);
});

test("without growth the scale only falls; float32 master weights receive updates too small for float16", async () => {
  // lr·x = 1e-4 is below float16's resolution at 1 (2^-10 ≈ 1e-3): a float16 weight would never move.
  const spec: TrainProgramSpec = { ...linearSpec(4, { compute: "float16", initialScale: 1, growthInterval: 0 }), optimizer: sgd({ lr: 1e-4 }) };
  const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map([["w", f32([2], [1, 1])]]));
  const m = await trainer.run({ x: f32([4, 2], [1, 1, 1, 1, 1, 1, 1, 1]) });
  assert.deepEqual(m.values["amp/loss_scale"], [1, 1, 1, 1]);
  const w = trainer.parameters().get("w")!.data as Float32Array;
  assert.ok(Math.abs(w[0]! - (1 - 4e-4)) < 1e-6, `w = ${w[0]}`);
});

test("mixed precision refuses non-float32 master weights", () => {
  const spec: TrainProgramSpec = { ...linearSpec(1, { compute: "float16" }), trainable: [{ name: "w", dtype: "float64", shape: [2] }] };
  assert.throws(() => buildTrainProgram(spec), /mixed precision keeps float32 master weights, but "w" is float64/);
});

test("a nano TinyVLM SFT step in float16 agrees with float32 (loss, gradient norm, updated weights)", async () => {
  const c = tinyVlmConfig("nano", 64);
  const init = initTinyVlm(c, new Rng(1));
  const [b, t, k] = [4, 16, 3];
  const rng = new Rng(2);
  const floats = (shape: number[], f: () => number): TensorData => ({
    dtype: "float32",
    shape,
    data: Float32Array.from({ length: shape.reduce((x, y) => x * y) }, f),
  });
  const ints = (shape: number[]): TensorData => ({
    dtype: "int64",
    shape,
    data: BigInt64Array.from({ length: shape.reduce((x, y) => x * y) }, () => BigInt(Math.floor(rng.uniform() * 64))),
  });
  const batch = {
    pixels: floats([k, b, c.imageSize, c.imageSize, 3], () => rng.uniform()),
    image_keep: floats([k, b, imageTokens(c)], () => 1),
    tokens: ints([k, b, t]),
    labels: ints([k, b, t]),
    loss_mask: floats([k, b, t], () => 1),
    text_mask: floats([k, b, t], () => 1),
  };
  const runWith = async (mixedPrecision?: MixedPrecision) => {
    const spec: TrainProgramSpec = {
      trainable: init.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
      batch: sftBatch(c, b, t),
      steps: k,
      optimizer: adamw({ lr: 1e-3 }),
      clipNorm: 1,
      loss: sftLoss(c),
      mixedPrecision,
    };
    const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map(init.map((p) => [p.name, p.data])));
    const m = await trainer.run(batch);
    return { m, weights: trainer.parameters() };
  };
  const full = await runWith();
  const half = await runWith({ compute: "float16" });
  assert.deepEqual(half.m.values["amp/skipped"], [0, 0, 0]);
  for (const [i, loss] of full.m.values.loss!.entries())
    assert.ok(Math.abs(half.m.values.loss![i]! - loss) < 2e-3 * loss, `loss ${half.m.values.loss![i]} vs ${loss}`);
  for (const [i, norm] of full.m.values.grad_norm!.entries())
    assert.ok(Math.abs(half.m.values.grad_norm![i]! - norm) < 2e-2 * norm, `grad norm ${half.m.values.grad_norm![i]} vs ${norm}`);
  // The master weights stay float32, and float16 training moves them as float32 training does: the updates of the
  // whole model differ by a small fraction of their size (AdamW's normalised steps magnify the sign of tiny gradients,
  // so single weights may differ by up to 2·lr per step).
  let diff = 0;
  let size = 0;
  for (const p of init) {
    const start = p.data.data as Float32Array;
    const a = full.weights.get(p.name)!.data as Float32Array;
    const h = half.weights.get(p.name)!;
    assert.equal(h.dtype, "float32");
    (h.data as Float32Array).forEach((x, i) => {
      diff += (x - a[i]!) ** 2;
      size += (a[i]! - start[i]!) ** 2;
    });
  }
  const relative = Math.sqrt(diff / size);
  assert.ok(relative < 0.1, `‖Δ(half) − Δ(full)‖ / ‖Δ(full)‖ = ${relative}`);
});
