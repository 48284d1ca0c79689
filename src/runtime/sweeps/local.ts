// Running a sweep's trials on this machine: each trial is its own `alignc run --trial K` process, up to N at a time,
// each in its own run directory and all on one shared store, so nodes the trials have in common (the data, the
// pairs of a sweep over β) are computed once — the first trial to reach one claims it, the others wait for its
// entry (src/runtime/pipeline/claims.ts). With several GPUs, worker i runs its trials on device i.
//
// The sweep directory holds trials/<ordinal>-<id>/ (run directories), logs/<ordinal>-<id>.log (each trial's output)
// and sweep.json (every trial's status, rewritten as trials finish, so a stopped sweep still says what it did).
import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { readJsonFile } from "../../util/read-json.ts";
import { mkdirInside, removeInside, writeFileAtomic } from "../../util/safe-write.ts";
import { type EvaluationFile, headlineFigures } from "../eval/compare.ts";

export interface SweepTrial {
  ordinal: number;
  id: string;
  /** Axis target → value, as `alignc expand --format jsonl` writes them. */
  values: Record<string, unknown>;
}

export interface LocalSweepOptions {
  /** The .align file (absolute). */
  entry: string;
  sweep: string;
  trials: readonly SweepTrial[];
  /** The sweep directory. */
  dir: string;
  /** The store every trial shares. */
  store: string;
  workers: number;
  /** Worker i's --device (cycled); none: alignc run's default. */
  devices?: readonly string[];
  /** --set values passed to every trial. */
  set?: readonly string[];
  /** The alignc entry script trials run with. */
  alignc: string;
  /** Called when a trial starts and when it ends. */
  onTrial?: (event: "start" | "end", trial: TrialOutcome) => void;
}

export interface TrialOutcome extends SweepTrial {
  status: "pending" | "running" | "ok" | "failed";
  /** The Slurm job (array) the trial was submitted in. */
  job?: string;
  device?: string;
  runDir: string;
  log: string;
  seconds?: number;
  exitCode?: number | null;
  /** The last lines of the trial's output when it failed. */
  error?: string;
  /** Evaluation node → the evaluation file's models (what `alignc run` wrote to evaluations/<node>.json). */
  evaluations?: Record<string, EvaluationFile>;
}

export interface SweepSummary {
  format: "alignc-sweep";
  version: 1;
  entry: string;
  sweep: string;
  store: string;
  started: string;
  /** local (default) or slurm. */
  executor?: "local" | "slurm";
  /** Slurm: the job ids of every submission, oldest first. */
  jobs?: string[];
  trials: TrialOutcome[];
}

/** Where a trial's run directory and log live in the sweep directory (both executors). */
export function trialPaths(dir: string, t: SweepTrial): { runDir: string; log: string } {
  const name = `${t.ordinal}-${t.id}`;
  return { runDir: path.join(dir, "trials", name), log: path.join(dir, "logs", `${name}.log`) };
}

export const SWEEP_FILE = "sweep.json";

/**
 * The sweep directory's sweep.json, or undefined when there is none. One that is not valid JSON (cut short or
 * edited) is an UnreadableFileError saying so.
 */
export function readSweep(dir: string): SweepSummary | undefined {
  const file = path.join(dir, SWEEP_FILE);
  return existsSync(file)
    ? readJsonFile<SweepSummary>(file, "delete it and run `alignc sweep` again to write it anew (trials already run are reused from the store)")
    : undefined;
}

/** Writes sweep.json atomically (a reader never sees half of it), inside the sweep directory. */
export function saveSweep(dir: string, s: SweepSummary): void {
  writeFileAtomic(path.join(dir, SWEEP_FILE), `${JSON.stringify(s, null, 2)}\n`, { root: dir });
}

/** A summary with no trials yet, for either executor. */
export function newSweepSummary(
  o: { entry: string; sweep: string; store: string },
  executor: "local" | "slurm",
  started = new Date().toISOString(),
): SweepSummary {
  return { format: "alignc-sweep", version: 1, entry: o.entry, sweep: o.sweep, store: o.store, started, executor, trials: [] };
}

export async function runLocalSweep(o: LocalSweepOptions): Promise<SweepSummary> {
  if (!Number.isInteger(o.workers) || o.workers < 1) throw new RangeError(`workers must be a positive integer, got ${o.workers}`);
  // The folders trials write into must stay inside the sweep directory (src/util/safe-write.ts).
  for (const sub of ["logs", "trials"]) mkdirInside(o.dir, path.join(o.dir, sub));
  const fresh: TrialOutcome[] = o.trials.map((t) => ({ ...t, status: "pending", ...trialPaths(o.dir, t) }));
  // Trials of an earlier run of the same sweep into this directory stay in sweep.json; these replace theirs
  // (running failed trials again with --trials, or a sweep run in parts).
  const previous = readSweep(o.dir);
  const same = previous?.entry === o.entry && previous.sweep === o.sweep ? previous : undefined;
  const kept = (same?.trials ?? []).filter((t) => !fresh.some((n) => n.ordinal === t.ordinal));
  const summary: SweepSummary = {
    ...newSweepSummary(o, "local", same?.started),
    trials: [...kept, ...fresh].sort((a, b) => a.ordinal - b.ordinal),
  };
  const save = () => saveSweep(o.dir, summary);
  save();
  let next = 0;
  const worker = async (index: number) => {
    const device = o.devices?.length ? o.devices[index % o.devices.length] : undefined;
    for (;;) {
      const trial = fresh[next++];
      if (!trial) return;
      trial.status = "running";
      if (device) trial.device = device;
      o.onTrial?.("start", trial);
      save();
      const t0 = performance.now();
      const exitCode = await runTrial(o, trial, device);
      trial.seconds = (performance.now() - t0) / 1000;
      trial.exitCode = exitCode;
      trial.status = exitCode === 0 ? "ok" : "failed";
      if (trial.status === "failed") trial.error = tail(trial.log, 12);
      trial.evaluations = evaluationsOf(trial.runDir);
      o.onTrial?.("end", trial);
      save();
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.workers, o.trials.length) }, (_, i) => worker(i)));
  return summary;
}

/** One trial: `alignc run FILE --sweep S --trial ID` in its run directory, output to its log file. */
function runTrial(o: LocalSweepOptions, trial: TrialOutcome, device: string | undefined): Promise<number | null> {
  const args = [o.alignc, "run", o.entry, "--sweep", o.sweep, "--trial", trial.id, "--run-dir", trial.runDir, "--store", o.store];
  for (const s of o.set ?? []) args.push("--set", s);
  if (device) args.push("--device", device);
  // A fresh log: whatever is at its name (an old log, a planted link) is removed, and the file created exclusively.
  removeInside(o.dir, trial.log);
  const fd = openSync(trial.log, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o666);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", fd, fd], env: { ...process.env, NO_COLOR: "1" } });
    child.on("error", () => resolve(null));
    child.on("exit", (code) => resolve(code));
  }).finally(() => closeSync(fd)) as Promise<number | null>;
}

/** The last `lines` lines of a log file ("" when it cannot be read). */
export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** The evaluations a trial's run wrote (evaluations/<node>.json), by node. */
export function evaluationsOf(runDir: string): Record<string, EvaluationFile> {
  const dir = path.join(runDir, "evaluations");
  if (!existsSync(dir)) return {};
  const out: Record<string, EvaluationFile> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".json")))
    out[f.slice(0, -".json".length)] = readJsonFile<EvaluationFile>(path.join(dir, f), "run the trial again to rewrite it");
  return out;
}

/** A sweep's results as rows: one per trial and evaluated model ("evaluation/model"), with its headline figures. */
export function sweepRows(s: SweepSummary): {
  axes: string[];
  labels: string[];
  rows: { t: TrialOutcome; model: string; figures: Map<string, string> }[];
} {
  const axes = [...new Set(s.trials.flatMap((t) => Object.keys(t.values)))];
  const rows = s.trials.flatMap((t) => {
    const evaluated = Object.entries(t.evaluations ?? {}).flatMap(([node, file]) =>
      Object.entries(file.models).map(([model, report]) => ({ model: `${node}/${model}`, figures: new Map(headlineFigures(report)) })),
    );
    return evaluated.length ? evaluated.map((e) => ({ t, ...e })) : [{ t, model: "–", figures: new Map<string, string>() }];
  });
  return { axes, labels: [...new Set(rows.flatMap((r) => [...r.figures.keys()]))], rows };
}

/**
 * The sweep as a Markdown table: one row per trial and evaluated model, with the axes' values and headline figures.
 * Every row has the header's cells, whatever failed: a trial with no evaluation has "–" for its model and each
 * figure, and with no figure at all (every trial failed) there are no figure columns. Failed trials are listed below
 * the table with the last line of their output.
 */
export function renderSweepSummary(s: SweepSummary): string {
  const { axes, labels, rows } = sweepRows(s);
  const cell = (v: unknown) => (v === undefined ? "–" : typeof v === "string" ? v : JSON.stringify(v));
  const ok = s.trials.filter((t) => t.status === "ok").length;
  const failed = s.trials.filter((t) => t.status === "failed");
  const lines = [
    `## Sweep ${s.sweep} of ${path.basename(s.entry)}: ${ok} of ${s.trials.length} trials ok`,
    "",
    ...markdownTable(
      [
        { label: "trial", right: true },
        { label: "id" },
        ...axes.map((a) => ({ label: a })),
        { label: "status" },
        { label: "time", right: true },
        { label: "model" },
        ...labels.map((l) => ({ label: l, right: true })),
      ],
      rows.map((r) => [
        String(r.t.ordinal),
        r.t.id,
        ...axes.map((a) => cell(r.t.values[a])),
        r.t.status,
        r.t.seconds === undefined ? "–" : `${r.t.seconds.toFixed(1)} s`,
        r.model,
        ...labels.map((l) => r.figures.get(l) ?? "–"),
      ]),
    ),
  ];
  if (failed.length > 0) {
    lines.push("", "Failed:", "");
    for (const t of failed) {
      // The cause: the last error line of its output (alignc run's `error[ALN7001]: …`, or `error: …`), else its last line.
      const output = (t.error ?? "")
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
      const cause = [...output].reverse().find((l) => /^error(\[ALN\d{4}\])?:/.test(l)) ?? output.at(-1);
      const exit = t.exitCode !== undefined && t.exitCode !== null ? `, exit ${t.exitCode}` : "";
      lines.push(`- trial ${t.ordinal} (${t.id})${exit}: ${cause ? oneLine(cause) : "no output"}`);
    }
  }
  return lines.join("\n");
}

/** A Markdown table whose rows all have the header's cells: `|` in a cell escaped, line breaks made spaces. */
export function markdownTable(columns: readonly { label: string; right?: boolean }[], rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => oneLine(c).replace(/\|/g, "\\|") || " ").join(" | ")} |`;
  for (const [i, r] of rows.entries())
    if (r.length !== columns.length) throw new Error(`markdownTable: row ${i} has ${r.length} cells for ${columns.length} columns`);
  return [line(columns.map((c) => c.label)), `|${columns.map((c) => (c.right ? "---:" : "---")).join("|")}|`, ...rows.map(line)];
}

const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ");
