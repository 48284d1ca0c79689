// Tiny random LLaVA checkpoints (test/fixtures/hf-vision/llava-*, made by scripts/make-llava-fixtures.py with transformers'
// own classes) against their committed goldens, so CI checks them without Python: a CLIP tower before a Llama in the
// hub's transformers-4 layout (preprocessor_config.json, chat_template.json), a SigLIP tower before a Qwen2 as
// transformers 5 saves it (processor_config.json, chat_template.jinja), and a LLaVA-NeXT (anyres tiles, unpadded grid,
// image_newline) before a Mistral in the hub's layout, on images cut into 1×2, 2×1 and 1×3 tiles and one upscaled. Per case — a real image of an odd size or
// mode, a conversation or a plain prompt holding the image token — the prompt's ids equal LlavaProcessor's (chat
// template with the image part, image token expanded), the answer's ids TRL's, its log-prob transformers' (≤ 1e-4),
// and greedy generation transformers' generate(do_sample=False) token for token.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { ImageFeeds, imageTokensFor } from "../src/runtime/models/hf/images.ts";
import { hfAnswerLogProbs } from "../src/runtime/models/hf/logprobs.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { itemPromptIds, scoredSequence } from "../src/runtime/models/hf/prompts.ts";
import type { ChatTurn, WorldItem } from "../src/runtime/world/format.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

interface Golden {
  architecture: string;
  image_token_id: number;
  /** Per case (a LLaVA-NeXT's count depends on the image's size). */
  tokens_per_image: number[];
  cases: {
    image: string;
    messages?: ChatTurn[];
    prompt?: string;
    answer: string;
    input_ids: number[];
    pixel_sum: number;
    greedy: number[];
    answer_ids: number[];
    answer_logprob: number;
  }[];
}

const FIXTURES = ["llava-clip-v4", "llava-siglip-v5", "llava-next-mistral-v4"];

function itemOf(c: Golden["cases"][number], i: number): WorldItem {
  const prompt = c.prompt ?? (c.messages?.findLast((m) => m.role === "user")?.content as string);
  return {
    id: `case-${i}`,
    split: "train",
    task: "describe",
    kind: "golden",
    prompt,
    answer: c.answer,
    image: path.join(repoRoot, "test/fixtures/images", c.image),
    scene: null,
    negative: null,
    ...(c.messages ? { messages: c.messages } : {}),
  } as WorldItem;
}

for (const name of FIXTURES) {
  const dir = path.join(repoRoot, "test/fixtures/hf-vision", name);
  const golden = JSON.parse(readFileSync(path.join(repoRoot, "test/fixtures/hf-vision/golden", `${name}.json`), "utf8")) as Golden;

  test(`${name}: prompts, answers and pixel values are the processor's and TRL's`, async () => {
    const model = loadHfModel(dir);
    assert.equal(model.architecture, golden.architecture);
    assert.equal(model.vision?.imageTokenId, golden.image_token_id);
    const feeds = new ImageFeeds(model.vision!);
    for (const [i, c] of golden.cases.entries()) {
      const item = itemOf(c, i);
      assert.deepEqual(itemPromptIds(model, item), c.input_ids, `${c.image}: prompt ids`);
      const seq = scoredSequence(model, item, c.answer);
      assert.deepEqual(seq.answerIds, c.answer_ids, `${c.image}: answer ids`);
      assert.equal(seq.image, item.image);
      assert.equal(imageTokensFor(model.vision!, item.image!), golden.tokens_per_image[i], `${c.image}: image tokens`);
      const sum = (await feeds.pixels(item.image!)).data.reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(sum - c.pixel_sum) <= 1e-3 * Math.max(1, Math.abs(c.pixel_sum)), `${c.image}: pixel sum ${sum} vs ${c.pixel_sum}`);
    }
  });

  test(`${name}: answer log-probs and greedy answers about real images equal transformers'`, async () => {
    const model = loadHfModel(dir);
    const items = golden.cases.map(itemOf);
    const rt = testRuntime();
    const generator = new HfGenerator(rt, model);
    try {
      const scored = await hfAnswerLogProbs(
        rt,
        model,
        items.map((item, i) => scoredSequence(model, item, golden.cases[i]!.answer)),
      );
      scored.forEach((lp, i) => {
        const want = golden.cases[i]!.answer_logprob;
        assert.ok(Math.abs(lp.sum - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${golden.cases[i]!.image}: log-prob ${lp.sum} vs ${want}`);
      });
      const rows = items.map((item) => ({ promptIds: itemPromptIds(model, item), image: item.image! }));
      const max = Math.max(...golden.cases.map((c) => c.greedy.length));
      const out = await generator.generate(rows, { maxTokens: max, temperature: 0, seed: 0 });
      out.forEach((o, i) => {
        assert.deepEqual(o.tokens, golden.cases[i]!.greedy, `${golden.cases[i]!.image}: greedy tokens`);
      });
    } finally {
      await generator.close();
      await rt.release();
    }
  });
}
