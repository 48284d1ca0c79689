// The Hugging Face text decoder (src/models/hf/): its ONNX programs on ONNX Runtime against a float64 reference of
// the same math (test/support/hf-reference.ts) on tiny random models — GQA, llama3 RoPE, q/k/v biases, a tied head
// each covered — and against transformers' own logits and log-probs for the checkpoints of test/fixtures/hf/.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { decodeSafetensors, encodeSafetensors, loadSafetensors } from "../src/formats/safetensors.ts";
import { readHfConfig } from "../src/models/hf/config.ts";
import { buildHfLogitsProgram, buildHfLogProbProgram, type DecoderShape, decoderWeightSpecs } from "../src/models/hf/decoder.ts";
import { buildHfGenerateProgram } from "../src/models/hf/generate.ts";
import { arangePositions, positionsFromMask, ropeInvFreq, ropeTables } from "../src/models/hf/rope.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import type { Runtime } from "../src/runtime/engine/session.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import type { Builder } from "../src/tensor/ops/builder.ts";
import { Rng } from "../src/util/random.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";
import { logSoftmax, referenceLogits, shapeFromConfig } from "./support/hf-reference.ts";

// ── helpers ──

/** Random weights under their HF names: matrices N(0, 0.2²), norm weights 1 + N(0, 0.3²), biases N(0, 0.3²). */
function randomWeights(s: DecoderShape, seed: number): Map<string, TensorData> {
  const rng = new Rng(seed);
  const out = new Map<string, TensorData>();
  for (const spec of decoderWeightSpecs(s)) {
    const r = rng.fork(spec.name);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const isNorm = spec.name.endsWith("layernorm.weight") || spec.name === "model.norm.weight";
    const data = Float32Array.from({ length: n }, () => (isNorm ? 1 : 0) + r.normal() * (spec.shape.length === 1 ? 0.3 : 0.2));
    out.set(spec.name, { dtype: "float32", shape: spec.shape, data });
  }
  // Through a safetensors file's bytes, as a checkpoint's weights arrive.
  return decodeSafetensors(encodeSafetensors(out), "random weights").tensors;
}

const int64 = (rows: readonly (readonly number[])[]): TensorData => ({
  dtype: "int64",
  shape: [rows.length, rows[0]!.length],
  data: BigInt64Array.from(rows.flat().map(BigInt)),
});

async function run(rt: Runtime, b: Builder, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  return rt.run(await rt.load(serializeModel(b.root)), feeds);
}

/** Feeds of the logits program: ids, mask, and RoPE tables for `positions`. */
function feedsOf(s: DecoderShape, ids: number[][], mask: number[][], positions: number[][]): Record<string, TensorData> {
  const { cos, sin } = ropeTables(s, positions);
  return { input_ids: int64(ids), attention_mask: int64(mask), cos, sin };
}

/** max |a − b| over the real (unpadded) query positions, and max |b| there. */
function compareLogits(got: Float32Array, want: number[][][], mask: number[][]): { maxAbs: number; scale: number } {
  let maxAbs = 0;
  let scale = 0;
  const V = want[0]![0]!.length;
  for (const [b, rows] of want.entries())
    for (const [t, row] of rows.entries()) {
      if (mask[b]![t] === 0) continue;
      for (const [v, w] of row.entries()) {
        maxAbs = Math.max(maxAbs, Math.abs(got[(b * rows.length + t) * V + v]! - w));
        scale = Math.max(scale, Math.abs(w));
      }
    }
  return { maxAbs, scale };
}

// ── tiny random decoders against the float64 reference ──

const base = { vocab: 61, hidden: 48, intermediate: 80, layers: 2, rmsEps: 1e-5 };
const CASES: { name: string; shape: DecoderShape }[] = [
  {
    name: "Llama: GQA (6 query heads on 2 KV heads), llama3 RoPE in all three regimes, untied head",
    shape: {
      ...base,
      heads: 6,
      kvHeads: 2,
      headDim: 8,
      rope: { theta: 500000, scaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 } },
      tiedEmbeddings: false,
      qkvBias: false,
    },
  },
  {
    name: "Qwen2: q/k/v biases, tied head, one KV head (MQA), default RoPE",
    shape: {
      ...base,
      heads: 4,
      kvHeads: 1,
      headDim: 12,
      rmsEps: 1e-6,
      rope: { theta: 1e6, scaling: { type: "default" } },
      tiedEmbeddings: true,
      qkvBias: true,
    },
  },
  {
    name: "Llama with attention_bias and mlp_bias: a bias on every projection, o_proj and the MLP's included",
    shape: {
      ...base,
      heads: 6,
      kvHeads: 3,
      headDim: 8,
      rope: { theta: 10000, scaling: { type: "default" } },
      tiedEmbeddings: false,
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
    },
  },
  {
    name: "Mistral: head_dim 16 ≠ hidden/heads, no GQA, linear RoPE scaling",
    shape: {
      ...base,
      heads: 4,
      kvHeads: 4,
      headDim: 16,
      rope: { theta: 10000, scaling: { type: "linear", factor: 2 } },
      tiedEmbeddings: false,
      qkvBias: false,
    },
  },
  {
    name: "Mistral with a sliding window of 3 on every layer (a query sees itself and the 2 keys before it)",
    shape: {
      ...base,
      heads: 4,
      kvHeads: 2,
      headDim: 12,
      rope: { theta: 10000, scaling: { type: "default" } },
      tiedEmbeddings: false,
      qkvBias: false,
      slidingWindow: 3,
    },
  },
  {
    name: "Qwen2 with use_sliding_window: a window of 4 on layer 1 only (max_window_layers 1), full attention on layer 0",
    shape: {
      ...base,
      heads: 4,
      kvHeads: 2,
      headDim: 12,
      rope: { theta: 1e6, scaling: { type: "default" } },
      tiedEmbeddings: true,
      qkvBias: true,
      slidingWindow: 4,
      slidingLayers: [1],
    },
  },
];

test("greedy generation through the KV cache with sliding windows equals the float64 reference's argmax, token for token", async () => {
  for (const { name, shape } of CASES.filter((c) => c.shape.slidingWindow != null)) {
    const w = randomWeights(shape, 5);
    const prompts = [
      [5, 17, 3, 44, 60],
      [12, 7],
    ];
    const steps = 9; // 5 + 9 positions: the window matters in the prefill and in every step after it
    const width = 5;
    const total = width + steps;
    const rt = testRuntime();
    try {
      const b = buildHfGenerateProgram(shape, w, { batch: 2, promptLength: width, steps, temperature: 0, seed: 0, stopTokens: [], pad: 0 });
      const { cos, sin } = ropeTables(shape, arangePositions(1, total));
      const out = await run(rt, b, {
        prompt: int64(prompts.map((p) => [...p, ...Array<number>(width - p.length).fill(0)])),
        prompt_length: { dtype: "int64", shape: [2], data: BigInt64Array.from(prompts.map((p) => BigInt(p.length))) },
        rope_cos: { ...cos, shape: [total, shape.headDim] },
        rope_sin: { ...sin, shape: [total, shape.headDim] },
      });
      const tokens = Array.from(out.tokens!.data as BigInt64Array, Number);
      prompts.forEach((prompt, r) => {
        const seq = [...prompt];
        for (let i = 0; i < steps; i++) {
          const logits = referenceLogits(shape, w, [seq], [seq.map(() => 1)], arangePositions(1, seq.length))
            .at(0)!
            .at(-1)!;
          seq.push(logits.indexOf(Math.max(...logits)));
        }
        assert.deepEqual(tokens.slice(r * steps, (r + 1) * steps), seq.slice(prompt.length), `${name}, row ${r}`);
      });
    } finally {
      await rt.release();
    }
  }
});

test("config.json's sliding windows: Mistral on every layer, Qwen2 from max_window_layers or by layer_types, only with use_sliding_window", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "alignc-hf-window-"));
  try {
    const read = (fixture: string, change: Record<string, unknown>) => {
      const json = { ...JSON.parse(readFileSync(path.join(FIXTURES, fixture, "config.json"), "utf8")), ...change };
      writeFileSync(path.join(dir, "config.json"), JSON.stringify(json));
      return readHfConfig(dir);
    };
    const windows = (r: ReturnType<typeof readHfConfig>) => (r.ok ? [r.config.slidingWindow, r.config.slidingLayers] : r.problem);
    assert.deepEqual(windows(read("mistral", { sliding_window: 5 })), [5, [0, 1]]);
    assert.deepEqual(windows(read("mistral", { sliding_window: null })), [null, []]);
    assert.deepEqual(windows(read("qwen2-tied-v4", { use_sliding_window: true, sliding_window: 4, max_window_layers: 1 })), [4, [1]]);
    assert.deepEqual(windows(read("qwen2-tied-v4", { use_sliding_window: false, sliding_window: 4, max_window_layers: 0 })), [null, []]);
    assert.deepEqual(windows(read("qwen2-tied-v5", { use_sliding_window: true, sliding_window: 4, layer_types: ["sliding_attention", "full_attention"] })), [
      4,
      [0],
    ]);
    const bad = read("qwen2-tied-v5", { use_sliding_window: true, sliding_window: 4, layer_types: ["sliding_attention"] });
    assert.ok(!bad.ok && bad.problem.kind === "invalid-value" && bad.problem.key === "layer_types", JSON.stringify(bad));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Row 1 is left-padded by 3, with generate's positions (cumsum of the mask − 1).
const B = 2;
const T = 9;
const ids = [
  [5, 17, 3, 44, 60, 0, 21, 9, 33],
  [1, 1, 1, 12, 7, 58, 30, 2, 49],
];
const mask = [Array<number>(T).fill(1), [0, 0, 0, 1, 1, 1, 1, 1, 1]];
const positions = positionsFromMask(mask);

for (const { name, shape } of CASES) {
  test(`logits and log-probs match the float64 reference to 1e-5 of the largest logit — ${name}`, async (t) => {
    const w = randomWeights(shape, 7);
    const rt = testRuntime();
    try {
      const feeds = feedsOf(shape, ids, mask, positions);
      const got = (await run(rt, buildHfLogitsProgram(shape, w, { batch: B, length: T }), feeds)).logits!;
      assert.deepEqual(got.shape, [B, T, shape.vocab]);
      const want = referenceLogits(shape, w, ids, mask, positions);
      const { maxAbs, scale } = compareLogits(got.data as Float32Array, want, mask);
      assert.ok(scale > 1, `the logits should not be trivially small (max ${scale})`);
      assert.ok(maxAbs <= 1e-5 * scale, `logits: max |onnx − float64| = ${maxAbs.toExponential(2)}, largest logit ${scale.toFixed(3)}`);
      t.diagnostic(`logits: max abs difference ${maxAbs.toExponential(2)}, largest logit ${scale.toFixed(3)}`);

      // Log-probs at chosen positions, gathered before the head; labels are the next tokens.
      const scoredAt = [
        [0, 3, 6, 7],
        [3, 5, 6, 7],
      ];
      const labels = scoredAt.map((row, b) => row.map((p) => ids[b]![p + 1]!));
      const lp = await run(rt, buildHfLogProbProgram(shape, w, { batch: B, length: T, scored: 4 }), {
        ...feeds,
        positions: int64(scoredAt),
        labels: int64(labels),
      });
      const tokenLogp = lp.token_logprobs!;
      const lpData = tokenLogp.data as Float32Array;
      assert.deepEqual(tokenLogp.shape, [B, 4]);
      let worst = 0;
      let lpScale = 0;
      for (const [b, row] of scoredAt.entries())
        for (const [k, p] of row.entries()) {
          const ref = logSoftmax(want[b]![p]!)[labels[b]![k]!]!;
          worst = Math.max(worst, Math.abs(lpData[b * 4 + k]! - ref));
          lpScale = Math.max(lpScale, Math.abs(ref));
        }
      assert.ok(worst <= 1e-5 * lpScale, `log-probs: max |onnx − float64| = ${worst.toExponential(2)}, largest ${lpScale.toFixed(3)}`);
      t.diagnostic(`log-probs: max abs difference ${worst.toExponential(2)}, largest ${lpScale.toFixed(3)}`);
    } finally {
      await rt.release();
    }
  });
}

test("a left-padded row with generate's positions gives the logits of the same tokens unpadded", async () => {
  const shape = CASES[0]!.shape;
  const w = randomWeights(shape, 11);
  const rt = testRuntime();
  try {
    const padded = (await run(rt, buildHfLogitsProgram(shape, w, { batch: B, length: T }), feedsOf(shape, ids, mask, positions))).logits!.data as Float32Array;
    const row = [ids[1]!.slice(3)];
    const alone = (
      await run(rt, buildHfLogitsProgram(shape, w, { batch: 1, length: T - 3 }), feedsOf(shape, row, [Array(T - 3).fill(1)], arangePositions(1, T - 3)))
    ).logits!.data as Float32Array;
    const V = shape.vocab;
    let worst = 0;
    for (let t = 0; t < T - 3; t++) for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(padded[(T + 3 + t) * V + v]! - alone[t * V + v]!));
    assert.ok(worst < 1e-5, `padded vs unpadded: max difference ${worst}`);
  } finally {
    await rt.release();
  }
});

test("ropeInvFreq equals transformers' inv_freq (default, linear, llama3), recorded from transformers 5.18 in float32", () => {
  const hd = 16;
  // ROPE_INIT_FUNCTIONS[...](LlamaConfig(head_dim=16, rope_parameters=…))[0].tolist(): exact float32 values.
  const llama3 = [
    1.0, 0.07940301299095154, 0.004700753837823868, 0.0009115831344388425, 0.00017677668074611574, 3.428102354519069e-5, 6.647869668086059e-6,
    1.289173155782919e-6,
  ];
  const linear = [
    0.4000000059604645, 0.12649109959602356, 0.03999999910593033, 0.012649111449718475, 0.003999999724328518, 0.0012649111449718475, 0.0004000000189989805,
    0.0001264911115868017,
  ];
  const plain = [
    1.0, 0.17782793939113617, 0.03162277862429619, 0.005623413249850273, 0.0010000000474974513, 0.00017782794020604342, 3.162277425872162e-5,
    5.62341347176698e-6,
  ];
  // θ 500000 with an original context of 64: wavelengths 6.3 (kept), 32.4 (interpolated), ≥ 167 (divided by 8).
  assert.deepEqual(
    [
      ...ropeInvFreq({
        headDim: hd,
        rope: { theta: 500000, scaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } },
      }),
    ],
    llama3,
  );
  assert.deepEqual([...ropeInvFreq({ headDim: hd, rope: { theta: 10000, scaling: { type: "linear", factor: 2.5 } } })], linear);
  assert.deepEqual([...ropeInvFreq({ headDim: hd, rope: { theta: 1e6, scaling: { type: "default" } } })], plain);
  // Tables: [cos(angle), cos(angle)] halves, float32.
  const { cos, sin } = ropeTables({ headDim: hd, rope: { theta: 1e6, scaling: { type: "default" } } }, [[0, 3]]);
  assert.deepEqual(cos.shape, [1, 2, hd]);
  assert.deepEqual([...cos.data.slice(0, hd)], Array(hd).fill(1));
  assert.equal(cos.data[hd + 1], Math.fround(Math.cos(Math.fround(3 * plain[1]!))));
  assert.equal(sin.data[hd + 8 + 1], Math.fround(Math.sin(Math.fround(3 * plain[1]!))));
});

// ── transformers' own numbers for the checkpoints of test/fixtures/hf/ (scripts/make-hf-fixtures.py) ──

const FIXTURES = path.join(repoRoot, "test", "fixtures", "hf");
const GOLDEN = path.join(FIXTURES, "golden");
const goldenFiles = existsSync(GOLDEN) ? readdirSync(GOLDEN).filter((f) => f.endsWith(".json")) : [];

/** Every tensor of a checkpoint folder: model.safetensors, or the shards of model.safetensors.index.json. */
function loadCheckpoint(dir: string): Map<string, TensorData> {
  const index = path.join(dir, "model.safetensors.index.json");
  if (!existsSync(index)) return loadSafetensors(path.join(dir, "model.safetensors")).tensors;
  const map = JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> };
  const out = new Map<string, TensorData>();
  for (const shard of new Set(Object.values(map.weight_map))) for (const [k, v] of loadSafetensors(path.join(dir, shard)).tensors) out.set(k, v);
  return out;
}

interface Golden {
  applies_to: string[];
  logits: { input_ids: number[][]; attention_mask?: number[][] | string; shape: number[]; values: number[] };
  logprobs?: { prompt_ids: number[]; completion_ids: number[]; per_token: number[] };
}

if (goldenFiles.length === 0) {
  test("golden logits of transformers", (t) => {
    t.skip(`no golden files: ${path.relative(repoRoot, GOLDEN)}/*.json is missing (scripts/make-hf-fixtures.py writes them)`);
  });
}

for (const file of goldenFiles) {
  const golden = JSON.parse(readFileSync(path.join(GOLDEN, file), "utf8")) as Golden;
  for (const dir of golden.applies_to) {
    test(`transformers' logits and completion log-probs to 1e-4 — ${path.basename(dir)} (golden/${file})`, async (t) => {
      const abs = path.join(repoRoot, dir);
      if (!existsSync(path.join(abs, "config.json"))) return t.skip(`missing ${path.join(dir, "config.json")}`);
      const config = JSON.parse(readFileSync(path.join(abs, "config.json"), "utf8")) as Record<string, unknown>;
      if (!["llama", "qwen2", "mistral"].includes(String(config.model_type)))
        return t.skip(`model_type ${config.model_type} is not a text decoder of this slice`);
      const shape = shapeFromConfig(config);
      // config.ts's normalised config gives the same shape as the test's minimal reader.
      const normalised = readHfConfig(abs);
      assert.ok(normalised.ok, `config.ts refused ${dir}/config.json`);
      assert.deepEqual(decoderShapeOf(normalised.config), shape);
      const w = loadCheckpoint(abs);
      const rt = testRuntime();
      try {
        const { input_ids, shape: dims, values } = golden.logits;
        const [b, len] = [input_ids.length, input_ids[0]!.length];
        // The mask is a matrix, or the words "all ones".
        const given = golden.logits.attention_mask;
        const m = Array.isArray(given) ? given : input_ids.map((r) => r.map(() => 1));
        // The golden was made with positions arange(T) (what a forward without position_ids uses).
        const got = (await run(rt, buildHfLogitsProgram(shape, w, { batch: b, length: len }), feedsOf(shape, input_ids, m, arangePositions(b, len)))).logits!;
        assert.deepEqual(got.shape, dims);
        let worst = 0;
        const gotData = got.data as Float32Array;
        for (const [i, v] of values.entries()) worst = Math.max(worst, Math.abs(gotData[i]! - v));
        assert.ok(worst <= 1e-4, `logits: max |alignc − transformers| = ${worst.toExponential(2)}`);
        t.diagnostic(`logits max abs difference ${worst.toExponential(2)}`);

        if (golden.logprobs) {
          const { prompt_ids, completion_ids, per_token } = golden.logprobs;
          const seq = [...prompt_ids, ...completion_ids];
          const n = completion_ids.length;
          const at = [completion_ids.map((_, i) => prompt_ids.length - 1 + i)];
          const lp = await run(rt, buildHfLogProbProgram(shape, w, { batch: 1, length: seq.length, scored: n }), {
            ...feedsOf(shape, [seq], [seq.map(() => 1)], arangePositions(1, seq.length)),
            positions: int64(at),
            labels: int64([completion_ids]),
          });
          let lpWorst = 0;
          const lpData = lp.token_logprobs!.data as Float32Array;
          for (const [i, v] of per_token.entries()) lpWorst = Math.max(lpWorst, Math.abs(lpData[i]! - v));
          assert.ok(lpWorst <= 1e-4, `log-probs: max |alignc − transformers| = ${lpWorst.toExponential(2)}`);
          t.diagnostic(`log-probs max abs difference ${lpWorst.toExponential(2)}`);
        }
      } finally {
        await rt.release();
      }
    });
  }
}
