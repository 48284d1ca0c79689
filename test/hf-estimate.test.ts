// The estimates `alignc plan` prints (src/models/hf/sizing/estimate.ts) against what the GPU runs measured: a regression
// check of the fit, not a timing. Each measured point is a constant with its source — docs/performance.md, "Hugging
// Face decoders: a LoRA DPO step (2026-12-07)" and "LLaVA: bf16 on CUDA…", whose bench/results/hf-cuda-*.json hold
// peak_gpu_bytes and step_seconds (one H100 80GB HBM3, ONNX Runtime 1.29, LoRA r 16 on all seven modules, bf16) —
// and the configs are bench/pytorch/hf_bench.py's SHAPES (the real checkpoints' config.json values).
import assert from "node:assert/strict";
import { test } from "node:test";
import { normaliseHfConfig } from "../src/models/hf/config.ts";
import { normaliseLlavaConfig } from "../src/models/hf/llava-config.ts";
import type { HfModelConfig } from "../src/models/hf/model-config.ts";
import { estimateStep, GiB, GPUS, imageTokensPerImage, type StepShape } from "../src/models/hf/sizing/estimate.ts";
import { CLIP_L_336 } from "./support/hf-configs.ts";

const decoder = (json: Record<string, unknown>): HfModelConfig => {
  const r = normaliseHfConfig(json as never, "config.json");
  assert.ok(r.ok, JSON.stringify(r));
  return { architecture: r.config.architecture, text: r.config };
};
const llava = (json: Record<string, unknown>): HfModelConfig => {
  const r = normaliseLlavaConfig(
    json as never,
    "config.json",
    json.architectures === undefined ? "LlavaForConditionalGeneration" : (json.architectures as never[])[0]!,
  );
  assert.ok(r.ok, JSON.stringify(r));
  return { architecture: r.config.architecture, text: r.config.text, llava: r.config };
};

const common = { rms_norm_eps: 1e-5, torch_dtype: "bfloat16", hidden_act: "silu" };
const qwenJson = {
  ...common,
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 32768,
  rope_theta: 1e6,
  tie_word_embeddings: true,
};
const qwen = decoder(qwenJson);
const llama1b = decoder({
  ...common,
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  vocab_size: 128256,
  max_position_embeddings: 131072,
  rope_theta: 5e5,
  tie_word_embeddings: true,
});
const llama7b = decoder({
  ...common,
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 4096,
  rope_theta: 1e4,
  tie_word_embeddings: false,
});
// llava-hf/llava-interleave-qwen-0.5b-hf's shape: SigLIP-384/14 (729 image tokens) before Qwen2-0.5B.
const interleave = llava({
  architectures: ["LlavaForConditionalGeneration"],
  model_type: "llava",
  image_token_index: 384,
  projector_hidden_act: "gelu",
  vision_feature_layer: -1,
  vision_feature_select_strategy: "full",
  torch_dtype: "bfloat16",
  text_config: { ...qwenJson, architectures: undefined, tie_word_embeddings: false },
  vision_config: {
    model_type: "siglip_vision_model",
    hidden_size: 1152,
    intermediate_size: 4304,
    num_hidden_layers: 26,
    num_attention_heads: 16,
    image_size: 384,
    patch_size: 14,
  },
});

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
/** The bench's LoRA DPO step: B pairs of a P-token prompt and two A-token answers, r 16 on all seven modules, bf16. */
const dpo = (pairs: number, prompt: number, answer: number, k: number, recompute: boolean, images = 0): StepShape => ({
  sequences: 2 * pairs,
  accumulation: 1,
  promptTokens: prompt,
  answerTokens: answer,
  images,
  lora: { rank: 16, targets: ALL, projector: images > 0 },
  precision: "bf16",
  recompute,
  stepsPerRun: k,
  weightBytes: 2,
});

/**
 * Measured: peak_gpu_bytes (nvidia-smi's memory.used peak, ONNX Runtime's arena included) and step_seconds of
 * bench/results/<file>. `capped`: the arena grew until the GPU was full (ONNX Runtime then takes what is free), so the
 * peak is the GPU's, not the step's: the estimate is compared after the same cap.
 */
const MEASURED = [
  {
    run: "Qwen2.5-0.5B, 8 × 2 × 512, K 1",
    file: "hf-cuda-qwen2.5-0.5b.json",
    c: qwen,
    s: dpo(8, 256, 256, 1, false),
    bytes: 82879447040,
    seconds: 0.3068,
    capped: true,
  },
  {
    run: "Qwen2.5-0.5B, 8 × 2 × 512, K 4",
    file: "hf-cuda-qwen2.5-0.5b.json",
    c: qwen,
    s: dpo(8, 256, 256, 4, false),
    bytes: 82904612864,
    seconds: 0.247,
    capped: true,
  },
  {
    run: "Llama-3.2-1B, 8 × 2 × 512, K 4",
    file: "hf-cuda-llama-3.2-1b.json",
    c: llama1b,
    s: dpo(8, 256, 256, 4, false),
    bytes: 81340137472,
    seconds: 0.2905,
    capped: true,
  },
  {
    run: "Llama-2-7B, 1 × 2 × 256, K 1",
    file: "hf-cuda-llama-2-7b-b1.json",
    c: llama7b,
    s: dpo(1, 128, 128, 1, false),
    bytes: 42127589376,
    seconds: 0.5453,
    capped: false,
  },
  {
    run: "Qwen2.5-0.5B recompute, 8 × 2 × 512, K 4",
    file: "hf-cuda-qwen2.5-0.5b-recompute.json",
    c: qwen,
    s: dpo(8, 256, 256, 4, true),
    bytes: 38872809472,
    seconds: 0.3159,
    capped: false,
  },
  {
    run: "Llama-3.2-1B recompute, 8 × 2 × 512, K 4",
    file: "hf-cuda-llama-3.2-1b-recompute.json",
    c: llama1b,
    s: dpo(8, 256, 256, 4, true),
    bytes: 37801164800,
    seconds: 0.3953,
    capped: false,
  },
  {
    run: "Llama-2-7B recompute, 8 × 2 × 512, K 1",
    file: "hf-cuda-llama-2-7b-recompute.json",
    c: llama7b,
    s: dpo(8, 256, 256, 1, true),
    bytes: 62562238464,
    seconds: 1.6661,
    capped: false,
  },
  {
    run: "llava-interleave-0.5b, 4 × 2 × 921, K 1",
    file: "hf-cuda-llava-interleave-0.5b.json",
    c: interleave,
    s: dpo(4, 64, 128, 1, false, 4),
    bytes: 74308386816,
    seconds: 0.4326,
    capped: false,
  },
] as const;

const TOLERANCE = 0.35;

/** The estimate-vs-measured table (docs/hf-models.md prints it). */
function table() {
  return MEASURED.map((m) => {
    const e = estimateStep(m.c, m.s, "h100");
    const peak = e.memory.peak / GiB;
    const estimated = m.capped ? Math.min(peak, GPUS.h100.memoryGiB) : peak;
    const measured = m.bytes / GiB;
    return { ...m, e, estimated, measured, memoryRatio: estimated / measured, timeRatio: e.seconds.total / m.seconds };
  });
}

test("the estimate stays within ±35 % of every measured peak and step time (H100, docs/performance.md)", (t) => {
  const rows = table();
  for (const line of [
    "| run | estimated GiB | measured GiB | ratio | estimated s/step | measured s/step | ratio |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.run}${r.capped ? " (GPU full)" : ""} | ${r.capped && r.e.memory.peak / GiB > r.estimated ? `${r.estimated.toFixed(1)} (${(r.e.memory.peak / GiB).toFixed(1)})` : r.estimated.toFixed(1)} | ${r.measured.toFixed(1)} | ${r.memoryRatio.toFixed(2)} | ${r.e.seconds.total.toFixed(3)} | ${r.seconds.toFixed(3)} | ${r.timeRatio.toFixed(2)} |`,
    ),
  ])
    t.diagnostic(line);
  for (const r of rows) {
    assert.ok(Math.abs(r.memoryRatio - 1) <= TOLERANCE, `${r.run}: memory ${r.estimated.toFixed(1)} GiB vs ${r.measured.toFixed(1)} measured`);
    assert.ok(Math.abs(r.timeRatio - 1) <= TOLERANCE, `${r.run}: ${r.e.seconds.total.toFixed(3)} s vs ${r.seconds} measured`);
  }
});

test("the capped runs fit by the estimate's live bytes; the 7B step without recompute, which ran out of memory, does not", () => {
  for (const r of table().filter((r) => r.capped)) assert.ok(r.e.memory.live / GiB < GPUS.h100.memoryGiB, r.run);
  // hf-cuda-llama-2-7b-b8.json: BFCArena failed to allocate (docs/performance.md: "out of memory (K 1)").
  const oom = estimateStep(llama7b, dpo(8, 256, 256, 1, false), "h100");
  assert.ok(oom.memory.live / GiB > GPUS.h100.memoryGiB, `${oom.memory.live / GiB}`);
});

test("recompute lowers memory and costs time; more steps per run amortise the state copies; a faster GPU is faster", () => {
  const plain = estimateStep(llama1b, dpo(8, 256, 256, 4, false), "h100");
  const recomputed = estimateStep(llama1b, dpo(8, 256, 256, 4, true), "h100");
  assert.ok(recomputed.memory.peak < plain.memory.peak / 2);
  assert.ok(recomputed.seconds.total > plain.seconds.total);
  assert.ok(
    estimateStep(llama7b, dpo(1, 128, 128, 25, false), "h100").seconds.copies < estimateStep(llama7b, dpo(1, 128, 128, 1, false), "h100").seconds.copies,
  );
  assert.ok(estimateStep(llama7b, dpo(8, 256, 256, 1, true), "a100").seconds.total > estimateStep(llama7b, dpo(8, 256, 256, 1, true), "h100").seconds.total);
  // Accumulation repeats the micro-batch's work, not its memory.
  const twice = estimateStep(qwen, { ...dpo(8, 256, 256, 4, true), accumulation: 2 }, "h100");
  const once = estimateStep(qwen, dpo(8, 256, 256, 4, true), "h100");
  assert.equal(twice.memory.peak, once.memory.peak);
  assert.equal(twice.flops, 2 * once.flops);
});

test("image tokens: a LLaVA's features per tile; LLaVA-NeXT's worst case, its largest pinpoint", () => {
  assert.equal(imageTokensPerImage(interleave), 729);
  assert.equal(imageTokensPerImage(qwen), 0);
  const next = llava({
    architectures: ["LlavaNextForConditionalGeneration"],
    model_type: "llava_next",
    image_token_index: 32000,
    projector_hidden_act: "gelu",
    vision_feature_layer: -2,
    vision_feature_select_strategy: "default",
    // The LLaVA-NeXT default pinpoints, in tiles of 336 (rows × columns).
    image_grid_pinpoints: [
      [1, 2],
      [2, 1],
      [2, 2],
      [3, 1],
      [1, 3],
    ].map(([rows, cols]) => [336 * rows!, 336 * cols!]),
    text_config: {
      ...common,
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      vocab_size: 32064,
      max_position_embeddings: 32768,
      rope_theta: 1e6,
    },
    vision_config: CLIP_L_336,
  });
  // 576 for the whole image, then 2 × 2 tiles of 24 × 24 features with a newline after each of 48 rows.
  assert.equal(imageTokensPerImage(next), 576 + 48 * 49);
});
