// alignc sweep: run every trial of a file's sweep as its own `alignc run --trial K` process, N at a time, on one
// shared store, and gather their results into one summary (src/runtime/sweeps/local.ts).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { trials } from "../../compiler/sweep/expand.ts";
import { valueJson } from "../../compiler/values/types.ts";
import { failureLine } from "../../diagnostics/failures.ts";
import { RunLayout } from "../../runtime/pipeline/layout.ts";
import { renderSweepSummary, runLocalSweep, type SweepSummary, type SweepTrial } from "../../runtime/sweeps/local.ts";
import { cancelSweep, SlurmError, type SlurmOptions, submitSlurm, sweepStatus } from "../../runtime/sweeps/slurm.ts";
import { printable } from "../../util/printable.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import type { Command } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, oneFile, tf32Option, UsageError } from "../common/io.ts";
import { loadSweep } from "./expand.ts";

/** bin/alignc.js, which every trial runs with. */
const ALIGNC = fileURLToPath(new URL("../../../bin/alignc.js", import.meta.url));

export const sweepCommand: Command = {
  name: "sweep",
  summary: "run every trial of a sweep as separate processes on a shared store, and summarise them",
  help: `Usage: alignc sweep FILE [options]
       alignc sweep status SWEEP_DIR     every trial's state (Slurm: squeue and the tasks' exit status)
       alignc sweep cancel SWEEP_DIR     cancel a Slurm sweep's queued and running tasks

Runs each trial of the file's sweep as its own \`alignc run FILE --trial K\` process, up to N at a time. Every
trial has its own run directory; all share one store, so the nodes trials have in common (the data, the
pairs of a sweep over beta) are computed once: the first trial to need one computes it, the others wait for
it. Running the same command again reruns only what is not stored — the failed trials, and nothing else.

Writes, in the sweep directory (default: sweeps/<sweep> in the file's run directory, runs/<file name>):
  trials/<ordinal>-<id>/   each trial's run directory
  logs/<ordinal>-<id>.log  each trial's output
  sweep.json               every trial's status, time, run directory and evaluations (rewritten as trials end)
  summary.md               one table of all trials: the swept values and the evaluations' headline figures

Options:
  --executor local|slurm  run the trials here (default) or submit them as one sbatch job array (array
                      index = trial ordinal; each task runs alignc run --trial in the sweep directory,
                      which must be on a filesystem the cluster's nodes share)
  --partition P, --time T, --gpus-per-task G, --cpus-per-task C, --sbatch=OPT (repeatable, e.g. --sbatch=--mem=16G)
                      Slurm: the job array's settings; they override the sweep's slurm { … } in the file
                      (--sbatch options are added to the file's)
  --wait              Slurm: wait until every task has ended, then summarise (sbatch --wait)
  --workers N         local: trials run at once (default 1; with --gpus, one per GPU)
  --gpus 0,1,...      run worker i's trials on GPU i (--device cuda:<id>)
  --device D          device for every trial when --gpus is not given (cpu, cuda, cuda:N, auto)
  --tf32 on|off       as alignc run --tf32, for every trial
  --trials LIST       only these trials: ordinals or ids, ranges allowed (e.g. 0,3-5,t1a2b3c4d5)
  --sweep NAME        the sweep, when the file declares several
  --set NAME=VALUE    set a param in every trial (repeatable)
  --sweep-dir DIR     where to keep the sweep
  --store DIR         the shared store (default: the file's run directory's store)
  --no-color          plain output

Exit status: 0 when every trial succeeded, 1 when one failed (its log's last lines are printed).`,
  options: {
    set: { type: "string", multiple: true },
    sweep: { type: "string" },
    workers: { type: "string" },
    gpus: { type: "string" },
    device: { type: "string" },
    tf32: { type: "string" },
    trials: { type: "string" },
    "sweep-dir": { type: "string" },
    store: { type: "string" },
    executor: { type: "string" },
    partition: { type: "string" },
    time: { type: "string" },
    "gpus-per-task": { type: "string" },
    "cpus-per-task": { type: "string" },
    sbatch: { type: "string", multiple: true },
    wait: { type: "boolean" },
    color: { type: "boolean" },
    "no-color": { type: "boolean" },
  },
  async run(positionals, values) {
    if (positionals[0] === "status" || positionals[0] === "cancel") return manage(positionals[0], positionals.slice(1));
    const file = oneFile(positionals);
    // Off: the trials (local processes, Slurm tasks) inherit NVIDIA_TF32_OVERRIDE=0; the Slurm script also says so.
    tf32Option(values);
    const set = Array.isArray(values.set) ? (values.set as string[]) : [];
    const loaded = await loadSweep(file, values);
    if (!loaded) return EXIT_USER;
    const { sweep, params } = loaded;

    const all: SweepTrial[] = [];
    for (const t of trials(sweep, params))
      all.push({ ordinal: t.ordinal, id: t.id, values: Object.fromEntries(t.assignments.map((a) => [a.target, valueJson(a.value)])) });
    const chosen = typeof values.trials === "string" ? pickTrials(all, values.trials) : all;
    const gpus = typeof values.gpus === "string" ? parseGpus(values.gpus) : undefined;
    const workers = typeof values.workers === "string" ? positiveInt("--workers", values.workers) : (gpus?.length ?? 1);
    if (gpus && values.device !== undefined) throw new UsageError("give --gpus or --device, not both");
    const device = typeof values.device === "string" ? values.device : undefined;
    if (device !== undefined && !/^(cpu|cuda(:\d+)?|auto)$/.test(device)) throw new UsageError(`--device must be cpu, cuda, cuda:N or auto, got '${device}'`);

    const entry = path.resolve(file);
    const runRoot = RunLayout.defaultRoot(entry);
    const dir = typeof values["sweep-dir"] === "string" ? path.resolve(values["sweep-dir"]) : path.join(runRoot, "sweeps", sweep.name);
    const store = typeof values.store === "string" ? path.resolve(values.store) : new RunLayout(runRoot).store;
    const devices = gpus ? gpus.map((g) => `cuda:${g}`) : device ? [device] : undefined;
    const rel = (p: string) => path.relative(process.cwd(), p) || ".";
    const executor = typeof values.executor === "string" ? values.executor : "local";
    if (executor === "slurm") {
      // The file's slurm { … } settings, then the command line's over them.
      const inFile = sweep.slurm ?? {};
      const slurm: SlurmOptions = {
        ...(typeof inFile.partition === "string" ? { partition: inFile.partition } : {}),
        ...(typeof inFile.time === "string" ? { time: inFile.time } : {}),
        ...(typeof inFile.gpus_per_task === "number" ? { gpusPerTask: inFile.gpus_per_task } : {}),
        ...(typeof inFile.cpus_per_task === "number" ? { cpusPerTask: inFile.cpus_per_task } : {}),
        ...(Array.isArray(inFile.sbatch) ? { extra: inFile.sbatch as string[] } : {}),
        ...(typeof values.partition === "string" ? { partition: values.partition } : {}),
        ...(typeof values.time === "string" ? { time: values.time } : {}),
        ...(typeof values["gpus-per-task"] === "string" ? { gpusPerTask: positiveInt("--gpus-per-task", values["gpus-per-task"]) } : {}),
        ...(typeof values["cpus-per-task"] === "string" ? { cpusPerTask: positiveInt("--cpus-per-task", values["cpus-per-task"]) } : {}),
        ...(Array.isArray(values.sbatch) ? { extra: [...((inFile.sbatch as string[] | undefined) ?? []), ...(values.sbatch as string[])] } : {}),
      };
      try {
        const { job, summary } = await submitSlurm(
          { entry, sweep: sweep.name, trials: chosen, dir, store, set, alignc: ALIGNC, slurm },
          { wait: values.wait === true },
        );
        process.stderr.write(
          `submitted job array ${job}: ${chosen.length} task${chosen.length === 1 ? "" : "s"} → ${rel(dir)}; alignc sweep status ${rel(dir)}\n`,
        );
        return values.wait === true ? finish(dir, summary, rel) : EXIT_OK;
      } catch (e) {
        if (!(e instanceof SlurmError)) throw e;
        process.stderr.write(`${printable(failureLine(e))}\n`);
        return EXIT_USER;
      }
    }
    if (executor !== "local") throw new UsageError(`--executor must be local or slurm, got '${executor}'`);
    process.stderr.write(
      `sweep ${sweep.name}: ${chosen.length} of ${all.length} trial${all.length === 1 ? "" : "s"}, ${workers} at a time${devices ? ` on ${devices.join(", ")}` : ""} → ${rel(dir)} (store ${rel(store)})\n`,
    );
    const summary = await runLocalSweep({
      entry,
      sweep: sweep.name,
      trials: chosen,
      dir,
      store,
      workers,
      ...(devices ? { devices } : {}),
      set,
      alignc: ALIGNC,
      onTrial(event, t) {
        const what = Object.entries(t.values)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ");
        if (event === "start") process.stderr.write(`▶ trial ${t.ordinal} (${t.id}) ${what}${t.device ? ` on ${t.device}` : ""}\n`);
        else if (t.status === "ok") process.stderr.write(`✓ trial ${t.ordinal} in ${t.seconds?.toFixed(1)} s\n`);
        else process.stderr.write(`✗ trial ${t.ordinal} failed (exit ${t.exitCode}); log ${rel(t.log)}:\n${indent(t.error ?? "")}\n`);
      },
    });
    return finish(dir, summary, rel);
  },
};

/** Writes summary.md, prints the table, names failed trials; exit 1 when one failed or has not finished. */
function finish(dir: string, summary: SweepSummary, rel: (p: string) => string): number {
  const table = renderSweepSummary(summary);
  writeFileAtomic(path.join(dir, "summary.md"), `${table}\n`, { root: dir });
  process.stdout.write(`${table}\n`);
  const failed = summary.trials.filter((t) => t.status === "failed");
  for (const t of failed)
    if (t.error && summary.executor === "slurm") process.stderr.write(`✗ trial ${t.ordinal} failed; log ${rel(t.log)}:\n${indent(t.error)}\n`);
  const unfinished = summary.trials.filter((t) => t.status === "pending" || t.status === "running");
  if (unfinished.length)
    process.stderr.write(
      `${unfinished.length} trial${unfinished.length === 1 ? "" : "s"} not finished yet: ${unfinished.map((t) => `${t.ordinal} (${t.status})`).join(", ")}\n`,
    );
  if (failed.length === 0) return unfinished.length ? EXIT_USER : EXIT_OK;
  process.stderr.write(
    `${failed.length} trial${failed.length === 1 ? "" : "s"} failed: ${failed.map((t) => t.ordinal).join(", ")}. Fix the cause and run again with --trials ${failed.map((t) => t.ordinal).join(",")} (what the others computed is stored).\n`,
  );
  return EXIT_USER;
}

/** alignc sweep status|cancel SWEEP_DIR. */
async function manage(action: "status" | "cancel", rest: string[]): Promise<number> {
  if (rest.length !== 1) throw new UsageError(`alignc sweep ${action} takes one sweep directory`);
  const dir = path.resolve(rest[0]!);
  const rel = (p: string) => path.relative(process.cwd(), p) || ".";
  try {
    if (action === "cancel") {
      process.stderr.write(`cancelled job${"s"} ${(await cancelSweep(dir)).join(", ")}\n`);
      return EXIT_OK;
    }
    return finish(dir, await sweepStatus(dir), rel);
  } catch (e) {
    if (!(e instanceof SlurmError)) throw e;
    process.stderr.write(`${printable(failureLine(e))}\n`);
    return EXIT_USER;
  }
}

/** A trial's error (from its log, which holds what programs printed), indented, control characters escaped. */
function indent(text: string): string {
  return printable(text)
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number ≥ 1, got '${v}'`);
  return n;
}

function parseGpus(v: string): number[] {
  const ids = v.split(",").map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s))) throw new UsageError(`--gpus takes GPU numbers separated by commas (0,1,2), got '${v}'`);
  return ids.map(Number);
}

/** The trials a --trials list names: ordinals, ranges of ordinals (3-5) and ids, in sweep order. */
export function pickTrials(all: readonly SweepTrial[], list: string): SweepTrial[] {
  const wanted = new Set<number>();
  for (const part of list.split(",").map((s) => s.trim())) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    const found = range
      ? all.filter((t) => t.ordinal >= Number(range[1]) && t.ordinal <= Number(range[2]))
      : all.filter((t) => (/^\d+$/.test(part) ? t.ordinal === Number(part) : t.id === part));
    if (found.length === 0) throw new UsageError(`--trials: no trial '${part}' (the sweep has ordinals 0–${all.length - 1}; alignc expand lists them)`);
    for (const t of found) wanted.add(t.ordinal);
  }
  return all.filter((t) => wanted.has(t.ordinal));
}
