// From world items to TinyVLM feeds: token layout and masks, errors, and a first end-to-end SFT run on the world.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { readImage } from "../src/formats/image/decode.ts";
import { resizeRgb } from "../src/formats/image/resample.ts";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import { examplesOf } from "../src/runtime/models/tinyvlm/examples.ts";
import { type Example, encodeExample, FeedError, sftFeeds } from "../src/runtime/models/tinyvlm/feeds.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { generateItems } from "../src/runtime/world/generate.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { decodePng } from "../src/runtime/world/png.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const tok = Tokenizer.train(["is there a red circle in the image?", "yes", "no", "what colour is the square?", "blue"], { vocabSize: 80 });

test("a sequence is <bos> prompt answer <eos>; labels are next tokens; only answer and <eos> are scored", () => {
  const e = encodeExample(tok, { id: "x", prompt: "is there a red circle in the image?", answer: "yes", rgb: null }, 40);
  const prompt = tok.encode("is there a red circle in the image?");
  const answer = tok.encode("yes");
  const seq = [tok.bosId, ...prompt, ...answer, tok.eosId];
  assert.deepEqual(e.tokens.slice(0, seq.length - 1), seq.slice(0, -1));
  assert.deepEqual(e.labels.slice(0, seq.length - 1), seq.slice(1));
  const scored = e.labels.filter((_, i) => e.lossMask[i] === 1);
  assert.deepEqual(scored, [...answer, tok.eosId]);
  assert.equal(
    e.textMask.reduce((a, v) => a + v, 0),
    seq.length,
  );
  assert.ok(e.tokens.slice(seq.length - 1).every((t) => t === tok.padId));
});

test("an example that does not fit, or an image of the wrong size, is an error naming the example", () => {
  assert.throws(
    () => encodeExample(tok, { id: "long-1", prompt: "is there a red circle in the image?", answer: "yes", rgb: null }, 4),
    (e: Error & { code?: string }) => e instanceof FeedError && e.code === "ALN7007" && /example long-1/.test(e.message),
  );
  const c = tinyVlmConfig("nano", tok.vocabSize);
  assert.throws(
    () => sftFeeds(c, tok, [{ id: "img-7", prompt: "what colour is the square?", answer: "blue", rgb: new Uint8Array(12) }], 1, 1, 40),
    /example img-7: the image has 4 pixels/,
  );
});

test("end to end: world POPE items → tokenizer → SFT of nano inside Loop runs; the answer loss falls far below chance", async () => {
  const examples: Example[] = [];
  for (const { item, png } of generateItems(worldOptions({ split: "train", count: 200, seed: 3, bias: 0.8, image_size: 48, tasks: ["pope"] }))) {
    examples.push({ id: item.id, prompt: item.prompt, answer: item.answer, rgb: png ? decodePng(png).rgb : null });
  }
  const world = Tokenizer.train(
    examples.flatMap((e) => [e.prompt, e.answer]),
    { vocabSize: 200 },
  );
  const c = tinyVlmConfig("nano", world.vocabSize);
  const length = 16;
  const params = initTinyVlm(c, new Rng(1));
  const spec = {
    trainable: params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
    batch: sftBatch(c, 16, length),
    steps: 30,
    optimizer: adamw({ lr: 2e-3, weightDecay: 0 }),
    schedule: { kind: "constant" as const, warmupSteps: 10 },
    loss: sftLoss(c),
  };
  const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map(params.map((p) => [p.name, p.data])));
  const first = await trainer.run(sftFeeds(c, world, examples, 16, 30, length));
  const second = await trainer.run(sftFeeds(c, world, examples, 16, 30, length, 480));
  const chance = Math.log(world.vocabSize);
  const start = first.values.loss![0]!;
  const end = second.values.loss!.slice(-10).reduce((a, v) => a + v, 0) / 10;
  assert.ok(start > 0.8 * chance, `initial loss ${start} should be near ln(vocab) = ${chance}`);
  assert.ok(end < 0.45, `answer loss ${end} should fall below 0.45 (yes/no + <eos>: ln 2 / 2 ≈ 0.35 when only the format is learnt)`);
});

test("TinyVLM refuses a conversation of several messages (it reads one prompt, with no chat template); one user message is its prompt", async () => {
  const base = { id: "c", prompt: "And 3+3?", answer: "", image: null } as unknown as WorldItem;
  const single = { ...base, messages: [{ role: "user" as const, content: "And 3+3?" }] };
  assert.deepEqual(await examplesOf("", [single], 8), [{ id: "c", prompt: "And 3+3?", answer: "", rgb: null }]);
  const multi = {
    ...base,
    messages: [
      { role: "system" as const, content: "Be brief." },
      { role: "user" as const, content: "And 3+3?" },
    ],
  };
  await assert.rejects(
    examplesOf("", [multi], 8),
    (e: unknown) => e instanceof FeedError && /item c is a conversation of 2 messages \(system, user\).*chat template/.test(e.message),
  );
});

test("TinyVLM reads a JPEG, WebP or PNG of any size as load_image does and resizes it to its image size (Pillow bicubic); a broken image names its item", async () => {
  const fixtures = path.join(repoRoot, "test/fixtures/images");
  const item = (id: string, image: string) => ({ id, prompt: "What is shown?", answer: "", image }) as unknown as WorldItem;
  const [jpeg, webp] = await examplesOf(fixtures, [item("j", "q85-420.jpg"), item("w", "orientation-6.webp")], 16);
  assert.deepEqual(jpeg?.rgb, resizeRgb(await readImage(path.join(fixtures, "q85-420.jpg")), 16, 16, "bicubic").rgb);
  assert.equal(webp?.rgb?.length, 16 * 16 * 3);
  const dir = mkdtempSync(path.join(tmpdir(), "alignc-vlm-images-"));
  try {
    const whole = readFileSync(path.join(fixtures, "q85-420.jpg"));
    writeFileSync(path.join(dir, "cut.jpg"), whole.subarray(0, whole.length >> 1));
    await assert.rejects(
      examplesOf(dir, [item("cut", "cut.jpg")], 16),
      (e: unknown) => e instanceof FeedError && /item cut: .*cut\.jpg: the JPEG data is truncated/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
