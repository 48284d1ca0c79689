// `npm run bench -- compile`: how fast the front end is.
//  • per experiments/*.align: parse + check + lower (compileSync), cold — the first compile in a fresh
//    process, modules already loaded — and warm: median and p95 of --runs compiles after --warmup ones;
//  • sweep expansion: iterating all 1,000 trials of a 10×10×10 grid and of a 1,000-trial random sweep,
//    trial ids included (median of --sweep-runs runs).
// Prints a table and writes bench/results/compile.json with the machine it ran on.
//
// Options: --runs N (50)  --warmup N (10)  --sweep-runs N (20)  --target MS (20)  --no-cold  --out FILE
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compileSync } from "../src/compiler/compile.ts";
import { combinationCount, trials } from "../src/compiler/sweep/expand.ts";
import { ALIGNC_VERSION } from "../src/version.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const thisFile = fileURLToPath(import.meta.url);

interface Options {
  runs: number;
  warmup: number;
  sweepRuns: number;
  targetMs: number;
  cold: boolean;
  out: string;
}

interface Row {
  name: string;
  kind: "compile" | "sweep";
  /** First compile in a fresh process (compile rows only). */
  coldMs?: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  runs: number;
  targetMs: number;
  pass: boolean;
  detail: string;
}

function parseOptions(args: string[]): Options {
  const options: Options = { runs: 50, warmup: 10, sweepRuns: 20, targetMs: 20, cold: true, out: path.join(repoRoot, "bench/results/compile.json") };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const next = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const count = () => {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} needs a positive integer`);
      return n;
    };
    if (arg === "--runs") options.runs = count();
    else if (arg === "--warmup") options.warmup = count();
    else if (arg === "--sweep-runs") options.sweepRuns = count();
    else if (arg === "--target") {
      options.targetMs = Number(next());
      if (!(options.targetMs > 0)) throw new Error("--target needs a positive number of milliseconds");
    } else if (arg === "--no-cold") options.cold = false;
    else if (arg === "--out") options.out = path.resolve(next());
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

function stats(samples: number[]): { median: number; p95: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), min: sorted[0] ?? Number.NaN };
}

function time(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function experiments(): string[] {
  const dir = path.join(repoRoot, "experiments");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".align"))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The first compile of `file` in a fresh process (after the compiler's modules are loaded). */
function coldCompile(file: string): number {
  const out = execFileSync(process.execPath, ["--import", "tsx", thisFile, "--cold-child", file], { cwd: repoRoot, encoding: "utf8" });
  const ms = Number(/^cold (\S+)$/m.exec(out)?.[1]);
  if (!Number.isFinite(ms)) throw new Error(`cold compile of ${file} printed no time:\n${out}`);
  return ms;
}

function benchCompile(file: string, options: Options): Row {
  const name = path.relative(repoRoot, file);
  const coldMs = options.cold ? coldCompile(file) : undefined;
  let nodes = 0;
  let diagnostics = 0;
  for (let i = 0; i < options.warmup; i++) compileSync(file);
  const samples: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    samples.push(
      time(() => {
        const r = compileSync(file);
        nodes = r.graph?.nodes.length ?? 0;
        diagnostics = r.diagnostics.length;
      }),
    );
  }
  const s = stats(samples);
  const row: Row = {
    name,
    kind: "compile",
    medianMs: s.median,
    p95Ms: s.p95,
    minMs: s.min,
    runs: options.runs,
    targetMs: options.targetMs,
    pass: s.p95 <= options.targetMs,
    detail: `${nodes} nodes, ${diagnostics} diagnostics`,
  };
  if (coldMs !== undefined) row.coldMs = coldMs;
  return row;
}

// Both sweep files start alike: params and an SFT phase whose learning rate is swept.
const SWEEP_PRELUDE = [
  "align 1",
  "param beta: float in (0, 1] = 0.1",
  "param margin: int in 0..12 = 2",
  "param lr: float in (0, 1) = 1e-4",
  "model base = tinyvlm { size: nano }",
  "dataset train = shapes { split: train, count: 100 }",
  `phase vit = sft(base, train) { optimizer: adamw { lr: \${lr} } }`,
];

const SWEEP_FILES = {
  grid: [
    ...SWEEP_PRELUDE,
    "rater judge = grounded { aspects: [helpfulness, correctness, coherence], scale: 0..4 }",
    "dataset samples = sample(vit, train)",
    "dataset rated = rate(samples, judge)",
    `dataset pairs = pair(rated) { score: helpfulness + correctness + coherence, margin: \${margin} }`,
    `phase aligned = dpo(vit, pairs) { objective: { beta: \${beta} } }`,
    "evaluate e { models: [aligned], on: train }",
    "sweep big = grid { over: {",
    "  beta: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9]",
    "  margin: 0..9",
    "  lr: [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3]",
    "} }",
    "",
  ],
  random: [
    ...SWEEP_PRELUDE,
    "dataset pairs = corrupt(train) { edits: 1 }",
    `phase aligned = dpo(vit, pairs) { objective: { beta: \${beta}, loss: sigmoid } }`,
    "evaluate e { models: [aligned], on: train }",
    "sweep search = random { count: 1000, seed: 7, over: {",
    "  beta: log_uniform(0.01, 0.9)",
    "  margin: int_uniform(0, 12)",
    "  lr: log_uniform(1e-6, 1e-3)",
    "  aligned.objective.loss: [sigmoid, ipo, hinge]",
    "} }",
    "",
  ],
};

function writeSweepFile(dir: string, kind: keyof typeof SWEEP_FILES): string {
  const file = path.join(dir, `${kind}.align`);
  writeFileSync(file, SWEEP_FILES[kind].join("\n"));
  return file;
}

function benchSweep(kind: keyof typeof SWEEP_FILES, dir: string, options: Options): Row {
  const file = writeSweepFile(dir, kind);
  const result = compileSync(file);
  const sweep = result.checked?.sweeps.values().next().value;
  if (!result.ok || !result.checked || !sweep) {
    throw new Error(`the ${kind} sweep file does not compile:\n${result.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n")}`);
  }
  const params = result.checked.params;
  let count = 0;
  let ids = new Set<string>();
  const expand = () => {
    count = 0;
    ids = new Set();
    for (const t of trials(sweep, params)) {
      count++;
      ids.add(t.id);
    }
  };
  for (let i = 0; i < 3; i++) expand();
  const samples: number[] = [];
  for (let i = 0; i < options.sweepRuns; i++) samples.push(time(expand));
  const s = stats(samples);
  return {
    name: `${kind} sweep, ${combinationCount(sweep)} combinations`,
    kind: "sweep",
    medianMs: s.median,
    p95Ms: s.p95,
    minMs: s.min,
    runs: options.sweepRuns,
    targetMs: options.targetMs,
    pass: s.p95 <= options.targetMs,
    detail: `${count} trials, ${ids.size} distinct ids`,
  };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    node: process.version,
  };
}

function table(rows: Row[]): string {
  const fmt = (n: number | undefined) => (n === undefined ? "—" : n.toFixed(2));
  const header = ["benchmark", "cold ms", "warm median ms", "p95 ms", "target ms", "result", "detail"];
  const body = rows.map((r) => [r.name, fmt(r.coldMs), fmt(r.medianMs), fmt(r.p95Ms), String(r.targetMs), r.pass ? "pass" : "FAIL", r.detail]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

const OPTIONS_HELP = "options: --runs N (50)  --warmup N (10)  --sweep-runs N (20)  --target MS (20)  --no-cold  --out FILE";

export async function run(args: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`bench compile: ${(error as Error).message}\n${OPTIONS_HELP}`);
    process.exitCode = 2;
    return;
  }
  process.chdir(repoRoot);
  const rows: Row[] = [];
  for (const file of experiments()) {
    process.stderr.write(`compile ${path.relative(repoRoot, file)}…\n`);
    rows.push(benchCompile(file, options));
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-bench-"));
  try {
    for (const kind of ["grid", "random"] as const) {
      process.stderr.write(`expand the ${kind} sweep…\n`);
      rows.push(benchSweep(kind, dir, options));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`alignc ${ALIGNC_VERSION} front-end benchmark — ${machine().cpus} × ${machine().cpuModel}, Node ${process.version}`);
  console.log(`warm: ${options.runs} runs after ${options.warmup} warm-ups; sweeps: ${options.sweepRuns} runs; pass = p95 ≤ target\n`);
  console.log(table(rows));

  const report = {
    benchmark: "compile",
    date: new Date().toISOString(),
    compiler: { name: "alignc", version: ALIGNC_VERSION },
    machine: machine(),
    options: { runs: options.runs, warmup: options.warmup, sweepRuns: options.sweepRuns, targetMs: options.targetMs, cold: options.cold },
    results: rows.map((r) => ({
      ...r,
      medianMs: round(r.medianMs),
      p95Ms: round(r.p95Ms),
      minMs: round(r.minMs),
      ...(r.coldMs !== undefined ? { coldMs: round(r.coldMs) } : {}),
    })),
    pass: rows.every((r) => r.pass),
  };
  mkdirSync(path.dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), options.out) || options.out}`);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

// Child mode for cold measurements: `node --import tsx bench/compile.ts --cold-child FILE`.
if (process.argv[1] === thisFile && process.argv[2] === "--cold-child" && process.argv[3]) {
  const file = process.argv[3];
  const ms = time(() => compileSync(file));
  console.log(`cold ${ms}`);
}
