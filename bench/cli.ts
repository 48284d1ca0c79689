// `npm run bench -- cli`: what starting the command line costs. Each command runs as a fresh process, --runs times
// (after --warmup runs), the commands taking turns so that a change in the machine's load touches all alike:
//   node -e 0                                  Node's own start, the floor
//   alignc --help / --version                  nothing but the CLI
//   alignc check experiments/li2024/li2024.align   the compiler on a study with imports
//   alignc plan experiments/quickstart.align       the compiler, the runtime's executors and the run directory
// through bin/alignc.js running the bundle in dist/ (ALIGNC_FROM_SOURCE=0; built first when it is stale), and the same
// through the sources with tsx (ALIGNC_FROM_SOURCE=1); with --baseline DIR also through DIR/bin/alignc.js (another
// checkout with node_modules, e.g. `git archive` of an earlier commit), the way that checkout runs it.
//
// CPU seconds are user + system time of the child, all its threads (tsx's loader thread included): a preload records
// process.cpuUsage() as the process exits. Wall seconds are from spawn to exit. Reported: the median (and min, max)
// of each, the median CPU time over that of `node -e 0`, and pass/fail against the targets (CPU seconds):
// alignc --help < 0.3, alignc check < 0.6. Prints a table and writes bench/results/cli.json.
//
// Options: --runs N (7)  --warmup N (1)  --no-tsx  --baseline DIR  --out FILE
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { intOption, loadAverageText, machineInfo, printTable, repoRoot, round, writeResults } from "./support.ts";

interface Options {
  runs: number;
  warmup: number;
  tsx: boolean;
  baseline: string | null;
  out: string;
}

type Mode = "node" | "dist" | "tsx" | "baseline";

interface Case {
  name: string;
  mode: Mode;
  /** Arguments after `node` (the preload goes first). */
  argv: string[];
  env: Record<string, string>;
  /** Where the command runs: the tree of its CLI, so a baseline reads the .align files as they were then. */
  cwd: string;
  /** Target for the median CPU seconds. */
  target?: number;
}

interface Sample {
  cpu: number;
  wall: number;
}

const TARGETS: Record<string, number> = { "alignc --help": 0.3, "alignc check experiments/li2024/li2024.align": 0.6 };
const COMMANDS = [["--help"], ["--version"], ["check", "experiments/li2024/li2024.align"], ["plan", "experiments/quickstart.align"]];

function parseOptions(args: string[]): Options {
  const o: Options = { runs: 7, warmup: 1, tsx: true, baseline: null, out: path.join(repoRoot, "bench/results/cli.json") };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const next = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`cli: ${arg} needs a value`);
      return v;
    };
    if (arg === "--runs") o.runs = intOption("cli", arg, next(), 1);
    else if (arg === "--warmup") o.warmup = intOption("cli", arg, next(), 0);
    else if (arg === "--no-tsx") o.tsx = false;
    else if (arg === "--baseline") o.baseline = path.resolve(next());
    else if (arg === "--out") o.out = path.resolve(next());
    else throw new Error(`cli: unknown option ${arg}`);
  }
  return o;
}

function cases(o: Options): Case[] {
  const out: Case[] = [{ name: "node -e 0", mode: "node", argv: ["-e", "0"], env: {}, cwd: repoRoot }];
  const modes: [Mode, string, Record<string, string>][] = [["dist", repoRoot, { ALIGNC_FROM_SOURCE: "0" }]];
  if (o.tsx) modes.push(["tsx", repoRoot, { ALIGNC_FROM_SOURCE: "1" }]);
  if (o.baseline) modes.push(["baseline", o.baseline, {}]);
  for (const args of COMMANDS)
    for (const [mode, tree, env] of modes) {
      const name = `alignc ${args.join(" ")}`;
      const target = mode === "dist" ? TARGETS[name] : undefined;
      out.push({ name, mode, argv: [path.join(tree, "bin/alignc.js"), ...args], env, cwd: tree, ...(target !== undefined ? { target } : {}) });
    }
  return out;
}

/**
 * One run of a case: CPU seconds from the child's exit hook, wall seconds around the spawn. A source changed while
 * the bench runs (dist/ refuses to run stale) is built again, and the run repeated.
 */
function runOnce(c: Case, preload: string, cpuFile: string, retry = true): Sample {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  rmSync(cpuFile, { force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["--import", preload, ...c.argv], {
    cwd: c.cwd,
    env: { ...env, NO_COLOR: "1", ...c.env, ALIGNC_BENCH_CPU: cpuFile },
    encoding: "utf8",
    timeout: 300_000,
  });
  const wall = (performance.now() - t0) / 1000;
  if (r.status === 2 && c.mode === "dist" && retry && r.stderr.startsWith("alignc: ALIGNC_FROM_SOURCE=0, but ")) {
    ensureBuilt();
    return runOnce(c, preload, cpuFile, false);
  }
  if (r.status !== 0) throw new Error(`cli: ${c.name} (${c.mode}) exited with ${r.status}:\n${r.stderr}`);
  const [user, system] = readFileSync(cpuFile, "utf8").split(" ").map(Number) as [number, number];
  return { cpu: (user + system) / 1e6, wall };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] as number, min: s[0] as number, max: s.at(-1) as number };
};

/** Builds dist/ when bin/alignc.js would not run it as it is. */
function ensureBuilt(): void {
  const probe = spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), "--version"], {
    cwd: repoRoot,
    env: { ...process.env, ALIGNC_FROM_SOURCE: "0" },
    encoding: "utf8",
  });
  if (probe.status === 0) return;
  console.log(
    `cli: ${probe.stderr
      .trim()
      .replace(/^alignc: ALIGNC_FROM_SOURCE=0, but /, "")
      .replace(/; run `npm run build`$/, "")}; building it first`,
  );
  const build = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], { cwd: repoRoot, stdio: "inherit" });
  if (build.status !== 0) throw new Error("cli: npm run build failed");
}

export async function run(args: string[]): Promise<void> {
  const o = parseOptions(args);
  ensureBuilt();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "alignc-bench-cli-"));
  try {
    const preload = path.join(tmp, "cpu.mjs");
    writeFileSync(
      preload,
      'import { writeFileSync } from "node:fs";\nprocess.on("exit", () => { const u = process.cpuUsage(); writeFileSync(process.env.ALIGNC_BENCH_CPU, `${u.user} ${u.system}`); });\n',
    );
    const cpuFile = path.join(tmp, "cpu.txt");
    const all = cases(o);
    const samples = all.map(() => [] as Sample[]);
    const loadStart = os.loadavg();
    for (let round = 0; round < o.warmup + o.runs; round++)
      all.forEach((c, i) => {
        const s = runOnce(c, preload, cpuFile);
        if (round >= o.warmup) samples[i]?.push(s);
      });
    const loadEnd = os.loadavg();
    const node = stats(samples[0]?.map((s) => s.cpu) ?? []).median;
    const results = all.map((c, i) => {
      const cpu = stats(samples[i]?.map((s) => s.cpu) ?? []);
      const wall = stats(samples[i]?.map((s) => s.wall) ?? []);
      return {
        name: c.name,
        mode: c.mode,
        cpuS: { median: round(cpu.median), min: round(cpu.min), max: round(cpu.max) },
        wallS: { median: round(wall.median), min: round(wall.min), max: round(wall.max) },
        ratioToNode: round(cpu.median / node, 1),
        ...(c.target !== undefined ? { targetCpuS: c.target, pass: cpu.median < c.target } : {}),
      };
    });
    const table = [["command", "runs", "CPU s (median)", "CPU min–max", "wall s (median)", "× node -e 0", "target (CPU s)"]];
    for (const r of results)
      table.push([
        r.mode === "node" ? r.name : `${r.name} (${r.mode})`,
        String(o.runs),
        r.cpuS.median.toFixed(3),
        `${r.cpuS.min.toFixed(2)}–${r.cpuS.max.toFixed(2)}`,
        r.wallS.median.toFixed(3),
        r.ratioToNode.toFixed(1),
        r.targetCpuS === undefined ? "" : `< ${r.targetCpuS}: ${r.pass ? "pass" : "FAIL"}`,
      ]);
    console.log(`cli: ${o.runs} runs each after ${o.warmup} warm-up, ${loadAverageText(loadStart, loadEnd)}`);
    printTable(table, (col) => col >= 1 && col <= 5);
    writeResults(o.out, {
      benchmark: "cli",
      date: new Date().toISOString(),
      machine: { ...machineInfo(), loadavg: { start: loadStart.map((x) => round(x, 2)), end: loadEnd.map((x) => round(x, 2)) } },
      options: { runs: o.runs, warmup: o.warmup, tsx: o.tsx, baseline: o.baseline },
      results,
    });
    if (results.some((r) => r.pass === false)) process.exitCode = 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
