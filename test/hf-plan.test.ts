// A paper-scale recipe checks and plans from a checkpoint's JSON files alone: llava-1.5-13b-hf's config.json,
// preprocessor_config.json and a weight index whose shards are not there (ALN3032, information), with a tokenizer.
// `alignc plan` states each training phase's parameters by part and what it trains — exact counts from the config
// (13.35B = Vicuna-13B with LLaVA's 32,064-token vocabulary, CLIP ViT-L/14-336's 303.5M, the projector's 31.5M).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { countText } from "../src/runtime/pipeline/runner/plan-sizes.ts";
import { repoRoot } from "./support/align-files.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-hf-plan-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// llava-hf/llava-1.5-13b-hf's config (the values that size it).
const CONFIG = {
  architectures: ["LlavaForConditionalGeneration"],
  model_type: "llava",
  image_token_index: 32000,
  projector_hidden_act: "gelu",
  vision_feature_layer: -2,
  vision_feature_select_strategy: "default",
  torch_dtype: "float16",
  text_config: {
    model_type: "llama",
    hidden_size: 5120,
    intermediate_size: 13824,
    num_hidden_layers: 40,
    num_attention_heads: 40,
    num_key_value_heads: 40,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    vocab_size: 32064,
  },
  vision_config: {
    model_type: "clip_vision_model",
    hidden_size: 1024,
    intermediate_size: 4096,
    num_hidden_layers: 24,
    num_attention_heads: 16,
    image_size: 336,
    patch_size: 14,
    projection_dim: 768,
  },
};

const ALIGN = `align 1
model llava = hf("llava-1.5-13b-hf")
dataset questions = shapes { split: train, count: 8, tasks: [describe], image_size: 48 }
rater judge = grounded { aspects: [helpfulness], scale: 0..4 }
dataset samples = sample(llava, questions) { n: 4, temperature: 1.2, max_tokens: 1024 }
dataset rated = rate(samples, judge)
dataset pairs = pair(rated) { score: helpfulness, margin: 2 }
phase dpo = dpo(llava, pairs) {
  lora: { rank: 128, alpha: 256, targets: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj], projector_lr: 2e-5 }
  optimizer: adamw { lr: 5e-5 }
  schedule: cosine { warmup: 3% }
  epochs: 3
  precision: bf16
}
phase full = sft(llava, questions) { epochs: 1, precision: bf16 }
`;

test("a LLaVA-1.5-13B recipe checks and plans from the checkpoint's JSON files: parameters and what each phase trains", () => {
  const ckpt = path.join(dir, "llava-1.5-13b-hf");
  mkdirSync(ckpt);
  writeFileSync(path.join(ckpt, "config.json"), JSON.stringify(CONFIG));
  writeFileSync(
    path.join(ckpt, "preprocessor_config.json"),
    JSON.stringify({ image_processor_type: "CLIPImageProcessor", size: { shortest_edge: 336 }, crop_size: { height: 336, width: 336 }, do_center_crop: true }),
  );
  writeFileSync(
    path.join(ckpt, "model.safetensors.index.json"),
    JSON.stringify({
      weight_map: {
        "language_model.model.embed_tokens.weight": "model-00001-of-00006.safetensors",
        "language_model.lm_head.weight": "model-00006-of-00006.safetensors",
      },
    }),
  );
  copyFileSync(path.join(repoRoot, "test/fixtures/hf-vision/llava-clip-v4/tokenizer.json"), path.join(ckpt, "tokenizer.json"));
  const file = path.join(dir, "recipe.align");
  writeFileSync(file, ALIGN);
  const alignc = (args: string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  const check = alignc(["check", file]);
  assert.equal(check.status, 0, check.stderr + check.stdout);
  assert.match(check.stdout + check.stderr, /info\[ALN3032\]: Hugging Face checkpoint 'llava-1\.5-13b-hf' holds its weight index but not the shards/);
  const plan = alignc(["plan", file, "--run-dir", path.join(dir, "run")]);
  assert.equal(plan.status, 0, plan.stderr);
  assert.match(
    plan.stdout,
    /LlavaForConditionalGeneration: 13\.4B parameters \(language model 13\.0B, vision tower 304M, projector 31\.5M\); trains 532M \(LoRA r 128 on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj and the projector\)/,
  );
  assert.match(plan.stdout, /trains 13\.0B \(every language-model weight and the projector \(the tower frozen\)\)/);
});

test("counts read as people read them", () => {
  assert.deepEqual(
    [countText(999), countText(1200), countText(31_500_000), countText(303_507_456), countText(13_351_000_000)],
    ["999", "1.20K", "31.5M", "304M", "13.4B"],
  );
});
