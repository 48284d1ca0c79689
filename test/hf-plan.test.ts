// Li et al.'s recipe at the paper's scale (experiments/li2024/llava15.align) checks and plans from a checkpoint's JSON
// files alone: llava-1.5-13b-hf's config.json, preprocessor_config.json and a weight index whose shards are not there
// (ALN3032, information), with a tokenizer. `alignc plan` states the training phase's parameters by part and what it
// trains — exact counts from the config (13.35B = Vicuna-13B with LLaVA's 32,064-token vocabulary, CLIP
// ViT-L/14-336's 303.5M, the projector's 31.5M) — and an estimate of the step's peak GPU memory and time on a named
// GPU, warning when it exceeds the GPU's memory. The same file runs end to end on the tiny LLaVA with small settings.
import assert from "node:assert/strict";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { countText } from "../src/runtime/pipeline/runner/plan-sizes.ts";
import { repoRoot, runAlignc } from "./support/align-files.ts";
import { CLIP_L_336 } from "./support/hf-configs.ts";

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
  vision_config: CLIP_L_336,
};

const alignc = runAlignc;

/** experiments/li2024/llava15.align with its data and the example judge, copied into the test's folder. */
function recipe(): string {
  cpSync(path.join(repoRoot, "experiments/li2024"), path.join(dir, "experiments/li2024"), { recursive: true });
  cpSync(path.join(repoRoot, "experiments/raters"), path.join(dir, "experiments/raters"), { recursive: true });
  cpSync(path.join(repoRoot, "test/fixtures/hf-vision/llava-clip-v4"), path.join(dir, "test/fixtures/hf-vision/llava-clip-v4"), { recursive: true });
  return path.join(dir, "experiments/li2024/llava15.align");
}

test("experiments/li2024/llava15.align checks and plans at LLaVA-1.5-13B's scale from the checkpoint's JSON files alone", () => {
  const file = recipe();
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
  const paper = ["--set", `checkpoint=${ckpt}`, "--set", "max_tokens=1024", "--set", "batch=8", "--set", "precision=bf16"];
  const check = alignc(["check", file, ...paper], dir);
  assert.equal(check.status, 0, check.stderr + check.stdout);
  assert.match(check.stdout + check.stderr, /info\[ALN3032\]: Hugging Face checkpoint '.*llava-1\.5-13b-hf' holds its weight index but not the shards/);
  const plan = alignc(["plan", file, "--run-dir", path.join(dir, "plan-run"), ...paper], dir);
  assert.equal(plan.status, 0, plan.stderr);
  assert.match(
    plan.stdout,
    /LlavaForConditionalGeneration: 13\.4B parameters \(language model 13\.0B, vision tower 304M, projector 31\.5M\); trains 532M \(LoRA r 128 on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj and the projector\)/,
  );
  // The estimate: 16 sequences of 256 prompt + 576 image + 1,024 answer tokens (max_tokens of the sampling upstream),
  // float32 attention probabilities over 1,856 keys in 40 heads of 40 layers — far past an H100 without recompute.
  assert.match(
    plan.stdout,
    /estimate, not a measurement \(docs\/hf-models\.md\): peak GPU memory ≈ \d+ GiB, ≈ [\d.]+ s per optimizer step on H100 80GB — 16 sequences of 256 prompt \+ 576 image \+ 1024 answer tokens per micro-batch/,
  );
  assert.match(plan.stdout, /warning: estimated to run out of memory on H100 80GB \(79\.6 GiB\): the step's live tensors alone ≈ \d+ GiB/);
  // One pair of short answers on an H200: the weights twice and the adapters' state under the arena's factor pass the
  // card's memory, the step's live tensors do not.
  const small = [
    "--set",
    `checkpoint=${ckpt}`,
    "--set",
    "batch=1",
    "--set",
    "precision=bf16",
    "--gpu",
    "h200",
    "--answer-tokens",
    "128",
    "--prompt-tokens",
    "64",
  ];
  const fits = alignc(["plan", file, "--run-dir", path.join(dir, "plan-run"), ...small], dir);
  assert.equal(fits.status, 0, fits.stderr);
  assert.match(
    fits.stdout,
    /peak GPU memory ≈ [\d.]+ GiB, ≈ [\d.]+ s per optimizer step on H200 141GB — 2 sequences of 64 prompt \+ 576 image \+ 128 answer tokens/,
  );
  assert.match(
    fits.stdout,
    /warning: the estimated peak exceeds H200 141GB's 140\.4 GiB; ONNX Runtime's arena then takes what is free and the step may still fit \(its live tensors ≈ [\d.]+ GiB\)/,
  );
  const bad = alignc(["plan", file, "--run-dir", path.join(dir, "plan-run"), ...paper, "--gpu", "v100"], dir);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--gpu must be one of h100, h200, a100, l40s, got 'v100'/);
});

test("experiments/li2024/llava15.align runs end to end on the tiny LLaVA (small settings): sample, judge, pair, LoRA DPO with the projector, answers", () => {
  const file = path.join(dir, "experiments/li2024/llava15.align");
  const r = alignc(["run", file, "--run-dir", path.join(dir, "run"), "--set", "margin=0", "--set", "batch=1"], dir);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const node of ["llava", "prompts", "samples", "rated", "pairs", "dpo.reference", "dpo", "answers", "out"])
    assert.match(r.stdout + r.stderr, new RegExp(`✓ ${node.replace(".", "\\.")} in`), node);
  const plan = alignc(["plan", file, "--run-dir", path.join(dir, "run"), "--set", "margin=0", "--set", "batch=1"], dir);
  assert.match(plan.stdout, /LlavaForConditionalGeneration: 113K parameters .*; trains /);
});

test("counts read as people read them", () => {
  assert.deepEqual(
    [countText(999), countText(1200), countText(31_500_000), countText(303_507_456), countText(13_351_000_000)],
    ["999", "1.20K", "31.5M", "304M", "13.4B"],
  );
});
