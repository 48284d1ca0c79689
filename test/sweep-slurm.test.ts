// alignc sweep --executor slurm against a real Slurm of one node on localhost (test/support/slurm.ts): a 4-trial
// sweep submitted as one job array, waited for, every result gathered; a failing trial reported with its log and
// resubmitted alone; alignc sweep status and cancel. Skips, saying why, where Slurm cannot be started.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { SweepSummary } from "../src/runtime/sweeps/local.ts";
import { batchScript } from "../src/runtime/sweeps/slurm.ts";
import { type LocalSlurm, startLocalSlurm } from "./support/slurm.ts";
import { sweepExperiment } from "./support/sweep-experiment.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-slurm-"));
const ALIGNC = path.resolve("bin/alignc.js");
let slurm: LocalSlurm | string = "not started";
before(async () => {
  slurm = await startLocalSlurm(path.join(dir, "cluster"));
});
after(() => {
  if (typeof slurm !== "string") slurm.stop();
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  } catch {
    // a daemon still finishing its last write: the directory is temporary
  }
});

function alignc(args: string[]) {
  const conf = typeof slurm === "string" ? "" : slurm.conf;
  const r = spawnSync(process.execPath, [ALIGNC, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1", SLURM_CONF: conf }, timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sweepOf = (d: string) => JSON.parse(readFileSync(path.join(d, "sweep.json"), "utf8")) as SweepSummary;

describe("alignc sweep --executor slurm", () => {
  test("four trials as one job array: every result gathered", { timeout: 600_000 }, async (t) => {
    if (typeof slurm === "string") return t.skip(slurm);
    const file = path.join(dir, "four.align");
    // Settings in the file (the time, an extra option) and on the command line (the partition).
    writeFileSync(
      file,
      sweepExperiment('sweep betas = grid {\n  over: { beta: [0.1, 0.2, 0.3, 0.4] }\n  slurm: { time: "00:10:00", sbatch: ["--comment=alignc-test"] }\n}'),
    );
    const sweepDir = path.join(dir, "four");
    const r = alignc(["sweep", file, "--executor", "slurm", "--wait", "--partition", "test", "--sweep-dir", sweepDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /submitted job array \d+: 4 tasks/);
    const s = sweepOf(sweepDir);
    assert.equal(s.executor, "slurm");
    assert.equal(s.jobs?.length, 1);
    assert.deepEqual(
      s.trials.map((x) => [x.ordinal, x.status, x.values.beta, x.job]),
      [0, 1, 2, 3].map((k) => [k, "ok", [0.1, 0.2, 0.3, 0.4][k], s.jobs![0]]),
    );
    for (const x of s.trials) assert.ok(x.evaluations?.check?.models.aligned?.pope, `trial ${x.ordinal} evaluated`);
    const script = readFileSync(path.join(sweepDir, readdirSync(sweepDir).find((f) => f.startsWith("submit-"))!), "utf8");
    assert.match(script, /#SBATCH --array=0,1,2,3\n/);
    assert.match(script, /#SBATCH --partition=test\n#SBATCH --time=00:10:00\n#SBATCH --comment=alignc-test\n/);
    // Status on a finished sweep: the same table, exit 0.
    const status = alignc(["sweep", "status", sweepDir]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /4 of 4 trials ok/);
  });

  test("a failing task is reported with its log and resubmitted alone; cancel", { timeout: 600_000 }, async (t) => {
    if (typeof slurm === "string") return t.skip(slurm);
    const file = path.join(dir, "failing.align");
    writeFileSync(file, sweepExperiment("sweep batches = grid { over: { batch: [4, 500] } }"));
    const sweepDir = path.join(dir, "failing");
    const r = alignc(["sweep", file, "--executor", "slurm", "--wait", "--sweep-dir", sweepDir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /✗ trial 1 failed; log .*1-t[0-9a-f]{10}\.log:\n.*batch 500 is larger than the \d+ examples of corrupted/s);
    assert.deepEqual(
      sweepOf(sweepDir).trials.map((x) => x.status),
      ["ok", "failed"],
    );
    // Resubmitted alone: a second job array with only trial 1; trial 0's result stays.
    const again = alignc(["sweep", file, "--executor", "slurm", "--wait", "--trials", "1", "--sweep-dir", sweepDir]);
    assert.equal(again.status, 1);
    const s = sweepOf(sweepDir);
    assert.equal(s.jobs?.length, 2);
    assert.deepEqual(
      s.trials.map((x) => [x.status, x.job]),
      [
        ["ok", s.jobs![0]],
        ["failed", s.jobs![1]],
      ],
    );
    // Held tasks (begin in an hour) are listed as pending, then cancelled.
    const held = path.join(dir, "held");
    const submitted = alignc(["sweep", file, "--executor", "slurm", "--sbatch=--begin=now+3600", "--sweep-dir", held]);
    assert.equal(submitted.status, 0, submitted.stderr);
    const pending = alignc(["sweep", "status", held]);
    assert.equal(pending.status, 1);
    assert.match(pending.stderr, /2 trials not finished yet: 0 \(pending\), 1 \(pending\)/);
    assert.equal(alignc(["sweep", "cancel", held]).status, 0);
    for (let i = 0; i < 20 && alignc(["sweep", "status", held]).stderr.includes("not finished"); i++) await new Promise((res) => setTimeout(res, 500));
    const cancelled = alignc(["sweep", "status", held]);
    assert.match(cancelled.stderr, /Slurm no longer lists task \d+_0 and it wrote no exit status \(cancelled/);
  });
});

test("the batch script asks each task for TF32 off when the sweep runs with it off (no Slurm needed)", () => {
  const submission = { entry: "/x/e.align", sweep: "s", trials: [{ ordinal: 0, id: "t0", values: {} }], dir: "/x/sw", store: "/x/st", alignc: "/x/alignc.js" };
  const saved = process.env.NVIDIA_TF32_OVERRIDE;
  try {
    delete process.env.NVIDIA_TF32_OVERRIDE;
    assert.doesNotMatch(batchScript({ ...submission, slurm: { gpusPerTask: 1 } }), /--tf32/);
    process.env.NVIDIA_TF32_OVERRIDE = "0";
    assert.match(batchScript({ ...submission, slurm: { gpusPerTask: 1 } }), / --device cuda --tf32 off > /);
  } finally {
    if (saved === undefined) delete process.env.NVIDIA_TF32_OVERRIDE;
    else process.env.NVIDIA_TF32_OVERRIDE = saved;
  }
});
