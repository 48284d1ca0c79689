// BDHS on Hugging Face vision-language models (src/runtime/models/hf/bdhs-completer.ts): the generation programs'
// `prompt_keep` hides image tokens' keys from every query with positions unchanged — live, greedy tokens with a
// seeded keep mask equal a greedy loop over transformers' forward with that attention mask and explicit positions,
// on the LLaVA-1.5-shaped and the LLaVA-NeXT fixtures — and runBdhs completes ground-truth prefixes on a LLaVA-NeXT
// (token counts per image, guided and unguided attempts, ρ = 1 hiding every image token).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { keepMask, runBdhs } from "../src/runtime/data/prefdata/bdhs.ts";
import { hfCompleter } from "../src/runtime/data/prefdata/bdhs-completers.ts";
import { lexicalSimilarity } from "../src/runtime/data/prefdata/similarity.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { imageTokensFor } from "../src/runtime/models/hf/images.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { itemPromptIds } from "../src/runtime/models/hf/prompts.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { Rng } from "../src/util/random.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasTransformers = spawnSync(python, ["-c", "import torch, transformers"]).status === 0;
const skip = hasTransformers
  ? false
  : `${python} lacks torch or transformers: the live BDHS masking check DID NOT RUN (set ALIGNC_PYTHON; .ci/run installs them)`;

const CASES = [
  {
    fixture: "llava-clip-v4",
    cls: "LlavaForConditionalGeneration",
    image: "test/fixtures/images/q85-420.jpg",
    prompt: "USER: <image>\nWhat is it? ASSISTANT:",
  },
  {
    fixture: "llava-next-mistral-v4",
    cls: "LlavaNextForConditionalGeneration",
    image: "test/fixtures/hf-vision/images/wide.jpg",
    prompt: "[INST] <image>\nWhat is it? [/INST]",
  },
];

/** Greedy decoding with transformers' forward: the image tokens `keep` hides masked out of attention, positions 0, 1, … throughout. */
const GREEDY = `
import json, sys, torch
import transformers
from transformers.image_utils import load_image
from transformers import AutoImageProcessor
fixture, cls, image, case = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
m = getattr(transformers, cls).from_pretrained(fixture, dtype=torch.float32).eval()
pixels = AutoImageProcessor.from_pretrained(fixture, use_fast=False)(images=load_image(image), return_tensors="pt")
extra = {"image_sizes": pixels["image_sizes"]} if "image_sizes" in pixels else {}
ids = torch.tensor([case["ids"]])
mask = torch.tensor([case["mask"]], dtype=torch.long)
out = []
with torch.no_grad():
    for _ in range(case["steps"]):
        n = ids.shape[1]
        logits = m(input_ids=ids, pixel_values=pixels["pixel_values"], attention_mask=mask, position_ids=torch.arange(n)[None], **extra).logits[0, -1]
        t = int(logits.argmax())
        out.append(t)
        ids = torch.cat([ids, torch.tensor([[t]])], 1)
        mask = torch.cat([mask, torch.ones(1, 1, dtype=torch.long)], 1)
print(json.dumps(out))
`;

for (const c of CASES) {
  test(`${c.fixture}: image tokens BDHS hides are hidden from every query, positions unchanged (greedy tokens equal transformers' forward with that mask)`, {
    skip,
  }, async () => {
    const dir = path.join(repoRoot, "test/fixtures/hf-vision", c.fixture);
    const image = path.join(repoRoot, c.image);
    const model = loadHfModel(dir);
    const ids = itemPromptIds(model, { prompt: c.prompt, image });
    const tokens = imageTokensFor(model.vision!, image);
    const keep = keepMask(new Rng(3), tokens, 0.6);
    assert.ok(keep.some((v) => v === 0) && keep.some((v) => v === 1), "the mask hides some tokens and keeps others");
    let k = 0;
    const mask = ids.map((id) => (id === model.vision!.imageTokenId ? (keep[k++] as number) : 1));
    const steps = 6;
    const r = spawnSync(python, ["-c", GREEDY, dir, c.cls, image, JSON.stringify({ ids, mask, steps })], {
      encoding: "utf8",
      env: { ...process.env, HF_HUB_OFFLINE: "1" },
    });
    assert.equal(r.status, 0, r.stderr);
    const want = JSON.parse(r.stdout.trim()) as number[];
    const rt = testRuntime();
    const generator = new HfGenerator(rt, model);
    try {
      const [masked, open] = await generator.generate(
        [
          { promptIds: ids, image, keep },
          { promptIds: ids, image },
        ],
        { maxTokens: steps, temperature: 0, seed: 0, stopTokens: [-1] },
      );
      assert.deepEqual(masked?.tokens, want, "greedy tokens with the mask");
      assert.notDeepEqual(open?.tokens, want, "the mask changes what the model says (else the check proves nothing)");
    } finally {
      await generator.close();
      await rt.release();
    }
  });
}

test("runBdhs on a LLaVA-NeXT: guided rewrites of the ground truth with the image barely seen, a keep mask as long as each image's tokens", async () => {
  const dir = path.join(repoRoot, "test/fixtures/hf-vision/llava-next-mistral-v4");
  const model = loadHfModel(dir);
  const images = ["test/fixtures/images/orientation-6.jpg", "test/fixtures/hf-vision/images/wide.jpg", "test/fixtures/hf-vision/images/tiny.png"];
  const items = images.map(
    (image, i): WorldItem =>
      ({
        id: `q${i}`,
        split: "train",
        task: "describe",
        kind: "bdhs",
        prompt: "Describe the picture.",
        answer: "There is a red square. It is next to a blue circle.",
        image: path.join(repoRoot, image),
        scene: null,
        negative: null,
      }) as WorldItem,
  );
  const rt = testRuntime();
  const generator = new HfGenerator(rt, model);
  try {
    const completer = hfCompleter(generator);
    assert.deepEqual(
      items.map((item) => completer.imageTokens({ item, rgb: null })),
      [72, 42, 28],
      "LLaVA-NeXT's tokens per image (the goldens' counts)",
    );
    const options = { rho: 1, epsilon: 2, tries: 2, yesNoFlip: 0, cut: "words" as const, noise: "latent" as const, temperature: 0, maxTokens: 6, seed: 4 };
    const { pairs, stats } = await runBdhs(
      completer,
      lexicalSimilarity("rouge_l"),
      items.map((item) => ({ item, rgb: null })),
      options,
    );
    assert.equal(pairs.length, 3);
    for (const p of pairs) {
      assert.equal(p.chosen, p.item.answer);
      assert.equal(p.source.kind, "bdhs");
      if (p.source.kind !== "bdhs") continue;
      // ε 2 accepts the first (guided) attempt; ρ 1 hides every image token.
      assert.equal(p.source.accepted, 1);
      const [attempt] = p.source.tries;
      assert.equal(attempt?.visible, 0);
      assert.equal(attempt?.guided, true);
      assert.equal(attempt?.sentences.length, 2);
      // Each sentence is its ground-truth prefix, then the model's completion.
      attempt?.sentences.forEach((s, j) => {
        const truth = ["There is a red square.", "It is next to a blue circle."][j] as string;
        assert.ok(truth.startsWith(s.prefix), `prefix ${JSON.stringify(s.prefix)} of ${JSON.stringify(truth)}`);
      });
      assert.equal(p.rejected, attempt?.text);
    }
    assert.equal(stats.tries, 2);
    // Seeded: a second run rewrites identically.
    const again = await runBdhs(
      completer,
      lexicalSimilarity("rouge_l"),
      items.map((item) => ({ item, rgb: null })),
      options,
    );
    assert.deepEqual(
      again.pairs.map((p) => p.rejected),
      pairs.map((p) => p.rejected),
    );
    await assert.rejects(
      runBdhs(
        completer,
        lexicalSimilarity("rouge_l"),
        items.map((item) => ({ item, rgb: null })),
        { ...options, noise: "pixels" },
      ),
      /noise "pixels".*noise "latent"/,
    );
  } finally {
    await generator.close();
    await rt.release();
  }
});
