// The Hugging Face checkpoint loader (src/models/hf/): config.json in both layouts with transformers' defaults, the
// problems it reports, the weights found from headers alone (single file and sharded index), tensor names of every
// naming generation mapped to one decoder naming, and the tensors a config implies (tied head absent).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compileSync } from "../src/compiler/compile.ts";
import { valueJson } from "../src/compiler/values/types.ts";
import { encodeSafetensors, readSafetensorsHeader, SafetensorsError } from "../src/formats/safetensors.ts";
import { HF_LORA_TARGETS, HF_DTYPES as VOCAB_DTYPES } from "../src/graph/vocabulary.ts";
import { HF_DTYPES, HF_LORA_MODULES, type HfDecoderConfig, hfLoraModules, normaliseHfConfig, readHfConfig } from "../src/models/hf/config.ts";
import { canonicalDecoderName, checkHfTensors, expectedDecoderTensors, findHfWeights, readHfTensorIndex } from "../src/models/hf/weights.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";

const root = mkdtempSync(path.join(tmpdir(), "alignc-hf-config-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** A small Llama config in the hub (transformers 4) layout. */
const LLAMA_V4 = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: 16,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  hidden_act: "silu",
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  max_position_embeddings: 128,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: [2, 3],
  torch_dtype: "bfloat16",
};

function normalise(json: Record<string, unknown>) {
  return normaliseHfConfig(json as never, "config.json");
}

function ok(json: Record<string, unknown>): HfDecoderConfig {
  const r = normalise(json);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problem));
  return r.config;
}

function zeros(shape: number[]): TensorData {
  return { dtype: "float32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

/** A checkpoint directory: config.json, tokenizer.json and the tensors (named by `rename`) in one file or shards. */
function checkpoint(config: Record<string, unknown>, opts: { rename?: (canonical: string) => string; shards?: number; drop?: string[] } = {}): string {
  const dir = path.join(root, `ck${dirs++}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  writeFileSync(path.join(dir, "tokenizer.json"), "{}");
  const c = ok(config);
  const names = [...expectedDecoderTensors(c)].filter(([n]) => !opts.drop?.includes(n));
  const rename = opts.rename ?? ((n: string) => (n === "lm_head.weight" ? n : `model.${n}`));
  const shards = opts.shards ?? 1;
  if (shards === 1) {
    writeFileSync(path.join(dir, "model.safetensors"), encodeSafetensors(Object.fromEntries(names.map(([n, s]) => [rename(n), zeros(s)]))));
    return dir;
  }
  const weightMap: Record<string, string> = {};
  for (let k = 0; k < shards; k++) {
    const file = `model-0000${k + 1}-of-0000${shards}.safetensors`;
    const mine = names.filter((_, i) => i % shards === k);
    for (const [n] of mine) weightMap[rename(n)] = file;
    writeFileSync(path.join(dir, file), encodeSafetensors(Object.fromEntries(mine.map(([n, s]) => [rename(n), zeros(s)]))));
  }
  writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return dir;
}

describe("config.json layouts", () => {
  test("the hub (transformers 4) layout, with llama3 RoPE scaling", () => {
    const c = ok(LLAMA_V4);
    assert.equal(c.layout, "v4");
    assert.equal(c.architecture, "LlamaForCausalLM");
    assert.equal(c.headDim, 4);
    assert.equal(c.numKeyValueHeads, 1);
    assert.deepEqual(c.rope, {
      theta: 500000,
      scaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 },
    });
    assert.deepEqual(c.eosTokenIds, [2, 3]);
    assert.equal(c.bosTokenId, 1);
    assert.equal(c.padTokenId, null);
    assert.equal(c.dtype, "bfloat16");
    assert.equal(c.attentionBias, false);
    assert.equal(c.slidingWindow, null);
    // `type` instead of `rope_type` (older hub files).
    const old = ok({ ...LLAMA_V4, rope_scaling: { type: "linear", factor: 2 } });
    assert.deepEqual(old.rope.scaling, { type: "linear", factor: 2 });
  });

  test("the transformers 5 layout: rope_parameters and dtype", () => {
    const { rope_theta: _t, rope_scaling: _s, torch_dtype: _d, ...rest } = LLAMA_V4;
    const v5 = ok({
      ...rest,
      dtype: "float32",
      rope_parameters: { rope_type: "llama3", rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
    });
    const v4 = ok(LLAMA_V4);
    assert.equal(v5.layout, "v5");
    assert.equal(v5.dtype, "float32");
    assert.deepEqual(v5.rope, v4.rope);
    const plain = ok({ ...rest, rope_parameters: { rope_type: "default", rope_theta: 1e6 } });
    assert.deepEqual(plain.rope, { theta: 1e6, scaling: { type: "default" } });
  });

  test("defaults: no GQA, head_dim from hidden/heads, the architecture's defaults, eos as an int", () => {
    const c = ok({
      architectures: ["Qwen2ForCausalLM"],
      vocab_size: 16,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      eos_token_id: 5,
      sliding_window: 64,
    });
    assert.equal(c.modelType, "qwen2");
    assert.equal(c.numKeyValueHeads, 2);
    assert.equal(c.headDim, 4);
    assert.equal(c.rmsNormEps, 1e-6);
    assert.deepEqual(c.rope, { theta: 10000, scaling: { type: "default" } });
    assert.equal(c.partialRotaryFactor, 1);
    assert.equal(c.maxPositionEmbeddings, 32768);
    assert.equal(c.tieWordEmbeddings, false);
    // Qwen2: q/k/v bias always, o_proj none; a sliding window only with use_sliding_window.
    assert.equal(c.attentionBias, true);
    assert.equal(c.outputBias, false);
    assert.equal(c.slidingWindow, null);
    assert.deepEqual(c.eosTokenIds, [5]);
    assert.equal(c.dtype, null);
    assert.equal(
      ok({
        architectures: ["Qwen2ForCausalLM"],
        vocab_size: 16,
        hidden_size: 8,
        intermediate_size: 12,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        use_sliding_window: true,
        sliding_window: 64,
      }).slidingWindow,
      64,
    );
    const mistral = ok({ ...LLAMA_V4, architectures: ["MistralForCausalLM"], model_type: "mistral", rope_scaling: null, attention_bias: true });
    assert.equal(mistral.slidingWindow, 4096);
    assert.equal(mistral.attentionBias, false, "Mistral's projections have no bias");
    const llama = ok({ ...LLAMA_V4, attention_bias: true, mlp_bias: true, head_dim: 6 });
    assert.equal(llama.attentionBias && llama.outputBias && llama.mlpBias, true);
    assert.equal(llama.headDim, 6);
  });

  test("unsupported architectures, RoPE types and activations are typed problems naming what was found", () => {
    const arch = normalise({ ...LLAMA_V4, architectures: ["LlavaForConditionalGeneration"] });
    assert.ok(!arch.ok && arch.problem.kind === "unsupported-architecture");
    assert.equal(arch.problem.found, "LlavaForConditionalGeneration");
    assert.deepEqual(arch.problem.supported, ["LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"]);
    const none = normalise({ model_type: "llava" });
    assert.ok(!none.ok && none.problem.kind === "unsupported-architecture" && /model_type llava/.test(none.problem.found));
    const rope = normalise({ ...LLAMA_V4, rope_scaling: { type: "yarn", factor: 4 } });
    assert.ok(!rope.ok && rope.problem.kind === "unsupported-rope" && rope.problem.found === "yarn");
    const act = normalise({ ...LLAMA_V4, hidden_act: "gelu" });
    assert.ok(!act.ok && act.problem.kind === "unsupported-activation" && act.problem.found === '"gelu"');
  });

  test("invalid values name the key", () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...LLAMA_V4, vocab_size: undefined }, "vocab_size", /missing/],
      [{ ...LLAMA_V4, hidden_size: "8" }, "hidden_size", /integer/],
      [{ ...LLAMA_V4, num_key_value_heads: 3, num_attention_heads: 4 }, "num_key_value_heads", /divide/],
      [{ ...LLAMA_V4, rope_scaling: { rope_type: "llama3", factor: 8 } }, "rope_scaling.low_freq_factor", /positive number/],
      [{ ...LLAMA_V4, eos_token_id: 99 }, "eos_token_id", /outside the vocabulary/],
      [{ ...LLAMA_V4, tie_word_embeddings: "yes" }, "tie_word_embeddings", /true or false/],
    ];
    for (const [json, key, detail] of cases) {
      const r = normalise(json);
      assert.ok(!r.ok && r.problem.kind === "invalid-value", `${key}: ${JSON.stringify(r)}`);
      assert.equal(r.problem.key, key);
      assert.match(r.problem.detail, detail);
    }
  });

  test("reading the file: missing, not JSON, duplicate keys", () => {
    const dir = path.join(root, "files");
    mkdirSync(dir);
    const missing = readHfConfig(dir);
    assert.ok(!missing.ok && missing.problem.kind === "unreadable" && missing.problem.reason === "missing");
    writeFileSync(path.join(dir, "config.json"), "{ not json");
    const bad = readHfConfig(dir);
    assert.ok(!bad.ok && bad.problem.kind === "invalid-json");
    writeFileSync(path.join(dir, "config.json"), '{"vocab_size": 1, "vocab_size": 2}');
    const dup = readHfConfig(dir);
    assert.ok(!dup.ok && dup.problem.kind === "invalid-json");
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(LLAMA_V4));
    const good = readHfConfig(dir);
    assert.ok(good.ok && good.config.vocabSize === 16);
  });

  test("the vocabulary the checker and the runtime share matches the loader's", () => {
    assert.deepEqual([...HF_LORA_TARGETS], [...HF_LORA_MODULES]);
    assert.deepEqual([...VOCAB_DTYPES], [...HF_DTYPES]);
  });
});

describe("weights", () => {
  test("a single file: headers only, every tensor present with the config's shapes", () => {
    const dir = checkpoint(LLAMA_V4);
    const w = findHfWeights(dir);
    assert.ok(w.ok && w.index === null && w.files.length === 1);
    const index = readHfTensorIndex(w.files);
    assert.deepEqual(index.generations, ["decoder"]);
    assert.deepEqual(checkHfTensors(ok(LLAMA_V4), index), []);
    const q = index.tensors.get("layers.1.self_attn.q_proj.weight");
    assert.deepEqual(q?.shape, [8, 8]);
    assert.deepEqual(index.tensors.get("layers.1.self_attn.k_proj.weight")?.shape, [4, 8]);
    // The offset is where the data is in the file: 8 + header length + data_offsets[0].
    const header = readSafetensorsHeader(w.files[0] as string);
    const e = header.tensors.find((t) => t.name === "model.layers.1.self_attn.q_proj.weight");
    assert.equal(q?.offset, header.dataStart + (e?.begin ?? -1));
    assert.equal(q?.length, 8 * 8 * 4);
  });

  test("a sharded checkpoint: the shards model.safetensors.index.json lists", () => {
    const dir = checkpoint(LLAMA_V4, { shards: 3 });
    const w = findHfWeights(dir);
    assert.ok(w.ok && w.index !== null && w.files.length === 3);
    assert.deepEqual(checkHfTensors(ok(LLAMA_V4), readHfTensorIndex(w.files)), []);
    rmSync(path.join(dir, "model-00002-of-00003.safetensors"));
    const gone = findHfWeights(dir);
    assert.ok(!gone.ok && gone.problem.kind === "no-weights" && /model-00002-of-00003/.test(gone.problem.detail));
    writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.norm.weight": "../elsewhere.safetensors" } }));
    const outside = findHfWeights(dir);
    assert.ok(!outside.ok && outside.problem.kind === "bad-index");
    const empty = path.join(root, "empty");
    mkdirSync(empty);
    const none = findHfWeights(empty);
    assert.ok(!none.ok && none.problem.kind === "no-weights");
  });

  test("every naming generation maps to the canonical decoder names", () => {
    const cases: [string, string, string][] = [
      ["model.layers.0.self_attn.q_proj.weight", "layers.0.self_attn.q_proj.weight", "decoder"],
      ["lm_head.weight", "lm_head.weight", "any"],
      ["language_model.model.layers.3.mlp.down_proj.weight", "layers.3.mlp.down_proj.weight", "llava-hub"],
      ["language_model.lm_head.weight", "lm_head.weight", "llava-hub"],
      ["model.language_model.embed_tokens.weight", "embed_tokens.weight", "v5-runtime"],
      ["model.text_model.norm.weight", "norm.weight", "idefics3"],
      ["model.layers.12.self_attn.k_proj.bias", "layers.12.self_attn.k_proj.bias", "decoder"],
    ];
    for (const [name, canonical, generation] of cases) assert.deepEqual(canonicalDecoderName(name), { canonical, generation }, name);
    for (const other of [
      "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
      "multi_modal_projector.linear_1.weight",
      "model.mm_projector.0.weight",
      "visual.blocks.0.attn.qkv.weight",
      "model.language_model.layers.0.self_attn.rotary_emb.inv_freq",
      "model.layers.01.mlp.up_proj.weight",
    ])
      assert.equal(canonicalDecoderName(other), undefined, other);
    const generations: [string, string][] = [
      ["language_model.model.", "language_model.lm_head.weight"],
      ["model.language_model.", "lm_head.weight"],
      ["model.text_model.", "lm_head.weight"],
    ];
    for (const [prefix, head] of generations) {
      const dir = checkpoint(LLAMA_V4, { rename: (n) => (n === "lm_head.weight" ? head : `${prefix}${n}`) });
      const w = findHfWeights(dir);
      assert.ok(w.ok);
      const index = readHfTensorIndex(w.files);
      assert.deepEqual(checkHfTensors(ok(LLAMA_V4), index), [], prefix);
      assert.equal(index.tensors.size, expectedDecoderTensors(ok(LLAMA_V4)).size);
    }
  });

  test("a tied head is absent from the file; q/k/v biases for Qwen2; missing, misshapen and unexpected tensors", () => {
    const tied = { ...LLAMA_V4, architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: true };
    const expected = expectedDecoderTensors(ok(tied));
    assert.equal(expected.has("lm_head.weight"), false);
    assert.deepEqual(expected.get("layers.0.self_attn.q_proj.bias"), [8]);
    assert.deepEqual(expected.get("layers.0.self_attn.v_proj.bias"), [4]);
    assert.equal(expected.has("layers.0.self_attn.o_proj.bias"), false);
    const dir = checkpoint(tied);
    const w = findHfWeights(dir);
    assert.ok(w.ok);
    assert.deepEqual(checkHfTensors(ok(tied), readHfTensorIndex(w.files)), []);
    // The same weights read with a config that says untied: the head is missing.
    const untied = checkHfTensors(ok({ ...tied, tie_word_embeddings: false }), readHfTensorIndex(w.files));
    assert.deepEqual(
      untied.map((p) => [p.kind, p.canonical]),
      [["missing", "lm_head.weight"]],
    );
    // A config with another width; a Llama config (no biases) over Qwen2 weights.
    const wide = checkHfTensors(ok({ ...tied, intermediate_size: 16 }), readHfTensorIndex(w.files));
    assert.ok(wide.some((p) => p.kind === "shape" && p.canonical === "layers.0.mlp.up_proj.weight"));
    const llama = checkHfTensors(ok({ ...tied, architectures: ["LlamaForCausalLM"] }), readHfTensorIndex(w.files));
    assert.ok(llama.some((p) => p.kind === "unexpected" && p.name === "model.layers.0.self_attn.q_proj.bias"));
    const dropped = checkpoint(LLAMA_V4, { drop: ["layers.1.mlp.gate_proj.weight"] });
    const dw = findHfWeights(dropped);
    assert.ok(dw.ok);
    assert.deepEqual(
      checkHfTensors(ok(LLAMA_V4), readHfTensorIndex(dw.files)).map((p) => p.kind),
      ["missing"],
    );
  });

  test("a header that lies is refused without reading the data", () => {
    const dir = path.join(root, "lying");
    mkdirSync(dir);
    const bytes = encodeSafetensors({ "model.norm.weight": zeros([8]) });
    writeFileSync(path.join(dir, "model.safetensors"), bytes.subarray(0, bytes.length - 4));
    assert.throws(() => readHfTensorIndex([path.join(dir, "model.safetensors")]), SafetensorsError);
  });

  test("LoRA modules follow the config", () => {
    const modules = hfLoraModules(ok(LLAMA_V4));
    assert.deepEqual(
      modules.map((m) => m.name),
      [...HF_LORA_MODULES],
    );
    assert.deepEqual(
      modules.find((m) => m.name === "k_proj"),
      { name: "k_proj", in: 8, out: 4, count: 2 },
    );
    assert.deepEqual(
      modules.find((m) => m.name === "down_proj"),
      { name: "down_proj", in: 12, out: 8, count: 2 },
    );
  });
});

describe("hf(path) at check time", () => {
  test("the model's info carries its LoRA modules and positions; a left-out lora.targets becomes q_proj, v_proj", () => {
    const r = compileSync(fileURLToPath(new URL("cases/hf-models.align", import.meta.url)));
    const qwen = r.checked?.decls.get("qwen")?.info;
    assert.ok(qwen?.category === "model" && qwen.hf);
    assert.equal(qwen.hf.architecture, "Qwen2ForCausalLM");
    assert.equal(qwen.hf.maxPositions, 4096);
    assert.deepEqual(qwen.hf.modules, [...HF_LORA_MODULES]);
    const phase = r.checked?.decls.get("hf_default");
    assert.ok(phase?.info?.category === "phase" && phase.info.hf?.architecture === "Qwen2ForCausalLM");
    const lora = phase?.call?.settings.lora;
    assert.deepEqual(lora && (valueJson(lora) as { targets: string[] }).targets, ["q_proj", "v_proj"]);
    const tiny = r.checked?.decls.get("tiny_names")?.call?.settings.lora;
    assert.ok(tiny?.k === "record" && tiny.fields.targets?.k === "list");
  });
});

// Real tiny checkpoints written by transformers (scripts/make-hf-fixtures.py), when they are there.
const fixtures = fileURLToPath(new URL("fixtures/hf/", import.meta.url));
const saved = existsSync(fixtures) ? readdirSync(fixtures).filter((d) => existsSync(path.join(fixtures, d, "config.json"))) : [];
describe("checkpoints saved by transformers", { skip: saved.length === 0 ? "no test/fixtures/hf/*/config.json" : false }, () => {
  for (const name of saved) {
    test(name, () => {
      const dir = path.join(fixtures, name);
      const r = readHfConfig(dir);
      assert.ok(r.ok, JSON.stringify(!r.ok && r.problem));
      const w = findHfWeights(dir);
      assert.ok(w.ok, JSON.stringify(!w.ok && w.problem));
      const index = readHfTensorIndex(w.files);
      assert.deepEqual(checkHfTensors(r.config, index), []);
      assert.equal(r.config.layout, name.endsWith("-v5") ? "v5" : name.endsWith("-v4") ? "v4" : r.config.layout);
    });
  }
});
