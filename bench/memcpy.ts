// `npm run bench -- memcpy`: which host↔device copies ONNX Runtime's CUDA provider inserts into alignc's programs.
// ORT places every node on CUDA or CPU and adds MemcpyFromHost/MemcpyToHost nodes where a tensor crosses; inside a
// Loop body such a copy runs on every iteration, which is what keeping state on the GPU must avoid. Each program
// (SFT and DPO training in fp32 and in fp16 and bf16 mixed precision, KV-cache generation, log-probs) is loaded in a
// child process with ORT's verbose log, whose Memcpy lines are collected per graph (the main graph's copies of
// the run's inputs and outputs are expected; a Loop body's are not). Prints a table, writes bench/results/memcpy.json.
//
// Options: --size nano|small|base (small)  --batch B (8)  --length T (32)  --out FILE
// Needs the CUDA provider (docs/gpu.md); on a machine without it every program reports the load error.
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type SizeName, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { buildGenerateProgram } from "../src/models/tinyvlm/generate.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { buildLogProbProgram, sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type MixedPrecision, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { intOption, printTable, repoRoot, writeResults } from "./support.ts";

const VOCAB = 512;
const STEPS = 4;
const PROGRAMS = ["sft", "sft-fp16", "sft-bf16", "dpo", "dpo-fp16", "dpo-bf16", "generate", "logprobs"] as const;
type ProgramName = (typeof PROGRAMS)[number];

interface Options {
  size: SizeName;
  batch: number;
  length: number;
  out: string;
}

function parse(args: string[]): Options & { child?: ProgramName } {
  const o: Options & { child?: ProgramName } = { size: "small", batch: 8, length: 32, out: path.join(repoRoot, "bench/results/memcpy.json") };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--size" && (value === "nano" || value === "small" || value === "base")) o.size = value;
    else if (flag === "--batch") o.batch = intOption("memcpy", flag, value, 1);
    else if (flag === "--length") o.length = intOption("memcpy", flag, value, 2);
    else if (flag === "--out" && value) o.out = path.resolve(value);
    else if (flag === "--child" && PROGRAMS.includes(value as ProgramName)) o.child = value as ProgramName;
    else throw new Error(`memcpy: unknown option ${flag} ${value ?? ""} (--size nano|small|base, --batch B, --length T, --out FILE)`);
  }
  return o;
}

/** The ONNX bytes of one program, as alignc builds it for training, generation or scoring. */
function program(name: ProgramName, o: Options): Uint8Array {
  const c = tinyVlmConfig(o.size, VOCAB);
  const params = initTinyVlm(c, new Rng(0));
  const shapes = params.map((p) => ({ name: p.name, shape: p.data.shape }));
  const train = (batch: TrainProgramSpec["batch"], loss: TrainProgramSpec["loss"], mixedPrecision?: MixedPrecision) =>
    serializeModel(
      buildTrainProgram({
        trainable: params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape })),
        batch,
        steps: STEPS,
        optimizer: adamw({ lr: 1e-4 }),
        clipNorm: 1,
        loss,
        ...(mixedPrecision ? { mixedPrecision } : {}),
      }).builder.root,
    );
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 };
  switch (name) {
    case "sft":
      return train(sftBatch(c, o.batch, o.length), sftLoss(c));
    case "sft-fp16":
      return train(sftBatch(c, o.batch, o.length), sftLoss(c), { compute: "float16" });
    case "sft-bf16":
      return train(sftBatch(c, o.batch, o.length), sftLoss(c), { compute: "bfloat16" });
    case "dpo-bf16":
      return train(dpoBatch(c, o.batch, o.length), dpoLoss(c, objective), { compute: "bfloat16" });
    case "dpo":
      return train(dpoBatch(c, o.batch, o.length), dpoLoss(c, objective));
    case "dpo-fp16":
      return train(dpoBatch(c, o.batch, o.length), dpoLoss(c, objective), { compute: "float16" });
    case "generate":
      return serializeModel(
        buildGenerateProgram(c, shapes, { batch: o.batch, promptLength: 16, steps: 16, temperature: 0, seed: 0, stopTokens: [], pad: 0 }).root,
      );
    case "logprobs":
      return serializeModel(buildLogProbProgram(c, shapes, o.batch, o.length).root);
  }
}

/** In the child: load one program on CUDA with ORT's verbose log going to stderr. */
async function loadVerbose(name: ProgramName, o: Options): Promise<void> {
  const runtime = new Runtime({ provider: "cuda", logSeverity: 0 });
  await runtime.load(program(name, o));
  console.log("loaded");
}

interface Row {
  program: ProgramName;
  loaded: boolean;
  /** Memcpy nodes ORT reports adding, per graph name (its summary lines). */
  added: Record<string, number>;
  /** Memcpy lines of the verbose log (what was copied where), at most 40. */
  lines: string[];
  error?: string;
}

// "3 Memcpy nodes are added to the graph main_graph for CUDAExecutionProvider. It might have negative impact …"
const SUMMARY = /(\d+) Memcpy nodes are added to the graph (\S+) for (\S+)/;

function inspect(name: ProgramName, o: Options): Row {
  const self = fileURLToPath(import.meta.url);
  const args = ["--import", "tsx", self, "--child", name, "--size", o.size, "--batch", String(o.batch), "--length", String(o.length)];
  const child = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 30 });
  const log = `${child.stdout}\n${child.stderr}`;
  const memcpy = log.split("\n").filter((l) => /memcpy/i.test(l));
  const added: Record<string, number> = {};
  for (const l of memcpy) {
    const m = SUMMARY.exec(l);
    if (m) added[m[2]!] = (added[m[2]!] ?? 0) + Number(m[1]);
  }
  const loaded = child.status === 0 && child.stdout.includes("loaded");
  const row: Row = { program: name, loaded, added, lines: memcpy.slice(0, 40) };
  if (!loaded)
    row.error =
      child.stderr
        .split("\n")
        .filter((l) => /^[A-Za-z]*Error\b/.test(l.trim()))
        .slice(-1)[0]
        ?.trim() ?? `exit ${child.status}`;
  return row;
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  if (o.child) return loadVerbose(o.child, o);
  const rows = PROGRAMS.map((p) => inspect(p, o));
  console.log(`memcpy: TinyVLM ${o.size} (vocab ${VOCAB}), batch ${o.batch}, length ${o.length}, K ${STEPS}; Memcpy nodes ORT's CUDA provider adds, per graph`);
  printTable(
    [
      ["program", "loaded", "memcpy nodes (graph: count)"],
      ...rows.map((r) => [
        r.program,
        r.loaded ? "yes" : `no: ${r.error ?? ""}`.slice(0, 80),
        Object.entries(r.added)
          .map(([g, n]) => `${g}: ${n}`)
          .join(", ") || "none",
      ]),
    ],
    () => false,
  );
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "", node: process.version };
  writeResults(o.out, { benchmark: "memcpy", date: new Date().toISOString(), machine, options: o, rows });
}

// The child processes run this file directly.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await run(process.argv.slice(2));
