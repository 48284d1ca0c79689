// Parameter counts from a config alone (src/models/hf/sizing/parameters.ts) equal the number of values the checkpoint's
// safetensors hold — decoders of every fixture (tied heads counted once) and the LLaVA fixtures (CLIP with its
// pre- and post-LayerNorm, SigLIP with its pooling head, LLaVA-NeXT with its image_newline) — and LoRA's trainable count equals the adapters' sizes.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { adapterSpecs } from "../src/models/hf/lora.ts";
import { readHfModelConfig } from "../src/models/hf/model-config.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import { parameterCounts, trainableCount } from "../src/models/hf/sizing/parameters.ts";
import { visionWeightSpecs } from "../src/models/hf/vision/tower.ts";
import { findHfWeights } from "../src/models/hf/weights.ts";
import { repoRoot } from "./support/align-files.ts";

const fixtures = [
  ...readdirSync(path.join(repoRoot, "test/fixtures/hf"), { withFileTypes: true })
    .filter((d) => d.isDirectory() && !["adapters", "golden"].includes(d.name))
    .map((d) => path.join(repoRoot, "test/fixtures/hf", d.name)),
  path.join(repoRoot, "test/fixtures/hf-vision/llava-clip-v4"),
  path.join(repoRoot, "test/fixtures/hf-vision/llava-siglip-v5"),
  path.join(repoRoot, "test/fixtures/hf-vision/llava-next-mistral-v4"),
];

for (const dir of fixtures) {
  test(`${path.basename(dir)}: the config's parameter count is the checkpoint's`, () => {
    const read = readHfModelConfig(dir);
    assert.ok(read.ok, JSON.stringify(read));
    const c = read.config;
    const files = findHfWeights(dir);
    assert.ok(files.ok);
    const tensors = files.files.flatMap((f) => [...loadSafetensors(f).tensors]);
    // A tied head saved anyway is the embedding table again.
    const stored = tensors
      .filter(([name]) => !(c.text.tieWordEmbeddings && /(^|\.)lm_head\.weight$/.test(name)))
      .reduce((n, [, t]) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const counts = parameterCounts(c);
    assert.equal(counts.language + counts.tower + counts.projector, stored);
    if (c.llava) {
      const size = (w: { shape: number[] }) => w.shape.reduce((a, b) => a * b, 1);
      const specs = visionWeightSpecs(c.llava);
      const projector = specs.filter((w) => w.name.startsWith("multi_modal_projector.")).reduce((n, w) => n + size(w), 0);
      const newline = specs.filter((w) => w.name === "image_newline").reduce((n, w) => n + size(w), 0);
      assert.equal(newline, c.llava.pinpoints ? c.text.hiddenSize : 0);
      assert.equal(counts.projector, projector + newline);
    }
    const lora = { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] as const };
    const adapters = adapterSpecs(decoderShapeOf(c.text), lora).reduce((n, a) => n + lora.rank * (a.in + a.out), 0);
    assert.equal(trainableCount(c, { ...lora, projector: false }), adapters);
    // LoRA trains the projector module, not NeXT's bare image_newline parameter.
    const newline = c.llava?.pinpoints ? c.text.hiddenSize : 0;
    assert.equal(trainableCount(c, { ...lora, projector: true }), adapters + counts.projector - newline);
    assert.equal(trainableCount(c, undefined), counts.language + counts.projector);
  });
}
