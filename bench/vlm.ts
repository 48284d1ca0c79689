// `npm run bench -- vlm`: TinyVLM nano on CPU — SFT training tokens/s (K steps per Loop run) and generation
// tokens/s (one Loop run with a KV cache for a batch of prompts). Synthetic inputs: the speed does not depend on
// what the pixels and tokens mean. Prints a table, writes bench/results/vlm.json.
//
// Options: --provider cpu|cuda (cpu)  --size nano|small|base (nano)  --batch B (16)  --runs N (3)  --out FILE
import os from "node:os";
import path from "node:path";
import { imageTokens, type SizeName, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { buildGenerateProgram } from "../src/models/tinyvlm/generate.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import type { Provider } from "../src/runtime/engine/providers.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { median, repoRoot, writeResults } from "./support.ts";

const VOCAB = 256;
const SFT_LENGTH = 32;
const STEPS = 20;
const PROMPT = 16;
const NEW_TOKENS = 24;

function parse(args: string[]) {
  const o = { provider: "cpu" as Provider, size: "nano" as SizeName, batch: 16, runs: 3, out: path.join(repoRoot, "bench/results/vlm.json") };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--provider" && (value === "cpu" || value === "cuda")) o.provider = value;
    else if (flag === "--size" && (value === "nano" || value === "small" || value === "base")) o.size = value;
    else if (flag === "--batch") o.batch = Number(value);
    else if (flag === "--runs") o.runs = Number(value);
    else if (flag === "--out" && value) o.out = path.resolve(value);
    else throw new Error(`vlm: unknown or incomplete option ${flag}`);
  }
  return o;
}

function randomTensor(rng: Rng, dtype: "float32" | "int64", shape: number[], max = 1): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === "int64") return { dtype, shape, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rng.uniform() * max))) };
  return { dtype, shape, data: Float32Array.from({ length: n }, () => rng.uniform() * max) };
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const c = tinyVlmConfig(o.size, VOCAB);
  const params = initTinyVlm(c, new Rng(0));
  const runtime = new Runtime({ provider: o.provider });
  const rng = new Rng(1);

  // SFT: STEPS optimizer steps per run.
  const spec = {
    trainable: params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
    batch: sftBatch(c, o.batch, SFT_LENGTH),
    steps: STEPS,
    optimizer: adamw({ lr: 1e-3 }),
    loss: sftLoss(c),
  };
  const trainer = new Trainer(runtime, buildTrainProgram(spec), spec, new Map(params.map((p) => [p.name, p.data])));
  const staged = () => ({
    pixels: randomTensor(rng, "float32", [STEPS, o.batch, c.imageSize, c.imageSize, 3]),
    image_keep: { dtype: "float32" as const, shape: [STEPS, o.batch, imageTokens(c)], data: new Float32Array(STEPS * o.batch * imageTokens(c)).fill(1) },
    tokens: randomTensor(rng, "int64", [STEPS, o.batch, SFT_LENGTH], VOCAB),
    labels: randomTensor(rng, "int64", [STEPS, o.batch, SFT_LENGTH], VOCAB),
    loss_mask: { dtype: "float32" as const, shape: [STEPS, o.batch, SFT_LENGTH], data: new Float32Array(STEPS * o.batch * SFT_LENGTH).fill(1) },
    text_mask: { dtype: "float32" as const, shape: [STEPS, o.batch, SFT_LENGTH], data: new Float32Array(STEPS * o.batch * SFT_LENGTH).fill(1) },
  });
  await trainer.run(staged());
  const sftMs: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    const batch = staged();
    const t0 = performance.now();
    await trainer.run(batch);
    sftMs.push(performance.now() - t0);
  }
  const sftTokens = STEPS * o.batch * (SFT_LENGTH + imageTokens(c));

  // Generation: NEW_TOKENS tokens for a batch of prompts, sampled, no early stop.
  const generator = buildGenerateProgram(
    c,
    params.map((p) => ({ name: p.name, shape: p.data.shape })),
    {
      batch: o.batch,
      promptLength: PROMPT,
      steps: NEW_TOKENS,
      temperature: 1,
      topP: 0.9,
      seed: 1,
      stopTokens: [],
      pad: 0,
    },
  );
  const session = await runtime.load(serializeModel(generator.root));
  const feeds: Record<string, TensorData> = {
    pixels: randomTensor(rng, "float32", [o.batch, c.imageSize, c.imageSize, 3]),
    prompt: randomTensor(rng, "int64", [o.batch, PROMPT], VOCAB),
    prompt_length: { dtype: "int64", shape: [o.batch], data: new BigInt64Array(o.batch).fill(BigInt(PROMPT)) },
    image_keep: { dtype: "float32", shape: [o.batch, imageTokens(c)], data: new Float32Array(o.batch * imageTokens(c)).fill(1) },
  };
  for (const p of params) feeds[`param/${p.name}`] = p.data;
  await runtime.run(session, feeds);
  const genMs: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    const t0 = performance.now();
    await runtime.run(session, feeds);
    genMs.push(performance.now() - t0);
  }
  const rows = [
    { program: `SFT (${STEPS} steps/run, batch ${o.batch}, ${SFT_LENGTH} text + ${imageTokens(c)} image tokens)`, ms: median(sftMs), tokens: sftTokens },
    { program: `generation (batch ${o.batch}, prompt ${PROMPT}, ${NEW_TOKENS} new tokens, top-p 0.9)`, ms: median(genMs), tokens: o.batch * NEW_TOKENS },
  ].map((r) => ({ ...r, tokensPerSecond: (1000 * r.tokens) / r.ms }));
  console.log(`vlm: TinyVLM ${o.size} (vocab ${VOCAB}), provider ${o.provider}, median of ${o.runs} runs`);
  for (const r of rows) console.log(`${r.program.padEnd(70)} ${r.ms.toFixed(1).padStart(9)} ms/run ${r.tokensPerSecond.toFixed(0).padStart(9)} tokens/s`);
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "", node: process.version };
  writeResults(o.out, { benchmark: "vlm", date: new Date().toISOString(), machine, options: o, rows });
}
