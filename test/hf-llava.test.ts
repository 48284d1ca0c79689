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
import { readImage } from "../src/formats/image/decode.ts";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { parseStrictJson } from "../src/formats/strict-json.ts";
import { describeHfConfigProblem } from "../src/models/hf/config.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import { normaliseLlavaConfig } from "../src/models/hf/vision/config.ts";
import { pixelValues, readImageProcessor } from "../src/models/hf/vision/image-processor.ts";
import { buildLlavaGenerateProgram, buildLlavaLogitsProgram, imageIndex, llavaProgramName } from "../src/models/hf/vision/llava.ts";
import { buildLlavaImageFeaturesProgram, imageTokensPerImage } from "../src/models/hf/vision/tower.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { repoRoot } from "./support/align-files.ts";
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
n = case["tokens"]
ids = torch.tensor([[5, 17] + [390] * n + [33, 2, 8], [7] + [390] * n + [12, 40, 0, 0]])
mask = torch.tensor([[1] * (n + 5), [1] * (n + 3) + [0, 0]])
with torch.no_grad():
    feats = torch.stack(m.model.get_image_features(pixel_values=pv).pooler_output)
    logits = m(input_ids=ids, pixel_values=pv, attention_mask=mask).logits
save_file({"pixel_values": pv.contiguous(), "image_features": feats.contiguous(), "input_ids": ids, "attention_mask": mask, "logits": logits.contiguous()}, out + "/io.safetensors")
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
    tokens: 25,
  },
  {
    name: "CLIP, layers [−2, 1] concatenated, Llama text",
    tower: "clip",
    text: "llama",
    image: 24,
    patch: 8,
    layer: [-2, 1],
    strategy: "default",
    seed: 2,
    tokens: 9,
  },
  {
    name: "SigLIP, layer −1, full, 30 px on 7-px patches (2 px cut)",
    tower: "siglip",
    text: "qwen2",
    image: 30,
    patch: 7,
    layer: -1,
    strategy: "full",
    seed: 3,
    tokens: 16,
  },
];

for (const c of CASES) {
  test(`image features and logits with the image merged equal transformers' — ${c.name}`, { skip }, async () => {
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

      // The logits of two rows (the second right-padded), each with one image's tokens among text.
      const ids = io.get("input_ids") as TensorData;
      const [batch, length] = ids.shape as [number, number];
      const rows = Array.from({ length: batch }, (_, r) => Array.from((ids.data as BigInt64Array).subarray(r * length, (r + 1) * length), Number));
      const named = new Map(
        [...weights].flatMap(([name, t]) => {
          const n = llavaProgramName(name);
          return n ? [[n, t] as const] : [];
        }),
      );
      const shape = decoderShapeOf(config.config.text);
      const logitsProgram = buildLlavaLogitsProgram(config.config, shape, named, { batch, length, images: 2 });
      const { cos, sin } = ropeTables(shape, arangePositions(batch, length));
      const index = imageIndex(rows, config.config.imageTokenId, 2, imageTokensPerImage(config.config));
      const logits = (
        await rt.run(await rt.load(serializeModel(logitsProgram.root)), {
          input_ids: ids,
          attention_mask: io.get("attention_mask") as TensorData,
          cos,
          sin,
          pixel_values: io.get("pixel_values") as TensorData,
          image_index: { dtype: "int64", shape: [batch * length], data: index },
        })
      ).logits!.data as Float32Array;
      const wantLogits = io.get("logits") as TensorData;
      const mask = (io.get("attention_mask") as TensorData).data as BigInt64Array;
      const vocab = shape.vocab;
      let worstLogit = 0;
      let largest = 0;
      (wantLogits.data as Float32Array).forEach((v, i) => {
        if (mask[Math.floor(i / vocab)] === 0n) return;
        worstLogit = Math.max(worstLogit, Math.abs(v - (logits[i] as number)));
        largest = Math.max(largest, Math.abs(v));
      });
      assert.ok(worstLogit <= 1e-5 * Math.max(1, largest), `logits: max |alignc − transformers| ${worstLogit} (largest ${largest})`);
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

test("tensor names of every LLaVA generation map to the programs' names; image tokens are numbered in reading order and must fill the images", () => {
  assert.equal(llavaProgramName("language_model.model.layers.0.self_attn.q_proj.weight"), "model.layers.0.self_attn.q_proj.weight");
  assert.equal(llavaProgramName("model.language_model.embed_tokens.weight"), "model.embed_tokens.weight");
  assert.equal(llavaProgramName("language_model.lm_head.weight"), "lm_head.weight");
  assert.equal(llavaProgramName("vision_tower.vision_model.encoder.layers.3.mlp.fc1.bias"), "vision_tower.encoder.layers.3.mlp.fc1.bias");
  assert.equal(llavaProgramName("model.vision_tower.embeddings.class_embedding"), "vision_tower.embeddings.class_embedding");
  assert.equal(llavaProgramName("vision_tower.pre_layrnorm.weight"), "vision_tower.pre_layrnorm.weight");
  assert.equal(llavaProgramName("model.multi_modal_projector.linear_2.bias"), "multi_modal_projector.linear_2.bias");
  assert.equal(llavaProgramName("image_newline"), undefined);
  const index = imageIndex(
    [
      [1, 9, 9, 2],
      [9, 9, 3, 0],
    ],
    9,
    2,
    2,
  );
  assert.deepEqual(Array.from(index, Number), [4, 0, 1, 4, 2, 3, 4, 4]);
  assert.throws(() => imageIndex([[9, 9, 9]], 9, 1, 2), /more image tokens than the 1 image\(s\) × 2 features/);
  assert.throws(() => imageIndex([[9, 1, 1]], 9, 1, 2), /1 image tokens for 1 image\(s\) of 2 features each/);
});

const GENERATE = `
import json, sys, torch
from transformers import LlavaConfig, LlavaForConditionalGeneration, CLIPVisionConfig, Qwen2Config
from transformers.image_utils import load_image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
out, images, rows = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
torch.manual_seed(7)
vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=30, patch_size=6)
text = Qwen2Config(vocab_size=400, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
m = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text, image_token_index=390)).eval()
for p in m.parameters():
    torch.nn.init.normal_(p, 0.0, 0.3 if p.dim() == 1 else 0.15)
m.save_pretrained(out)
proc = CLIPImageProcessorPil(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
proc.save_pretrained(out)
greedy = []
for image, ids in zip(images, rows):
    pv = proc(images=load_image(image), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        g = m.generate(input_ids=torch.tensor([ids]), pixel_values=pv, do_sample=False, max_new_tokens=10, min_new_tokens=10, pad_token_id=0)
    greedy.append(g[0, len(ids):].tolist())
print(json.dumps(greedy))
`;

test("greedy answers about real images of odd sizes and modes equal transformers' generate(do_sample=False), token for token", { skip }, async () => {
  const out = path.join(dir, "generate");
  const images = ["orientation-6.jpg", "p-transparency.png"].map((f) => path.join(repoRoot, "test/fixtures/images", f));
  const img = 390;
  const rows = [
    [5, 17, ...Array<number>(25).fill(img), 33, 2, 8],
    [7, ...Array<number>(25).fill(img), 12],
  ];
  const r = spawnSync(python, ["-c", GENERATE, out, JSON.stringify(images), JSON.stringify(rows)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const want = JSON.parse(r.stdout) as number[][];
  const config = normaliseLlavaConfig(parseStrictJson(readFileSync(path.join(out, "config.json"), "utf8")) as never, "config.json");
  assert.ok(config.ok);
  const processor = readImageProcessor(out);
  assert.ok(processor.ok, JSON.stringify(processor));
  const pixels = await Promise.all(images.map(async (f) => pixelValues(await readImage(f), processor.spec).data));
  const weights = new Map(
    [...loadSafetensors(path.join(out, "model.safetensors")).tensors].flatMap(([name, t]) => {
      const n = llavaProgramName(name);
      return n ? [[n, t] as const] : [];
    }),
  );
  const shape = decoderShapeOf(config.config.text);
  const steps = 10;
  const width = Math.max(...rows.map((x) => x.length));
  const padded = rows.map((x) => [...x, ...Array<number>(width - x.length).fill(0)]);
  const program = buildLlavaGenerateProgram(
    config.config,
    shape,
    weights,
    { batch: 2, promptLength: width, steps, temperature: 0, seed: 0, stopTokens: [], pad: 0 },
    2,
  );
  const total = width + steps;
  const { cos, sin } = ropeTables(shape, arangePositions(1, total));
  const rt = testRuntime();
  try {
    const got = await rt.run(await rt.load(serializeModel(program.root)), {
      prompt: { dtype: "int64", shape: [2, width], data: BigInt64Array.from(padded.flat().map(BigInt)) },
      prompt_length: { dtype: "int64", shape: [2], data: BigInt64Array.from(rows.map((x) => BigInt(x.length))) },
      rope_cos: { ...cos, shape: [total, shape.headDim] },
      rope_sin: { ...sin, shape: [total, shape.headDim] },
      pixel_values: { dtype: "float32", shape: [2, 3, 30, 30], data: Float32Array.from([...pixels[0]!, ...pixels[1]!]) },
      image_index: { dtype: "int64", shape: [2 * width], data: imageIndex(padded, img, 2, imageTokensPerImage(config.config)) },
    });
    const tokens = Array.from(got.tokens!.data as BigInt64Array, Number);
    assert.deepEqual([tokens.slice(0, steps), tokens.slice(steps)], want);
  } finally {
    await rt.release();
  }
});
