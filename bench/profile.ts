// `npm run bench -- profile`: where the time of one training run goes, from ONNX Runtime's own profiler. Builds the
// DPO (or SFT) training program of a TinyVLM size as the `dpo` phase does (sigmoid, β 0.1, summed log-probs, AdamW,
// clipping; K steps per run), runs it once to warm up, then once profiled, and sums the kernel time of every node
// by operator type (Loop bodies included). Also times the same run without the profiler, and a run of the program
// with K = 1 to split the time into per-run transfer (parameters and AdamW state in and out) and per-step compute.
// Prints a table, writes bench/results/profile-<provider>.json.
//
// Options: --provider cpu|cuda (cpu)  --size nano|small|base (nano)  --program dpo|sft (dpo)  --batch B (32)
//          --length T (128)  --k K (10)  --precision fp32|fp16 (fp32)  --out FILE
import os from "node:os";
import path from "node:path";
import { imageTokens, type SizeName, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import type { Provider } from "../src/runtime/engine/providers.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type TensorSpec, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { engineInfo, engineOptions, graphNodes, intOption, median, printTable, repoRoot, writeResults } from "./support.ts";
import { kernelTimeByOp } from "./trace.ts";

const VOCAB = 512;

function parse(argv: string[]) {
  const { engine, rest: args } = engineOptions("profile", argv);
  const o = {
    engine,
    provider: "cpu" as Provider,
    size: "nano" as SizeName,
    program: "dpo" as "dpo" | "sft",
    batch: 32,
    length: 128,
    k: 10,
    precision: "fp32" as "fp32" | "fp16",
    out: "",
  };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, v] = [args[i], args[i + 1]];
    if (flag === "--provider" && (v === "cpu" || v === "cuda")) o.provider = v;
    else if (flag === "--size" && (v === "nano" || v === "small" || v === "base")) o.size = v;
    else if (flag === "--program" && (v === "dpo" || v === "sft")) o.program = v;
    else if (flag === "--precision" && (v === "fp32" || v === "fp16")) o.precision = v;
    else if (flag === "--batch") o.batch = intOption("profile", flag, v, 1);
    else if (flag === "--length") o.length = intOption("profile", flag, v, 2);
    else if (flag === "--k") o.k = intOption("profile", flag, v, 1);
    else if (flag === "--out" && v) o.out = path.resolve(v);
    else throw new Error(`profile: unknown option ${flag} ${v ?? ""}`);
  }
  o.out ||= path.join(repoRoot, `bench/results/profile-${o.provider}.json`);
  return o;
}

/** Deterministic stand-in data of each field's shape (the time does not depend on what the tokens mean). */
function staged(fields: Record<string, TensorSpec>, k: number, rng: Rng): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const [name, s] of Object.entries(fields)) {
    const shape = [k, ...s.shape];
    const n = shape.reduce((a, b) => a * b, 1);
    if (s.dtype === "int64") out[name] = { dtype: "int64", shape, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rng.uniform() * VOCAB))) };
    else if (/mask|keep|weight/.test(name)) out[name] = { dtype: "float32", shape, data: new Float32Array(n).fill(1) };
    else if (/^ref_/.test(name)) out[name] = { dtype: "float32", shape, data: Float32Array.from({ length: n }, () => -100 - 10 * rng.uniform()) };
    else out[name] = { dtype: "float32", shape, data: Float32Array.from({ length: n }, () => rng.uniform()) };
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const c = tinyVlmConfig(o.size, VOCAB);
  const params = initTinyVlm(c, new Rng(0));
  const fields = o.program === "dpo" ? dpoBatch(c, o.batch, o.length) : sftBatch(c, o.batch, o.length);
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 };
  const specFor = (steps: number): TrainProgramSpec => ({
    trainable: params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
    batch: fields,
    steps,
    optimizer: adamw({ lr: 1e-5 }),
    clipNorm: 1,
    loss: o.program === "dpo" ? dpoLoss(c, objective) : sftLoss(c),
    ...(o.precision === "fp16" ? { mixedPrecision: { compute: "float16" as const } } : {}),
  });
  const initial = new Map(params.map((p) => [p.name, p.data]));
  const rng = new Rng(1);
  const timeRuns = async (runtime: Runtime, steps: number, runs: number) => {
    const spec = specFor(steps);
    const trainer = new Trainer(runtime, buildTrainProgram(spec), spec, initial);
    const batch = staged(fields, steps, rng);
    await trainer.run(batch); // load + warm-up
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await trainer.run(batch);
      ms.push(performance.now() - t0);
    }
    return median(ms);
  };
  const runK = await timeRuns(new Runtime({ provider: o.provider, ...o.engine }), o.k, 3);
  const run1 = await timeRuns(new Runtime({ provider: o.provider, ...o.engine }), 1, 5);
  // t(K) = transfer + K·step and t(1) = transfer + step.
  const stepMs = o.k > 1 ? (runK - run1) / (o.k - 1) : runK;
  const transferMs = run1 - stepMs;

  // The profiled run.
  const prefix = path.join(os.tmpdir(), `alignc-profile-${process.pid}`);
  const profiled = new Runtime({ provider: o.provider, profilePrefix: prefix, ...o.engine });
  const spec = specFor(o.k);
  const trainer = new Trainer(profiled, buildTrainProgram(spec), spec, initial);
  const batch = staged(fields, o.k, rng);
  await trainer.run(batch);
  await trainer.run(batch);
  await profiled.endProfiling();
  // The profile covers two runs; the second is summed (the first holds the session's warm-up).
  const { rows, totalMs } = kernelTimeByOp("profile", prefix, 1);
  const tokensPerStep = (o.program === "dpo" ? 2 : 1) * o.batch * (o.length + imageTokens(c));
  // Kernels ONNX Runtime ran per optimizer step (after its own fusions): what costs host time on a GPU.
  const nodesPerStep = rows.reduce((a, r) => a + r.calls, 0) / o.k;
  console.log(
    `profile: ${o.program} on TinyVLM ${o.size} (vocab ${VOCAB}), ${o.precision}, provider ${o.provider}, batch ${o.batch}, ${o.length} text + ${imageTokens(c)} image tokens, K ${o.k}`,
  );
  console.log(
    `run of K=${o.k}: ${runK.toFixed(1)} ms; run of K=1: ${run1.toFixed(1)} ms → per step ${stepMs.toFixed(2)} ms (${Math.round((1000 * tokensPerStep) / stepMs).toLocaleString("en-US")} tokens/s), per run ${transferMs.toFixed(1)} ms of transfer and launch`,
  );
  console.log(
    `executed nodes per step: ${Math.round(nodesPerStep).toLocaleString("en-US")} (program as built: ${graphNodes(buildTrainProgram(spec).builder.root).toLocaleString("en-US")} nodes, Loop body included)`,
  );
  printTable(
    [
      ["op", "kernel ms per run", "calls per run", "share"],
      ...rows.slice(0, 20).map((r) => [r.op, r.ms.toFixed(2), String(r.calls), `${(100 * r.share).toFixed(1)}%`]),
    ],
    (col) => col > 0,
  );
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "", node: process.version };
  writeResults(o.out, {
    benchmark: "profile",
    date: new Date().toISOString(),
    machine,
    engine: engineInfo(o.engine),
    options: o,
    runKMs: runK,
    run1Ms: run1,
    stepMs,
    transferMs,
    tokensPerStep,
    kernelMsPerRun: totalMs,
    executedNodesPerStep: nodesPerStep,
    byOp: rows,
  });
}
