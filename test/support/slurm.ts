// A real Slurm cluster of one node on localhost for the tests: munged, slurmctld and slurmd from Debian's slurm-wlm
// and munge packages (.ci/run installs them), with a minimal configuration written into a temporary directory and
// ports of their own. Needs root (the daemons run as root here). startLocalSlurm says why when it cannot start one.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LocalSlurm {
  /** SLURM_CONF for the client commands (sbatch, squeue, scancel). */
  conf: string;
  stop(): void;
}

const has = (bin: string) => ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((d) => existsSync(path.join(d, bin)));

export async function startLocalSlurm(dir: string): Promise<LocalSlurm | string> {
  const missing = ["slurmctld", "slurmd", "sbatch", "munged"].filter((b) => !has(b));
  if (missing.length) return `Slurm is not installed (${missing.join(", ")} missing: apt-get install slurm-wlm munge)`;
  if (process.getuid?.() !== 0) return "the local Slurm test cluster needs root";
  if (!existsSync("/etc/munge/munge.key")) return "munge has no key (/etc/munge/munge.key)";
  if (spawnSync("pgrep", ["-x", "munged"]).status !== 0) {
    mkdirSync("/run/munge", { recursive: true });
    const m = spawnSync("/usr/sbin/munged", ["--force"], { encoding: "utf8" });
    if (m.status !== 0) return `munged did not start: ${m.stderr.trim()}`;
  }
  for (const d of ["state", "spool", "log"]) mkdirSync(path.join(dir, d), { recursive: true });
  const host = os.hostname();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const conf = path.join(dir, "slurm.conf");
  writeFileSync(
    conf,
    [
      "ClusterName=alignctest",
      `SlurmctldHost=${host}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "AuthType=auth/munge",
      `StateSaveLocation=${path.join(dir, "state")}`,
      `SlurmdSpoolDir=${path.join(dir, "spool")}`,
      `SlurmctldPidFile=${path.join(dir, "slurmctld.pid")}`,
      `SlurmdPidFile=${path.join(dir, "slurmd.pid")}`,
      `SlurmctldLogFile=${path.join(dir, "log", "slurmctld.log")}`,
      `SlurmdLogFile=${path.join(dir, "log", "slurmd.log")}`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "ReturnToService=2",
      "MpiDefault=none",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "SchedulerType=sched/backfill",
      `NodeName=${host} CPUs=${os.cpus().length} State=UNKNOWN`,
      "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
      "",
    ].join("\n"),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  for (const daemon of ["/usr/sbin/slurmctld", "/usr/sbin/slurmd"]) {
    const r = spawnSync(daemon, ["-f", conf], { encoding: "utf8", env });
    if (r.status !== 0) return `${path.basename(daemon)} did not start: ${r.stderr.trim()}`;
  }
  // Shut the daemons down and wait until both have exited (they write their state on the way out).
  const stop = () => {
    spawnSync("scontrol", ["shutdown"], { env });
    for (let i = 0; i < 50 && spawnSync("pgrep", ["-f", conf]).status === 0; i++) spawnSync("sleep", ["0.2"]);
  };
  // Wait for the node to come up idle.
  for (let i = 0; i < 60; i++) {
    const s = spawnSync("sinfo", ["-h", "-o", "%t"], { encoding: "utf8", env });
    if (s.status === 0 && /idle/.test(s.stdout)) return { conf, stop };
    await new Promise((r) => setTimeout(r, 500));
  }
  stop();
  return `the local Slurm node did not become idle: ${execFileSync("sinfo", { env, encoding: "utf8" }).trim()}`;
}
