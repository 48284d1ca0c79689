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
import { normaliseLlavaConfig } from "../src/models/hf/llava-config.ts";
import { adapterSpecs, type HfLora } from "../src/models/hf/lora.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import { hfDpoBatch, hfDpoLoss } from "../src/models/hf/train.ts";
import { pixelValues, readImageProcessor } from "../src/models/hf/vision/image-processor.ts";
import {
  buildLlavaGenerateProgram,
  buildLlavaLogitsProgram,
  imageIndex,
  llavaBatchImages,
  llavaLossImages,
  llavaProgramName,
  slotImageIndex,
} from "../src/models/hf/vision/llava.ts";
import { buildLlavaImageFeaturesProgram, featuresPerTile } from "../src/models/hf/vision/tower.ts";
import { sequenceFeeds } from "../src/runtime/models/hf/feeds.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";
import { dpoAgainstPeft, lossAndGrads } from "./support/loss-grads.ts";

/** A LLaVA image slot's size (its single tile's features do not depend on it). */
const ONE_TILE = { height: 1, width: 1 };

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
    assert.deepEqual(want.shape, [2, featuresPerTile(config.config), 48]);
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
      const index = slotImageIndex(config.config, rows, [0, 1], [ONE_TILE, ONE_TILE]);
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

test("tensor names of every LLaVA generation map to the programs' names; each row's image tokens take its image's feature rows", () => {
  assert.equal(llavaProgramName("language_model.model.layers.0.self_attn.q_proj.weight"), "model.layers.0.self_attn.q_proj.weight");
  assert.equal(llavaProgramName("model.language_model.embed_tokens.weight"), "model.embed_tokens.weight");
  assert.equal(llavaProgramName("language_model.lm_head.weight"), "lm_head.weight");
  assert.equal(llavaProgramName("vision_tower.vision_model.encoder.layers.3.mlp.fc1.bias"), "vision_tower.encoder.layers.3.mlp.fc1.bias");
  assert.equal(llavaProgramName("model.vision_tower.embeddings.class_embedding"), "vision_tower.embeddings.class_embedding");
  assert.equal(llavaProgramName("vision_tower.pre_layrnorm.weight"), "vision_tower.pre_layrnorm.weight");
  assert.equal(llavaProgramName("model.multi_modal_projector.linear_2.bias"), "multi_modal_projector.linear_2.bias");
  assert.equal(llavaProgramName("image_newline"), "image_newline");
  assert.equal(llavaProgramName("model.image_newline"), "image_newline");
  assert.equal(llavaProgramName("lm_head.bias.extra"), undefined);
  // Rows 0 and 1 show image 1 and image 0; row 2 (a pair's rejected answer) shows image 1 again; row 3 is text.
  const rows = [
    [1, 9, 9, 2],
    [9, 9, 3, 0],
    [9, 9, 4, 0],
    [5, 6, 7, 8],
  ];
  const slot = (k: number) => [2 * k, 2 * k + 1];
  assert.deepEqual(Array.from(imageIndex(rows, 9, [slot(1), slot(0), slot(1), null], 4), Number), [4, 2, 3, 4, 0, 1, 4, 4, 2, 3, 4, 4, 4, 4, 4, 4]);
  // An image token past the image's features (one the model generated, in a continued row) is text.
  assert.deepEqual(Array.from(imageIndex([[9, 9, 9]], 9, [slot(0)], 2), Number), [0, 1, 2]);
  assert.throws(() => imageIndex([[9, 1, 1]], 9, [slot(0)], 2), /row 0 has 1 image tokens for an image of 2 features/);
  assert.throws(() => imageIndex([[9, 9, 1]], 9, [null], 2), /row 0 has image tokens but no image/);
});

/** Python that makes a tiny random CLIP LLaVA `m` (weights N(0, 0.15²), vectors N(0, 0.3²)) and saves it to `out`. */
const tinyClipLlava = (o: { seed: number; image: number; patch: number; text: "Qwen2Config" | "LlamaConfig" }) => `torch.manual_seed(${o.seed})
vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=${o.image}, patch_size=${o.patch})
text = ${o.text}(vocab_size=400, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
m = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text, image_token_index=390)).eval()
for p in m.parameters():
    torch.nn.init.normal_(p, 0.0, 0.3 if p.dim() == 1 else 0.15)
m.save_pretrained(out)`;

const GENERATE = `
import json, sys, torch
from transformers import LlavaConfig, LlavaForConditionalGeneration, CLIPVisionConfig, Qwen2Config
from transformers.image_utils import load_image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
out, images, rows = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
${tinyClipLlava({ seed: 7, image: 30, patch: 6, text: "Qwen2Config" })}
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
      image_index: { dtype: "int64", shape: [2 * width], data: slotImageIndex(config.config, padded, [0, 1], [ONE_TILE, ONE_TILE]) },
      // Every prompt token visible (BDHS would hide image tokens here).
      prompt_keep: { dtype: "float32", shape: [2, width], data: new Float32Array(2 * width).fill(1) },
    });
    const tokens = Array.from(got.tokens!.data as BigInt64Array, Number);
    assert.deepEqual([tokens.slice(0, steps), tokens.slice(steps)], want);
  } finally {
    await rt.release();
  }
});

const DPO = `
import json, sys, torch
from safetensors.torch import save_file
from transformers import LlavaConfig, LlavaForConditionalGeneration, CLIPVisionConfig, LlamaConfig
from peft import LoraConfig, get_peft_model
out, case = sys.argv[1], json.loads(sys.argv[2])
${tinyClipLlava({ seed: 11, image: 24, patch: 8, text: "LlamaConfig" })}
# LoRA on the language model's q/v (not the tower's), B initialised too so every gradient is non-zero; the projector trained fully.
p = get_peft_model(m, LoraConfig(r=4, lora_alpha=8, target_modules=r".*language_model.*\\.(q_proj|v_proj)", lora_dropout=0.0, init_lora_weights=False))
for q in p.base_model.model.model.multi_modal_projector.parameters():
    q.requires_grad_(True)
name = lambda n: n.replace(".default", "").replace("model.language_model.", "model.").replace("base_model.model.multi_modal_projector.", "multi_modal_projector.").replace("base_model.model.model.multi_modal_projector.", "multi_modal_projector.")
trainable = {name(n): t for n, t in p.named_parameters() if t.requires_grad}
save_file({n: t.detach().contiguous() for n, t in trainable.items()}, out + "/trainable.safetensors")
pv = torch.randn(1, 3, 24, 24)
prompt, chosen, rejected = case["prompt"], case["chosen"], case["rejected"]
def logp(answer):
    ids = torch.tensor([prompt + answer])
    logits = p(input_ids=ids, pixel_values=pv).logits[0, len(prompt) - 1 : -1].float()
    return torch.gather(logits.log_softmax(-1), 1, torch.tensor(answer)[:, None]).sum()
lc, lr = logp(chosen), logp(rejected)
loss = -torch.nn.functional.logsigmoid(case["beta"] * ((lc - case["ref_chosen"]) - (lr - case["ref_rejected"])))
loss.backward()
grads = {"grad/" + n: t.grad.contiguous() for n, t in trainable.items()}
save_file({**grads, "pixel_values": pv, "loss": loss.detach().reshape(1), "logps": torch.stack([lc, lr]).detach()}, out + "/dpo.safetensors")
`;

test("a LLaVA DPO loss with the image, LoRA on the language model and the projector trained fully: loss and every gradient equal PEFT's", {
  skip,
}, async () => {
  const out = path.join(dir, "dpo");
  const img = 390;
  const pair = { prompt: [5, 17, ...Array<number>(9).fill(img), 33], chosen: [40, 41, 42], rejected: [50, 51], beta: 0.1, ref_chosen: -20, ref_rejected: -15 };
  const r = spawnSync(python, ["-c", DPO, out, JSON.stringify(pair)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const config = normaliseLlavaConfig(parseStrictJson(readFileSync(path.join(out, "config.json"), "utf8")) as never, "config.json");
  assert.ok(config.ok);
  const c = config.config;
  const shape = decoderShapeOf(c.text);
  const trainable = loadSafetensors(path.join(out, "trainable.safetensors")).tensors;
  const want = loadSafetensors(path.join(out, "dpo.safetensors")).tensors;
  const frozen = new Map(
    [...loadSafetensors(path.join(out, "model.safetensors")).tensors].flatMap(([name, t]) => {
      const n = llavaProgramName(name);
      return n && !trainable.has(n) ? [[n, t] as const] : [];
    }),
  );
  const lora: HfLora = { targets: ["q_proj", "v_proj"], rank: 4, alpha: 8 };
  const specs = adapterSpecs(shape, lora);
  assert.deepEqual(
    specs.flatMap((a) => [a.a, a.b]).sort(),
    [...trainable.keys()].filter((n) => n.includes("lora_")).sort(),
    "adapter names (PEFT's, language model module paths as alignc writes them)",
  );
  const rows = [
    { promptIds: pair.prompt, answerIds: pair.chosen },
    { promptIds: pair.prompt, answerIds: pair.rejected },
  ];
  const length = pair.prompt.length + 3;
  const scored = 3;
  const f32 = (v: number) => ({ dtype: "float32" as const, shape: [1], data: Float32Array.of(v) });
  const seq = sequenceFeeds(shape, rows, 2, length, scored, 0);
  const ids = Array.from({ length: 2 }, (_, row) => Array.from((seq.input_ids!.data as BigInt64Array).subarray(row * length, (row + 1) * length), Number));
  const feeds = {
    ...seq,
    ref_chosen: f32(pair.ref_chosen),
    ref_rejected: f32(pair.ref_rejected),
    weight: f32(1),
    pixel_values: want.get("pixel_values") as TensorData,
    // Both rows (chosen, rejected) show image 0: its features are computed once.
    image_index: { dtype: "int64" as const, shape: [2 * length], data: slotImageIndex(c, ids, [0, 0], [ONE_TILE]) },
  };
  const batch = { ...hfDpoBatch(shape, 1, length, scored), ...llavaBatchImages(c, 2, length, 1) };
  const objective = { loss: "sigmoid" as const, beta: pair.beta, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 };
  const got = await lossAndGrads(trainable, frozen, batch, hfDpoLoss(shape, objective, { lora, adapters: specs, images: llavaLossImages(c) }), feeds);
  const { worstGrad: worst } = dpoAgainstPeft(got, want, trainable.keys());
  assert.ok(worst <= 1e-5, `gradients (LoRA and projector): max |alignc − peft| ${worst}`);
  assert.ok(
    [...trainable.keys()].some((n) => n.startsWith("multi_modal_projector.")),
    "the projector is among the trained tensors",
  );
});
