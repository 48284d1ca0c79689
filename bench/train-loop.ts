// `npm run bench -- train-loop`: training-step speed of small transformer LMs (the copy task of
// test/support/toy-lm.ts) through the tensor compiler and ONNX Runtime:
//  • steps/s and tokens/s with K optimizer steps inside one Loop run (median over --runs runs after a warm-up run);
//  • per-step overhead of the Loop vs one `run()` per step: the same model compiled with K = 1 and run K times.
// Prints a table and writes bench/results/train-loop.json with the machine it ran on.
//
// Options: --provider cpu|cuda (cpu)  --threads N (0 = ORT default)  --steps K (50)  --runs N (5)  --out FILE
import path from "node:path";
import type { Provider } from "../src/runtime/engine/providers.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram } from "../src/tensor/program/train-program.ts";
import { type CopyTask, copyBatches, copyTaskSpec, initialParameters } from "../test/support/toy-lm.ts";
import { machineInfo, median, printTable, repoRoot, writeResults } from "./support.ts";

const configs: { name: string; task: CopyTask }[] = [
  { name: "tiny (overhead-bound)", task: { model: { vocab: 8, context: 8, width: 8, layers: 1, heads: 1 }, batch: 2, half: 4 } },
  { name: "small: 2×32, B16 T12", task: { model: { vocab: 8, context: 16, width: 32, layers: 2, heads: 2 }, batch: 16, half: 6 } },
  { name: "medium: 4×128, B32 T64", task: { model: { vocab: 64, context: 64, width: 128, layers: 4, heads: 4 }, batch: 32, half: 32 } },
];

interface Options {
  provider: Provider;
  threads: number;
  steps: number;
  runs: number;
  out: string;
}

function parse(args: string[]): Options {
  const o: Options = { provider: "cpu", threads: 0, steps: 50, runs: 5, out: path.join(repoRoot, "bench/results/train-loop.json") };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--provider" && (value === "cpu" || value === "cuda")) o.provider = value;
    else if (flag === "--threads") o.threads = Number(value);
    else if (flag === "--steps") o.steps = Number(value);
    else if (flag === "--runs") o.runs = Number(value);
    else if (flag === "--out" && value) o.out = path.resolve(value);
    else throw new Error(`train-loop: unknown or incomplete option ${flag}`);
    i++;
  }
  return o;
}

async function timeRuns(trainer: Trainer, task: CopyTask, k: number, runs: number): Promise<number[]> {
  await trainer.run(copyBatches(task, k, 1)); // warm-up: session creation, first-run allocations
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const batches = copyBatches(task, k, 2 + r);
    const t0 = performance.now();
    await trainer.run(batches);
    ms.push(performance.now() - t0);
  }
  return ms;
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const runtime = new Runtime({ provider: o.provider, intraOpThreads: o.threads });
  const rows = [];
  for (const { name, task } of configs) {
    const tokens = task.batch * 2 * task.half;
    const optimizer = adamw({ lr: 1e-3 });
    const loopSpec = copyTaskSpec(task, o.steps, optimizer);
    const loopMs = median(await timeRuns(new Trainer(runtime, buildTrainProgram(loopSpec), loopSpec, initialParameters(task, 0)), task, o.steps, o.runs));
    const oneSpec = copyTaskSpec(task, 1, optimizer);
    const one = new Trainer(runtime, buildTrainProgram(oneSpec), oneSpec, initialParameters(task, 0));
    await one.run(copyBatches(task, 1, 1));
    const perRun: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      const batches = Array.from({ length: o.steps }, (_, s) => copyBatches(task, 1, 100 * r + s));
      const t0 = performance.now();
      for (const b of batches) await one.run(b);
      perRun.push(performance.now() - t0);
    }
    const separateMs = median(perRun);
    const params = loopSpec.trainable.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    rows.push({
      config: name,
      parameters: params,
      tokensPerStep: tokens,
      loopMsPerStep: loopMs / o.steps,
      stepsPerSecond: (1000 * o.steps) / loopMs,
      tokensPerSecond: (1000 * o.steps * tokens) / loopMs,
      separateRunsMsPerStep: separateMs / o.steps,
      overheadSavedMsPerStep: (separateMs - loopMs) / o.steps,
    });
  }
  const table = [
    ["config", "params", "tok/step", "ms/step (Loop)", "steps/s", "tokens/s", "ms/step (1 run each)", "saved ms/step"],
    ...rows.map((r) => [
      r.config,
      String(r.parameters),
      String(r.tokensPerStep),
      r.loopMsPerStep.toFixed(3),
      r.stepsPerSecond.toFixed(1),
      r.tokensPerSecond.toFixed(0),
      r.separateRunsMsPerStep.toFixed(3),
      r.overheadSavedMsPerStep.toFixed(3),
    ]),
  ];
  console.log(`train-loop: provider ${o.provider}, K = ${o.steps} steps per Loop run, median of ${o.runs} runs`);
  printTable(table, (c) => c !== 0);
  writeResults(o.out, { benchmark: "train-loop", date: new Date().toISOString(), machine: machineInfo(), options: o, rows });
}
