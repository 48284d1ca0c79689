// Loading a LLaVA checkpoint in place (src/runtime/models/hf/model.ts): config, processor settings, tokenizer and
// image token, and every weight referenced inside the checkpoint's safetensors under the programs' names — for
// transformers 5's save layout and the hub's (vision_tower.vision_model.*), which give the same logits as the weights
// read into memory. Made live with transformers (ALIGNC_PYTHON; CI installs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { buildLlavaLogitsProgram, llavaProgramName, slotImageIndex } from "../src/models/hf/vision/llava.ts";
import { featuresPerTile } from "../src/models/hf/vision/tower.ts";
import { HfCheckpointError, loadHfModel } from "../src/runtime/models/hf/model.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { externalDataFiles, serializeModel } from "../src/tensor/onnx/serialize.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const python = process.env.ALIGNC_PYTHON ?? "python3";
const ok = spawnSync(python, ["-c", "import torch, transformers, safetensors"]).status === 0;
const skip = ok ? false : `${python} lacks torch or transformers: the live LLaVA loading check DID NOT RUN (set ALIGNC_PYTHON; .ci/run installs them)`;
const dir = mkdtempSync(path.join(tmpdir(), "alignc-llava-load-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const MAKE = `
import sys, torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, LlavaConfig, LlavaForConditionalGeneration, CLIPVisionConfig, Qwen2Config
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
v5, hub, fixture = sys.argv[1], sys.argv[2], sys.argv[3]
tok = AutoTokenizer.from_pretrained(fixture)
tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
image_id = tok.convert_tokens_to_ids("<image>")
torch.manual_seed(3)
vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=24, patch_size=8)
text = Qwen2Config(vocab_size=400, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
m = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_id))
for p in m.parameters():
    torch.nn.init.normal_(p, 0.0, 0.3 if p.dim() == 1 else 0.15)
for out in (v5, hub):
    m.save_pretrained(out)
    tok.save_pretrained(out)
    CLIPImageProcessorPil(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24}).save_pretrained(out)
# The hub's names (transformers 4 saves): vision_tower.vision_model.*.
w = load_file(hub + "/model.safetensors")
save_file({k.replace("vision_tower.", "vision_tower.vision_model.", 1): t for k, t in w.items()}, hub + "/model.safetensors", metadata={"format": "pt"})
print(image_id)
`;

test("a LLaVA checkpoint loads in place in both naming layouts, with the same logits as its weights read into memory", { skip }, async () => {
  const v5 = path.join(dir, "v5");
  const hub = path.join(dir, "hub");
  const r = spawnSync(python, ["-c", MAKE, v5, hub, path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const imageId = Number(r.stdout.trim());
  const memory = new Map(
    [...loadSafetensors(path.join(v5, "model.safetensors")).tensors].flatMap(([name, t]) => {
      const n = llavaProgramName(name);
      return n ? [[n, t] as const] : [];
    }),
  );
  const rt = testRuntime();
  try {
    const logits: Float32Array[] = [];
    for (const d of [v5, hub]) {
      const model = loadHfModel(d);
      const vision = model.vision!;
      assert.equal(model.architecture, "LlavaForConditionalGeneration");
      assert.equal(vision.imageToken, "<image>");
      assert.equal(vision.imageTokenId, imageId);
      assert.deepEqual(vision.processor.resize, { shortestEdge: 24 });
      assert.equal(model.weights.tensors.get("vision_tower.embeddings.class_embedding")?.location, "model.safetensors");
      const tokens = featuresPerTile(vision.config);
      const ids = [[5, 17, ...Array<number>(tokens).fill(imageId), 33, 2]];
      const length = ids[0]!.length;
      const { cos, sin } = ropeTables(model.shape, arangePositions(1, length));
      const pixels: TensorData = { dtype: "float32", shape: [1, 3, 24, 24], data: Float32Array.from({ length: 3 * 24 * 24 }, (_, i) => Math.sin(i)) };
      const feeds = {
        input_ids: { dtype: "int64" as const, shape: [1, length], data: BigInt64Array.from(ids[0]!.map(BigInt)) },
        attention_mask: { dtype: "int64" as const, shape: [1, length], data: new BigInt64Array(length).fill(1n) },
        cos,
        sin,
        pixel_values: pixels,
        image_index: { dtype: "int64" as const, shape: [length], data: slotImageIndex(vision.config, ids, [0], [{ height: 1, width: 1 }]) },
      };
      const inPlace = buildLlavaLogitsProgram(vision.config, model.shape, model.weights.tensors, { batch: 1, length, images: 1 });
      const session = await rt.load(serializeModel(inPlace.root), undefined, { folder: model.weights.folder, files: externalDataFiles(inPlace.root) });
      logits.push((await rt.run(session, feeds)).logits!.data as Float32Array);
      if (d === v5) {
        const inMemory = buildLlavaLogitsProgram(vision.config, model.shape, memory, { batch: 1, length, images: 1 });
        assert.deepEqual((await rt.run(await rt.load(serializeModel(inMemory.root)), feeds)).logits!.data, logits[0], "in place = in memory");
      }
    }
    assert.deepEqual(logits[1], logits[0], "the hub's names give the same model");
    // A checkpoint without its processor settings is refused, naming the file.
    rmSync(path.join(hub, "preprocessor_config.json"), { force: true });
    rmSync(path.join(hub, "processor_config.json"), { force: true });
    assert.throws(
      () => loadHfModel(hub),
      (e: unknown) => e instanceof HfCheckpointError && /preprocessor_config\.json: does not exist/.test(e.message),
    );
  } finally {
    await rt.release();
  }
});
