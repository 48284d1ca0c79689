// Amirloo et al.'s recipe at the paper's scale (experiments/amirloo2024/llava16.align): LLaVA-1.6-7B (LLaVA-NeXT)
// with offline BDHS (cosine of a sentence encoder), offline DPO, online DPO annotated by a vision-language judge,
// mixed DPO and online BDHS. It checks and plans from llava-v1.6-vicuna-7b-hf's JSON files alone (config.json with
// image_grid_pinpoints, a LlavaNextImageProcessor, a weight index without its shards: ALN3032), and `plan` states each
// training phase's parameters (7.06B: Vicuna-7B with a 32,064-token vocabulary, CLIP ViT-L/14-336's 303.5M, the
// projector's 21.0M and image_newline) with an estimate on an H100. As written it runs end to end on the tiny random
// LLaVA-NeXT: every node, BDHS accepting rewrites, every online round.
import assert from "node:assert/strict";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { llavaNextPinpoints } from "../src/models/hf/llava-config.ts";
import { repoRoot, runAlignc } from "./support/align-files.ts";
import { CLIP_L_336 } from "./support/hf-configs.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-amirloo-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// llava-hf/llava-v1.6-vicuna-7b-hf's config (the values that size it).
const CONFIG = {
  architectures: ["LlavaNextForConditionalGeneration"],
  model_type: "llava_next",
  image_token_index: 32000,
  image_grid_pinpoints: llavaNextPinpoints(),
  projector_hidden_act: "gelu",
  vision_feature_layer: -2,
  vision_feature_select_strategy: "default",
  torch_dtype: "float16",
  text_config: {
    model_type: "llama",
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    vocab_size: 32064,
  },
  vision_config: CLIP_L_336,
};

const alignc = runAlignc;

/** The recipe with its data and the fixtures it points at, copied into the test's folder. */
function recipe(): string {
  cpSync(path.join(repoRoot, "experiments/amirloo2024/llava16.align"), path.join(dir, "experiments/amirloo2024/llava16.align"));
  cpSync(path.join(repoRoot, "experiments/amirloo2024/data"), path.join(dir, "experiments/amirloo2024/data"), { recursive: true });
  for (const fixture of ["hf-vision/llava-next-mistral-v4", "hf-encoder/mpnet"])
    cpSync(path.join(repoRoot, "test/fixtures", fixture), path.join(dir, "test/fixtures", fixture), { recursive: true });
  return path.join(dir, "experiments/amirloo2024/llava16.align");
}

test("experiments/amirloo2024/llava16.align checks and plans at LLaVA-1.6-7B's scale from the checkpoint's JSON files alone", () => {
  const file = recipe();
  const ckpt = path.join(dir, "llava-v1.6-vicuna-7b-hf");
  mkdirSync(ckpt);
  writeFileSync(path.join(ckpt, "config.json"), JSON.stringify(CONFIG));
  writeFileSync(
    path.join(ckpt, "preprocessor_config.json"),
    JSON.stringify({
      image_processor_type: "LlavaNextImageProcessor",
      size: { shortest_edge: 336 },
      crop_size: { height: 336, width: 336 },
      do_center_crop: true,
      image_grid_pinpoints: CONFIG.image_grid_pinpoints,
    }),
  );
  writeFileSync(
    path.join(ckpt, "model.safetensors.index.json"),
    JSON.stringify({
      weight_map: {
        "language_model.model.embed_tokens.weight": "model-00001-of-00004.safetensors",
        "language_model.lm_head.weight": "model-00004-of-00004.safetensors",
      },
    }),
  );
  copyFileSync(path.join(repoRoot, "test/fixtures/hf-vision/llava-next-mistral-v4/tokenizer.json"), path.join(ckpt, "tokenizer.json"));
  const paper = [
    "--set",
    `checkpoint=${ckpt}`,
    "--set",
    `annotator_checkpoint=${ckpt}`,
    "--set",
    "max_tokens=256",
    "--set",
    "batch=16",
    "--set",
    "precision=bf16",
  ];
  const check = alignc(["check", file, ...paper], dir);
  assert.equal(check.status, 0, check.stderr + check.stdout);
  assert.match(check.stdout + check.stderr, /info\[ALN3032\]: Hugging Face checkpoint '.*llava-v1\.6-vicuna-7b-hf' holds its weight index but not the shards/);
  const plan = alignc(["plan", file, "--run-dir", path.join(dir, "plan-run"), ...paper], dir);
  assert.equal(plan.status, 0, plan.stderr);
  // Every training phase: the offline DPO, online DPO, mixed DPO and online BDHS.
  const sizes = plan.stdout.match(
    /LlavaNextForConditionalGeneration: 7\.06B parameters \(language model 6\.74B, vision tower 304M, projector 21\.0M\); trains 341M \(LoRA r 128 on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj and the projector\)/g,
  );
  assert.equal(sizes?.length, 4, plan.stdout);
  assert.match(plan.stdout, /estimate, not a measurement \(docs\/hf-models\.md\): peak GPU memory ≈ [\d.]+ GiB, ≈ [\d.]+ s per optimizer step on H100 80GB/);
});

test("experiments/amirloo2024/llava16.align runs end to end on the tiny LLaVA-NeXT: BDHS with a sentence encoder, DPO, online and mixed DPO, online BDHS, answers", () => {
  const file = recipe();
  const run = path.join(dir, "run");
  const r = alignc(["run", file, "--run-dir", run], dir);
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  const nodes = [
    "sft",
    "sentence.model",
    "sentence",
    "bdhs_pairs",
    "dpo_bdhs",
    "annotator",
    "online_dpo",
    "mixed_dpo",
    "online_bdhs",
    "answers_online_bdhs",
    "out_mixed",
  ];
  for (const node of nodes) assert.match(out, new RegExp(`✓ ${node} in`), node);
  assert.match(out, /bdhs_pairs: bdhs 6\/6 items .* 6 pairs/);
  assert.match(out, /online_bdhs: online DPO 2\/2 rounds/);
  const answers = readFileSync(path.join(run, "answers-online-bdhs.jsonl"), "utf8").trim().split("\n");
  assert.equal(answers.length, 6);
});
