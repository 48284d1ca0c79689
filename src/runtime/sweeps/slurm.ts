// Running a sweep on a Slurm cluster: one `sbatch` job array per submission, array index = trial ordinal. Each task
// runs `alignc run FILE --sweep S --trial <id>` in the trial's run directory on the shared store (the same layout
// as the local executor, so `alignc report` and `alignc compare` read it the same way) and records its exit code
// in status/<ordinal>.json. `sweepStatus` reads squeue for tasks still queued or running and the status files for
// finished ones. Slurm is driven through its own commands (sbatch, squeue, scancel): no scheduler of our own.
import { readFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { mkdirInside, writeFileAtomic } from "../../util/safe-write.ts";
import { tf32Enabled } from "../engine/providers.ts";
import {
  evaluationsOf,
  newSweepSummary,
  readSweep,
  SWEEP_FILE,
  type SweepSummary,
  type SweepTrial,
  saveSweep,
  type TrialOutcome,
  tail,
  trialPaths,
} from "./local.ts";

export interface SlurmOptions {
  partition?: string;
  /** sbatch --time, e.g. "02:00:00". */
  time?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
  /** More sbatch options, each as written on the command line ("--mem=16G"). */
  extra?: readonly string[];
}

export interface SlurmSubmission {
  entry: string;
  sweep: string;
  trials: readonly SweepTrial[];
  dir: string;
  store: string;
  set?: readonly string[];
  alignc: string;
  slurm: SlurmOptions;
}

export class SlurmError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7022";
  override name = "SlurmError";
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The batch script of one submission: an array over the trials' ordinals. */
export function batchScript(o: SlurmSubmission): string {
  const directives = [
    `#SBATCH --job-name=${`alignc-${o.sweep}`.replace(/[^\w.-]/g, "_")}`,
    `#SBATCH --array=${o.trials.map((t) => t.ordinal).join(",")}`,
    `#SBATCH --output=${path.join(o.dir, "logs", "slurm-%A_%a.log")}`,
    ...(o.slurm.partition ? [`#SBATCH --partition=${o.slurm.partition}`] : []),
    ...(o.slurm.time ? [`#SBATCH --time=${o.slurm.time}`] : []),
    ...(o.slurm.gpusPerTask ? [`#SBATCH --gpus-per-task=${o.slurm.gpusPerTask}`] : []),
    ...(o.slurm.cpusPerTask ? [`#SBATCH --cpus-per-task=${o.slurm.cpusPerTask}`] : []),
    ...(o.slurm.extra ?? []).map((x) => `#SBATCH ${x}`),
  ];
  const ids = o.trials.map((t) => `ids[${t.ordinal}]=${t.id}`).join("; ");
  const set = (o.set ?? []).map((s) => ` --set ${quote(s)}`).join("");
  // TF32 off (`--tf32 off` or NVIDIA_TF32_OVERRIDE=0 here) is said on each task's command, not left to sbatch's
  // environment export.
  const device = `${o.slurm.gpusPerTask ? " --device cuda" : ""}${tf32Enabled() ? "" : " --tf32 off"}`;
  return `#!/bin/bash
# Written by alignc sweep --executor slurm: one array task per trial (index = trial ordinal).
${directives.join("\n")}
declare -a ids; ${ids}
k=$SLURM_ARRAY_TASK_ID
id=\${ids[$k]}
name="$k-$id"
status=${quote(path.join(o.dir, "status"))}
# A status file is written whole under a fresh name (mktemp: exclusive, unpredictable) and renamed into place, so
# alignc sweep status never reads half of one and nothing planted at its name is written through.
mkdir -p "$status"
put_status() { local tmp; tmp=$(mktemp "$status/.$k.json.XXXXXXXX") && printf '%s\\n' "$1" > "$tmp" && chmod 644 "$tmp" && mv -f -T "$tmp" "$status/$k.json"; }
rm -f ${quote(path.join(o.dir, "logs"))}/"$name".log # a link planted at the log's name is removed, not written through
start=$SECONDS
put_status "{\\"ordinal\\": $k, \\"state\\": \\"running\\", \\"host\\": \\"$(hostname)\\", \\"job\\": \\"$SLURM_ARRAY_JOB_ID\\"}"
${quote(process.execPath)} ${quote(o.alignc)} run ${quote(o.entry)} --sweep ${quote(o.sweep)} --trial "$id" --run-dir ${quote(path.join(o.dir, "trials"))}/"$name" --store ${quote(o.store)}${set}${device} > ${quote(path.join(o.dir, "logs"))}/"$name".log 2>&1
code=$?
put_status "{\\"ordinal\\": $k, \\"state\\": \\"done\\", \\"exit\\": $code, \\"seconds\\": $((SECONDS - start)), \\"host\\": \\"$(hostname)\\", \\"job\\": \\"$SLURM_ARRAY_JOB_ID\\"}"
exit $code
`;
}

/** Writes the script, submits it with sbatch, and records the job in sweep.json. Returns the job id. */
export async function submitSlurm(o: SlurmSubmission, options: { wait?: boolean } = {}): Promise<{ job: string; summary: SweepSummary }> {
  // The folders the tasks write into must stay inside the sweep directory (src/util/safe-write.ts).
  for (const sub of ["logs", "status", "trials"]) mkdirInside(o.dir, path.join(o.dir, sub));
  const script = path.join(o.dir, `submit-${Date.now()}.sh`);
  writeFileAtomic(script, batchScript(o), { root: o.dir, mode: 0o755 });
  // Earlier submissions' trials stay in sweep.json; these are replaced (a resubmission after a failure).
  const previous = readSweep(o.dir);
  const fresh: TrialOutcome[] = o.trials.map((t) => ({ ...t, status: "pending", ...trialPaths(o.dir, t) }));
  for (const t of fresh)
    writeFileAtomic(path.join(o.dir, "status", `${t.ordinal}.json`), `${JSON.stringify({ ordinal: t.ordinal, state: "queued" })}\n`, { root: o.dir });
  const result = await execa("sbatch", ["--parsable", script], { reject: false });
  if (result.exitCode !== 0) throw new SlurmError(`sbatch failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim()}\n  script: ${script}`);
  const job = result.stdout.trim().split(";")[0]!;
  const kept = (previous?.trials ?? []).filter((t) => !o.trials.some((n) => n.ordinal === t.ordinal));
  const summary: SweepSummary = {
    ...newSweepSummary(o, "slurm", previous?.started),
    jobs: [...(previous?.jobs ?? []), job],
    trials: [...kept, ...fresh.map((t) => ({ ...t, job }))].sort((a, b) => a.ordinal - b.ordinal),
  };
  saveSweep(o.dir, summary);
  if (!options.wait) return { job, summary };
  // Waiting: sweep.json already names the job, so `alignc sweep status` works meanwhile from another shell.
  for (;;) {
    const q = await execa("squeue", ["-h", "-j", job, "-o", "%i"], { reject: false });
    if (q.exitCode !== 0 || q.stdout.trim() === "") break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { job, summary: await sweepStatus(o.dir) };
}

/**
 * Every trial's state: finished ones from their status files (ok or failed, with the log's tail and evaluations),
 * queued and running ones from squeue; a task Slurm no longer knows that never wrote a final status failed
 * (cancelled, timed out, its node died). Rewrites sweep.json.
 */
export async function sweepStatus(dir: string): Promise<SweepSummary> {
  const s = readSweep(dir);
  if (!s) throw new SlurmError(`${dir} has no ${SWEEP_FILE}: not a sweep directory`);
  const queued = new Map<string, string>();
  if (s.executor === "slurm" && s.jobs?.length) {
    const q = await execa("squeue", ["-h", "-r", "-o", "%i %T", "-j", s.jobs.join(",")], { reject: false });
    // squeue exits non-zero once every job of the list has left the queue; that only means nothing is queued.
    if (q.exitCode === 0)
      for (const line of q.stdout.split("\n").filter(Boolean)) {
        const [id, state] = line.trim().split(/\s+/);
        queued.set(id!, state!);
      }
  }
  for (const t of s.trials) {
    const status = readStatus(dir, t.ordinal);
    const inQueue = t.job ? queued.get(`${t.job}_${t.ordinal}`) : undefined;
    if (status?.state === "done") {
      t.status = status.exit === 0 ? "ok" : "failed";
      t.exitCode = status.exit ?? null;
      if (status.seconds !== undefined) t.seconds = status.seconds;
      if (t.status === "failed") t.error = tail(t.log, 12) || tail(slurmLog(dir, t), 12);
      t.evaluations = evaluationsOf(t.runDir);
    } else if (inQueue) t.status = inQueue === "RUNNING" ? "running" : "pending";
    else if (s.executor === "slurm" && (t.status === "pending" || t.status === "running")) {
      t.status = "failed";
      t.error = `Slurm no longer lists task ${t.job}_${t.ordinal} and it wrote no exit status (cancelled, out of time, or its node failed)\n${tail(slurmLog(dir, t), 8)}`;
    }
  }
  saveSweep(dir, s);
  return s;
}

/** Cancels the sweep's jobs that are still queued or running. */
export async function cancelSweep(dir: string): Promise<string[]> {
  const s = readSweep(dir);
  if (!s?.jobs?.length) throw new SlurmError(`${dir} has no Slurm jobs to cancel`);
  const r = await execa("scancel", s.jobs, { reject: false });
  if (r.exitCode !== 0) throw new SlurmError(`scancel failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return s.jobs;
}

function readStatus(dir: string, ordinal: number): { state: string; exit?: number; seconds?: number } | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, "status", `${ordinal}.json`), "utf8")) as { state: string; exit?: number; seconds?: number };
  } catch {
    return undefined;
  }
}

function slurmLog(dir: string, t: TrialOutcome): string {
  return path.join(dir, "logs", `slurm-${t.job}_${t.ordinal}.log`);
}
