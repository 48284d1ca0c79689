// Hugging Face image processors, Pillow backend (src/models/hf/vision/image-processor.ts): pixel_values equal
// transformers' CLIPImageProcessorPil, LlavaImageProcessorPil (pad to square), LlavaNextImageProcessorPil (anyres tiles)
// and SiglipImageProcessorPil to the last
// bit, on images of odd sizes and every mode (test/fixtures/images/golden-processors.json, made by
// scripts/make-image-fixtures.py with transformers 5.18); settings read from preprocessor_config.json or
// processor_config.json over each class's defaults; bad settings are problems naming the file and key.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { readImage } from "../src/formats/image/decode.ts";
import { imageProcessorSpec, pixelTiles, readImageProcessor } from "../src/models/hf/vision/image-processor.ts";
import { repoRoot } from "./support/align-files.ts";

const FIXTURES = path.join(repoRoot, "test/fixtures/images");
const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden-processors.json"), "utf8")) as {
  processors: Record<
    string,
    { class: string; settings: Record<string, unknown>; pixel_values: Record<string, { shape: number[]; sha256: string; first: number[] }> }
  >;
};
const dir = mkdtempSync(path.join(tmpdir(), "alignc-processor-"));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const [name, p] of Object.entries(golden.processors)) {
  test(`${name} (${p.class}): pixel_values equal transformers' Pillow backend bit for bit on ${Object.keys(p.pixel_values).length} images`, async () => {
    const spec = imageProcessorSpec({ image_processor_type: p.class, ...(p.settings as Record<string, never>) }, "test");
    assert.ok(spec.ok, JSON.stringify(spec));
    for (const [image, want] of Object.entries(p.pixel_values)) {
      const pv = pixelTiles(await readImage(path.join(FIXTURES, image)), spec.spec);
      // LLaVA-NeXT's pixel_values[0] are the image's tiles; the others' one image.
      assert.deepEqual(spec.spec.anyres ? [pv.tiles, 3, pv.height, pv.width] : [3, pv.height, pv.width], want.shape, image);
      assert.deepEqual(Array.from(pv.data.subarray(0, 4)), want.first, image);
      const sha = createHash("sha256").update(new Uint8Array(pv.data.buffer)).digest("hex");
      assert.equal(sha, want.sha256, `${name} on ${image}`);
    }
  });
}

test("settings come from preprocessor_config.json or processor_config.json's image_processor, over the class defaults", () => {
  const write = (sub: string, file: string, json: unknown) => {
    mkdirSync(path.join(dir, sub), { recursive: true });
    writeFileSync(path.join(dir, sub, file), JSON.stringify(json));
    return path.join(dir, sub);
  };
  const hub = readImageProcessor(
    write("hub", "preprocessor_config.json", { image_processor_type: "CLIPImageProcessor", size: { shortest_edge: 336 }, crop_size: 336 }),
  );
  assert.ok(hub.ok);
  assert.deepEqual(
    [hub.spec.resize, hub.spec.centerCrop, hub.spec.resample, hub.spec.normalize?.mean[0]],
    [{ shortestEdge: 336 }, { height: 336, width: 336 }, "bicubic", 0.48145466],
  );
  const v5 = readImageProcessor(
    write("v5", "processor_config.json", {
      image_processor: { image_processor_type: "SiglipImageProcessorFast", size: { height: 384, width: 384 } },
      patch_size: 14,
    }),
  );
  assert.ok(v5.ok);
  assert.deepEqual(
    [v5.spec.type, v5.spec.resize, v5.spec.centerCrop, v5.spec.normalize?.std],
    ["SiglipImageProcessor", { height: 384, width: 384 }, undefined, [0.5, 0.5, 0.5]],
  );
  const none = readImageProcessor(path.join(dir, "nothing"));
  assert.ok(!none.ok && /preprocessor_config\.json does not exist \(nor processor_config\.json\)/.test(`${none.problem.file} ${none.problem.detail}`));
  const bad = (json: Record<string, unknown>, pattern: RegExp) => {
    const r = imageProcessorSpec(json as never, "p.json");
    assert.ok(!r.ok && pattern.test(r.problem.detail), JSON.stringify(r));
  };
  bad({ image_processor_type: "Qwen2VLImageProcessor" }, /image_processor_type "Qwen2VLImageProcessor" is not supported; supported: CLIPImageProcessor/);
  bad({ image_processor_type: "CLIPImageProcessor", resample: 0 }, /resample 0 is not a supported Pillow filter/);
  bad({ image_processor_type: "SiglipImageProcessor", size: { height: 0, width: 5 } }, /size must be/);
  bad({ image_processor_type: "CLIPImageProcessor", image_std: [1, 0, 1] }, /image_std must be three non-zero numbers/);
});
