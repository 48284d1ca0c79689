// LLaVA's image features (src/models/hf/vision/): config.json normalised (text_config through the decoder's rules,
// vision_config CLIP or SigLIP with transformers' defaults, feature layers, select strategy, projector), and the
// image-features program — patch embedding as a matmul, class token, pre-layernorm, encoder layers up to the deepest
// feature layer, the projector — equal to transformers' LlavaModel.get_image_features on tiny random checkpoints made
// live (ALIGNC_PYTHON with torch and transformers; CI installs them): CLIP with layer −2 and `default`, CLIP with
// layers [−2, 1] concatenated, SigLIP with −1 and `full` on an image size that is not a multiple of its patch.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { parseStrictJson } from "../src/formats/strict-json.ts";
import { describeHfConfigProblem } from "../src/models/hf/config.ts";
import { normaliseLlavaConfig } from "../src/models/hf/vision/config.ts";
import { buildLlavaImageFeaturesProgram, imageTokensPerImage } from "../src/models/hf/vision/tower.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { testRuntime } from "./support/device.ts";

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasTransformers = spawnSync(python, ["-c", "import torch, transformers"]).status === 0;
const skip = hasTransformers
  ? false
  : `${python} lacks torch or transformers: the live LLaVA image-feature check DID NOT RUN (set ALIGNC_PYTHON; .ci/run installs them)`;
const dir = mkdtempSync(path.join(tmpdir(), "alignc-llava-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Makes a tiny random LLaVA, saves it (transformers 5's layout), and writes pixel values and get_image_features' output.
const SCRIPT = `
import json, sys, torch
from safetensors.torch import save_file
from transformers import LlavaConfig, LlavaForConditionalGeneration, CLIPVisionConfig, SiglipVisionConfig, Qwen2Config, LlamaConfig
out, case = sys.argv[1], json.loads(sys.argv[2])
torch.manual_seed(case["seed"])
v = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=case["image"], patch_size=case["patch"])
vision = CLIPVisionConfig(**v) if case["tower"] == "clip" else SiglipVisionConfig(**v)
text = (Qwen2Config if case["text"] == "qwen2" else LlamaConfig)(vocab_size=400, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=390, vision_feature_layer=case["layer"], vision_feature_select_strategy=case["strategy"])
m = LlavaForConditionalGeneration(cfg).eval()
for p in m.parameters():  # not the tiny init: every weight and bias matters
    torch.nn.init.normal_(p, 0.0, 0.3 if p.dim() == 1 else 0.15)
m.save_pretrained(out)
pv = torch.randn(2, 3, case["image"], case["image"])
with torch.no_grad():
    feats = torch.stack(m.model.get_image_features(pixel_values=pv).pooler_output)
save_file({"pixel_values": pv.contiguous(), "image_features": feats.contiguous()}, out + "/io.safetensors")
`;

const CASES = [
  {
    name: "CLIP, layer −2, default (class token dropped), Qwen2 text",
    tower: "clip",
    text: "qwen2",
    image: 30,
    patch: 6,
    layer: -2,
    strategy: "default",
    seed: 1,
  },
  { name: "CLIP, layers [−2, 1] concatenated, Llama text", tower: "clip", text: "llama", image: 24, patch: 8, layer: [-2, 1], strategy: "default", seed: 2 },
  {
    name: "SigLIP, layer −1, full, 30 px on 7-px patches (2 px cut)",
    tower: "siglip",
    text: "qwen2",
    image: 30,
    patch: 7,
    layer: -1,
    strategy: "full",
    seed: 3,
  },
];

for (const c of CASES) {
  test(`image features equal transformers' get_image_features — ${c.name}`, { skip }, async () => {
    const out = path.join(dir, `case-${c.seed}`);
    const r = spawnSync(python, ["-c", SCRIPT, out, JSON.stringify(c)], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const config = normaliseLlavaConfig(parseStrictJson(readFileSync(path.join(out, "config.json"), "utf8")) as never, "config.json");
    assert.ok(config.ok, JSON.stringify(config));
    const io = loadSafetensors(path.join(out, "io.safetensors")).tensors;
    const weights = loadSafetensors(path.join(out, "model.safetensors")).tensors;
    const want = io.get("image_features") as TensorData;
    assert.deepEqual(want.shape, [2, imageTokensPerImage(config.config), 48]);
    const rt = testRuntime();
    try {
      const program = buildLlavaImageFeaturesProgram(config.config, weights, 2);
      const got = (await rt.run(await rt.load(serializeModel(program.root)), { pixel_values: io.get("pixel_values") as TensorData })).image_features!;
      assert.deepEqual(got.shape, want.shape);
      let worst = 0;
      let scale = 0;
      const a = got.data as Float32Array;
      (want.data as Float32Array).forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - (a[i] as number)));
        scale = Math.max(scale, Math.abs(v));
      });
      assert.ok(scale > 0.1, `features should not be trivially small (max ${scale})`);
      assert.ok(worst <= 1e-5 * Math.max(1, scale), `max |alignc − transformers| ${worst} (largest ${scale})`);
    } finally {
      await rt.release();
    }
  });
}

test("config.json: problems name the key — a tower without a class token cannot drop one, unknown towers and text models", () => {
  const base = {
    architectures: ["LlavaForConditionalGeneration"],
    image_token_index: 390,
    text_config: { model_type: "qwen2", vocab_size: 400, hidden_size: 48, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4 },
    vision_config: {
      model_type: "siglip_vision_model",
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      image_size: 30,
      patch_size: 7,
    },
  };
  const problem = (json: Record<string, unknown>) => {
    const r = normaliseLlavaConfig(json as never, "c.json");
    return r.ok ? "ok" : describeHfConfigProblem(r.problem);
  };
  assert.match(problem({ ...base, vision_feature_select_strategy: "default" }), /"default" drops a class token, and the siglip tower has none/);
  assert.equal(problem({ ...base, vision_feature_select_strategy: "full", vision_feature_layer: -1 }), "ok");
  assert.match(
    problem({ ...base, vision_feature_select_strategy: "full", vision_config: { model_type: "dinov2" } }),
    /architecture vision_config.model_type "dinov2" is not supported/,
  );
  assert.match(
    problem({ ...base, vision_feature_select_strategy: "full", text_config: { ...base.text_config, model_type: "gemma" } }),
    /text_config.model_type gemma/,
  );
  assert.match(problem({ ...base, vision_feature_select_strategy: "full", image_token_index: 400 }), /image_token_index.*400-token vocabulary/);
  assert.match(problem({ ...base, vision_feature_select_strategy: "full", vision_feature_layer: 9 }), /vision_feature_layer must be a layer of hidden_states/);
  assert.match(
    problem({ ...base, vision_feature_select_strategy: "full", text_config: { ...base.text_config, num_attention_heads: 5 } }),
    /text_config\.head_dim|text_config\.num/,
  );
});
