// The SFT driver (src/runtime/models/tinyvlm/sft.ts) and batched answering (answer.ts) on nano: K steps per run with a
// remainder program that continues exactly, and a model that learns what only the pixels say.
import assert from "node:assert/strict";
import { test } from "node:test";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { answerAll } from "../src/runtime/models/tinyvlm/answer.ts";
import { type Example, sftFeeds } from "../src/runtime/models/tinyvlm/feeds.ts";
import type { VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { paddedLengths, type SftOptions, trainSft } from "../src/runtime/models/tinyvlm/sft.ts";
import { sftSchedule } from "../src/runtime/models/tinyvlm/sft-schedule.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { Rng } from "../src/util/random.ts";
import { cpuOnly, testRuntime } from "./support/device.ts";

const tok = Tokenizer.train(["What shape is it?", "Square.", "Cross.", "square cross what shape is it"], { vocabSize: 64 });
const c = tinyVlmConfig("nano", tok.vocabSize);
const fresh = (): VlmModel => ({ config: c, tokenizer: tok, params: new Map(initTinyVlm(c, new Rng(1)).map((p) => [p.name, p.data])) });

/** A 12-pixel square or cross of one colour, anywhere in a dark 32×32 image: only its shape tells them apart. */
function shapes(n: number, seed: number): Example[] {
  const r = new Rng(seed);
  const side = c.imageSize;
  return Array.from({ length: n }, (_, i) => {
    const cross = r.uniform() < 0.5;
    const rgb = new Uint8Array(side * side * 3).fill(36);
    const ox = Math.floor(r.uniform() * (side - 11));
    const oy = Math.floor(r.uniform() * (side - 11));
    for (let y = 0; y < 12; y++)
      for (let x = 0; x < 12; x++)
        if (!cross || Math.abs(x - 5.5) < 2 || Math.abs(y - 5.5) < 2) rgb.fill(200, ((oy + y) * side + ox + x) * 3, ((oy + y) * side + ox + x) * 3 + 3);
    return { id: `s${i}`, prompt: "What shape is it?", answer: cross ? "Cross." : "Square.", rgb };
  });
}

const options = (steps: number, stepsPerRun: number): SftOptions => ({
  batch: 16,
  accumulation: 1,
  steps,
  stepsPerRun,
  optimizer: adamw({ lr: 2e-3, weightDecay: 0 }),
  schedule: { kind: "cosine", warmupSteps: 2, totalSteps: steps },
  clipNorm: 1,
  seed: 3,
});

test("K steps per run and a remainder program give bit-identical weights to another split of the same steps", {
  skip: cpuOnly("bit-identical results: CUDA's reductions use atomics and TF32, so runs are not bit-reproducible"),
}, async () => {
  const data = shapes(40, 1);
  const runtime = testRuntime();
  const a = await trainSft(runtime, fresh(), data, options(7, 3)); // runs of 3, 3, then 1
  const b = await trainSft(runtime, fresh(), data, options(7, 7));
  assert.deepEqual(
    a.rows.map((r) => r.step),
    [1, 2, 3, 4, 5, 6, 7],
  );
  assert.deepEqual(
    a.rows.map((r) => r.loss),
    b.rows.map((r) => r.loss),
  );
  for (const [name, t] of a.model.params) assert.deepEqual(t.data, b.model.params.get(name)?.data, name);
});

test("nano learns to tell a square from a cross of the same colour (the answer is only in the pixels' shape)", async () => {
  const runtime = testRuntime();
  const { model } = await trainSft(runtime, fresh(), shapes(800, 2), options(120, 40));
  const heldOut = shapes(64, 99);
  const { answers } = await answerAll(runtime, model, heldOut, { maxTokens: 4, temperature: 0, seed: 0 });
  const correct = heldOut.filter((ex) => answers.get(ex.id)?.text.toLowerCase() === ex.answer.toLowerCase()).length;
  assert.ok(correct / heldOut.length > 0.9, `held-out accuracy ${correct}/${heldOut.length}`);
  const blind = await answerAll(runtime, model, heldOut, { maxTokens: 4, temperature: 0, seed: 0, blind: true });
  const said = new Set([...blind.answers.values()].map((a) => a.text));
  assert.equal(said.size, 1, "without the image every answer is the same guess");
});

test("per-example loss averaging gives every example's answer tokens a total weight of 1", () => {
  const [a, b] = shapes(2, 5) as [Example, Example];
  const long = { ...b, answer: "Square. Square. Square." };
  const feeds = sftFeeds(c, tok, [a, long], 2, 1, 24, 0, "example");
  const mask = feeds.loss_mask?.data as Float32Array;
  const sums = [0, 1].map((k) => mask.slice(k * 24, (k + 1) * 24).reduce((x, y) => x + y, 0));
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-6, `row sums ${sums}`);
  const byToken = sftFeeds(c, tok, [a, long], 2, 1, 24, 0, "token").loss_mask?.data as Float32Array;
  assert.ok(byToken.slice(24).reduce((x, y) => x + y, 0) > byToken.slice(0, 24).reduce((x, y) => x + y, 0) + 3, "token averaging weighs the long answer more");
});

test("length buckets: training switches between programs of two lengths, step by step, and still learns", async () => {
  // Half the examples get a long prompt, so they pad to a longer bucket than the short ones.
  const data = shapes(200, 4).map((ex, i) => (i % 2 ? { ...ex, prompt: "What shape is it? What shape is it? What shape is it?" } : ex));
  const runs = sftSchedule(paddedLengths(fresh(), data), { perStep: 16, steps: 40, stepsPerRun: 4, buckets: 2, seed: 3 });
  assert.equal(new Set(runs.map((r) => r.length)).size, 2, "both lengths are trained on");
  const runtime = testRuntime();
  const { rows } = await trainSft(runtime, fresh(), data, { ...options(40, 4), lengthBuckets: 2 });
  assert.deepEqual(
    rows.map((r) => r.step),
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
  const first = rows.slice(0, 4).reduce((a, r) => a + r.loss, 0) / 4;
  const last = rows.slice(-4).reduce((a, r) => a + r.loss, 0) / 4;
  assert.ok(last < first / 2, `loss ${first} → ${last}`);
});
