// What the benchmarks share: timing and rounding, the TinyVLM benches' model (a trained checkpoint or a random
// init) and world, the machine a run was measured on (with the load average around it), table printing and the
// results file. Not a benchmark itself (bench/main.ts runs only files that export `run`).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { imageTokens, parameterCount, type TinyVlmConfig, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { type RatingInfo, readDataset } from "../src/runtime/data/prefdata/records.ts";
import { onnxruntimePackageDir } from "../src/runtime/engine/providers.ts";
import { Runtime, type RuntimeOptions } from "../src/runtime/engine/session.ts";
import { loadCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { modelFromCheckpoint, type VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { ASCII_ALPHABET, worldCorpus } from "../src/runtime/world/corpus.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import type { Graph } from "../src/tensor/ir/graph.ts";
import { Rng } from "../src/util/random.ts";

export const repoRoot = fileURLToPath(new URL("../", import.meta.url));
/** Trained checkpoints looked for, in order (outputs of `alignc run experiments/vit.align` and `… quickstart.align`). */
const CHECKPOINTS = ["experiments/runs/vit/outputs/vit", "experiments/runs/quickstart/outputs/vit"];
/** The grounded rater's aspects and scale, as the benches rate with it. */
export const GROUNDED: RatingInfo = {
  rater: "judge",
  kind: "grounded",
  aspects: ["helpfulness", "correctness", "coherence", "complexity", "verbosity"],
  scale: { min: 0, max: 4 },
};

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (t0: number) => (performance.now() - t0) / 1000;
export const round = (x: number, digits = 3) => Number(x.toFixed(digits));
/** A number for a table: thousands separators, `d` decimals. */
export const fmt = (x: number, d = 0) => x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

export async function timed<T>(f: () => Promise<T> | T): Promise<{ value: T; s: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, s: seconds(t0) };
}

/** An integer option of bench `bench` (`--flag v`), at least `min`. */
export function intOption(bench: string, flag: string, v: string | undefined, min: number): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) throw new Error(`${bench}: ${flag} takes an integer ≥ ${min}, got ${v}`);
  return x;
}

/** The model options of the TinyVLM benches: --model DIR, --random-init. */
export interface ModelChoice {
  model: string | null;
  randomInit: boolean;
}

/** The model: --model, else the first trained checkpoint found, else (or with --random-init) a fresh nano TinyVLM. */
function loadBenchModel(o: ModelChoice): { model: VlmModel; description: string } {
  const dir = o.randomInit ? null : (o.model ?? CHECKPOINTS.map((d) => path.join(repoRoot, d)).find((d) => existsSync(path.join(d, "model.safetensors"))));
  if (dir) {
    const model = modelFromCheckpoint(loadCheckpoint(dir), dir);
    return { model, description: `trained checkpoint ${path.relative(repoRoot, dir) || dir}` };
  }
  // What model.init makes for `tinyvlm { size: nano, seed: 1 }`.
  const tokenizer = Tokenizer.train(worldCorpus(), { vocabSize: 512, initialAlphabet: ASCII_ALPHABET });
  const config = tinyVlmConfig("nano", tokenizer.vocabSize);
  const params = new Map(initTinyVlm(config, new Rng(1)).map((w) => [w.name, w.data]));
  return { model: { config, tokenizer, params }, description: "random init" };
}

/**
 * The setup the TinyVLM benches time: the model (printed with its size, as `<bench>: TinyVLM …`), and a world of
 * `prompts` prompts at its image size written into `<tmp>/world`, the items that `keep` keeps. `world` is the world's
 * settings (for the results file), `stages` the first rows of the bench's stage table (header, model load, world).
 */
export async function setUp(bench: string, o: ModelChoice & { prompts: number }, tmp: string, keep: (item: WorldItem) => boolean = () => true) {
  const loaded = await timed(() => loadBenchModel(o));
  const { model, description } = loaded.value;
  const c = model.config;
  console.log(`${bench}: TinyVLM ${c.vocab}-token vocabulary, ${parameterCount(c).toLocaleString("en-US")} parameters — ${description}`);
  const worldDir = path.join(tmp, "world");
  const settings = { split: "train", seed: 1, bias: 0.8, image_size: c.imageSize };
  const world = await timed(() => writeWorld(worldDir, worldOptions({ ...settings, count: o.prompts })));
  const items = (readDataset(worldDir).records as WorldItem[]).filter(keep);
  const stages = [
    ["stage", "work", "time", "throughput"],
    ["setup: model load", description, `${fmt(loaded.s, 2)} s`, ""],
    ["setup: world", `${items.length} prompts at ${c.imageSize}×${c.imageSize}`, `${fmt(world.s, 2)} s`, ""],
  ];
  return { model, description, items, loadSeconds: loaded.s, worldSeconds: world.s, world: settings, stages };
}

/** The load average before and after a bench's measurements, as its header line ends. */
export const loadAverageText = (start: number[], end: number[]) =>
  `load average ${start.map((x) => x.toFixed(2)).join(" ")} → ${end.map((x) => x.toFixed(2)).join(" ")}`;

function ortVersion(): string {
  const dir = onnxruntimePackageDir();
  if (!dir) return "unknown";
  return (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
}

/**
 * The engine flags every GPU bench takes, taken out of `args` (the rest is returned for the bench's own parser):
 * --engine binding|capi, and for the C-API engine --arena power-of-two|as-requested, --shared-arena on|off,
 * --shrink-arena on|off, --gpu-mem-limit-gib N, --tf32 on|off, --arena-max-dead-mib N (0: ONNX Runtime's 128). Unset: the Runtime's defaults (ALIGNC_ENGINE).
 */
export function engineOptions(bench: string, args: readonly string[]): { engine: Pick<RuntimeOptions, "engine" | "cuda">; rest: string[] } {
  const engine: Pick<RuntimeOptions, "engine" | "cuda"> = {};
  const cuda: NonNullable<RuntimeOptions["cuda"]> = {};
  const rest: string[] = [];
  const onOff = (flag: string, v: string | undefined): boolean => {
    if (v !== "on" && v !== "off") throw new Error(`${bench} bench: ${flag} takes on or off, got ${v}`);
    return v === "on";
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, v] = [args[i]!, args[i + 1]];
    if (flag === "--engine") {
      if (v !== "binding" && v !== "capi") throw new Error(`${bench} bench: --engine takes binding or capi, got ${v}`);
      engine.engine = v;
    } else if (flag === "--arena") {
      if (v !== "power-of-two" && v !== "as-requested") throw new Error(`${bench} bench: --arena takes power-of-two or as-requested, got ${v}`);
      cuda.arenaGrowth = v;
    } else if (flag === "--shared-arena") cuda.sharedArena = onOff(flag, v);
    else if (flag === "--shrink-arena") cuda.shrinkArena = onOff(flag, v);
    else if (flag === "--tf32") cuda.tf32 = onOff(flag, v);
    else if (flag === "--arena-max-dead-mib") cuda.arenaMaxDeadBytes = Math.round(intOption(bench, flag, v, 0) * 2 ** 20);
    else if (flag === "--gpu-mem-limit-gib") cuda.memoryLimit = Math.round(intOption(bench, flag, v, 1) * 2 ** 30);
    else {
      rest.push(flag);
      continue;
    }
    i++;
  }
  if (Object.keys(cuda).length > 0) engine.cuda = cuda;
  return { engine, rest };
}

/** The engine and CUDA settings a Runtime made with `engine` uses, for a results file. */
export function engineInfo(engine: Pick<RuntimeOptions, "engine" | "cuda">) {
  const o = new Runtime(engine).options;
  return { engine: o.engine, cuda: o.cuda };
}

/** Nodes of a graph and of every subgraph in it (a training program's Loop body): the program's size as built. */
export function graphNodes(g: Graph): number {
  let n = 0;
  for (const node of g.nodes) {
    n++;
    for (const a of Object.values(node.attrs)) if (a.type === "graph") n += graphNodes(a.value);
  }
  return n;
}

/** The machine a bench ran on. */
export function machineInfo() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
  };
}

/**
 * The head of a TinyVLM bench's results file: the bench, the date, the machine with ONNX Runtime's version and the
 * load average around the measurements, the model and its configuration.
 */
export function vlmReport(benchmark: string, load: { start: number[]; end: number[] }, description: string, c: TinyVlmConfig) {
  return {
    benchmark,
    date: new Date().toISOString(),
    machine: {
      ...machineInfo(),
      onnxruntime: ortVersion(),
      loadavg: { start: load.start.map((x) => round(x, 2)), end: load.end.map((x) => round(x, 2)) },
    },
    model: description,
    modelConfig: { vocab: c.vocab, imageSize: c.imageSize, imageTokens: imageTokens(c), textContext: c.textContext, parameters: parameterCount(c) },
  };
}

/** Prints a table, columns two spaces apart; `right(col)` says which columns are right-aligned. */
export function printTable(table: string[][], right: (col: number) => boolean): void {
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  for (const row of table)
    console.log(
      row
        .map((cell, col) => (right(col) ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join("  ")
        .trimEnd(),
    );
}

/** Writes a bench's results as JSON to `out` and says so. */
export function writeResults(out: string, results: object): void {
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}
