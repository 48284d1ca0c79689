// The SFT driver (src/runtime/vlm/sft.ts) and batched answering (answer.ts) on nano: K steps per run with a
// remainder program that continues exactly, and a model that learns what only the pixels say.
import assert from "node:assert/strict";
import { test } from "node:test";
import { tinyVlmConfig } from "../src/compiler/tensor/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/compiler/tensor/models/tinyvlm/init.ts";
import { adamw } from "../src/compiler/tensor/optim/types.ts";
import { Rng } from "../src/compiler/tensor/params/random.ts";
import { Runtime } from "../src/runtime/session.ts";
import { Tokenizer } from "../src/runtime/tokenizer/tokenizer.ts";
import { answerAll } from "../src/runtime/vlm/answer.ts";
import type { Example } from "../src/runtime/vlm/feeds.ts";
import type { VlmModel } from "../src/runtime/vlm/model.ts";
import { type SftOptions, trainSft } from "../src/runtime/vlm/sft.ts";

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

test("K steps per run and a remainder program give bit-identical weights to another split of the same steps", async () => {
  const data = shapes(40, 1);
  const runtime = new Runtime();
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
  const runtime = new Runtime();
  const { model } = await trainSft(runtime, fresh(), shapes(800, 2), options(120, 40));
  const heldOut = shapes(64, 99);
  const { answers } = await answerAll(runtime, model, heldOut, { maxTokens: 4, temperature: 0, seed: 0 });
  const correct = heldOut.filter((ex) => answers.get(ex.id)?.text.toLowerCase() === ex.answer.toLowerCase()).length;
  assert.ok(correct / heldOut.length > 0.9, `held-out accuracy ${correct}/${heldOut.length}`);
  const blind = await answerAll(runtime, model, heldOut, { maxTokens: 4, temperature: 0, seed: 0, blind: true });
  const said = new Set([...blind.answers.values()].map((a) => a.text));
  assert.equal(said.size, 1, "without the image every answer is the same guess");
});
