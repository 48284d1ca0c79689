// Checkpoints and exact resume of training phases (docs/checkpoints.md): a run killed with SIGKILL after a
// checkpoint, continued with `alignc run --resume`, ends with the model.safetensors bytes and the metrics of an
// uninterrupted run, for SFT and DPO; without --resume an existing checkpoint stops the phase and nothing is
// deleted; --force starts over; a checkpoint directory is a TinyVLM checkpoint another .align file can use.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { decodeParams } from "../src/graph/params.ts";
import { loadCheckpoint } from "../src/runtime/models/checkpoint.ts";
import {
  CHECKPOINTS_DIR,
  checkpointsIn,
  stepsPerRunFor,
  TRAINER_INFO_FILE,
  TRAINER_STATE_FILE,
  TrainingCheckpoints,
} from "../src/runtime/pipeline/checkpoints.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { loopOf, trainingSettings } from "../src/runtime/pipeline/executors/training-settings.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import type { NodeExecutor } from "../src/runtime/pipeline/node-executor.ts";
import { planStatus } from "../src/runtime/pipeline/runner/plan-status.ts";
import { RunError, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { repoRoot } from "./support/align-files.ts";
import { cpuOnly, TEST_DEVICE, testDeviceKinds } from "./support/device.ts";

import { failingAfterStep, fakeContext, graphNode } from "./support/exec-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-resume-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = path.join(repoRoot, "bin/alignc.js");

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

async function run(file: string, runDir: string, o: { resume?: boolean; force?: string[]; executors?: ReadonlyMap<string, NodeExecutor> } = {}) {
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const outcomes = await runGraph(result.graph, { layout: new RunLayout(runDir), entryAbsPath: path.resolve(file), device: TEST_DEVICE, log, ...o });
  return { outcomes, log: lines.join(""), status: (id: string) => outcomes.find((x) => x.id === id)?.status };
}

const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8", timeout: 120_000 });

/** Metrics rows without tokens_per_second, the one value that depends on timing. */
const metricsOf = (file: string) =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const { tokens_per_second: _, ...rest } = JSON.parse(l) as Record<string, number>;
      return rest;
    });

const weights = (runDir: string, id: string) => readFileSync(path.join(runDir, "outputs", id, "model.safetensors"));
const scratchOf = (runDir: string) => {
  const partial = path.join(runDir, "store", ".partial");
  return existsSync(partial) ? readdirSync(partial).map((k) => path.join(partial, k)) : [];
};

/**
 * Starts `alignc run FILE` in its own process group, waits for the phase's first checkpoint to appear in the run
 * directory and kills the group with SIGKILL, as a crash would.
 */
async function killAfterCheckpoint(file: string, runDir: string, phase: string): Promise<void> {
  const child: ChildProcess = spawn(process.execPath, [bin, "run", file, "--run-dir", runDir], { cwd: dir, detached: true, stdio: "ignore" });
  const exited = new Promise<string | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  const first = path.join(runDir, CHECKPOINTS_DIR, phase, "step-4");
  const deadline = Date.now() + 120_000;
  let done: string | number | null | undefined;
  void exited.then((v) => {
    done = v;
  });
  while (!existsSync(first) && done === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(existsSync(first), `no checkpoint appeared (the run ended with ${String(done)})`);
  process.kill(-(child.pid as number), "SIGKILL");
  assert.equal(await exited, "SIGKILL");
  assert.ok(!existsSync(path.join(runDir, "outputs", phase)), "the phase finished before it was killed; make it longer");
}

const SFT = `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset train = shapes { split: train, count: 16, seed: 1 }
phase tuned = sft(base, train) { steps: 24, batch: 4, steps_per_run: 4, checkpoint_every: 4, optimizer: adamw { lr: 1e-3 } }
`;

const DPO = `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 12, seed: 3, tasks: [describe, pope, count] }
dataset corrupted = corrupt(pool) { seed: 1 }
phase aligned = dpo(base, corrupted) { steps: 16, batch: 4, steps_per_run: 4, checkpoint_every: 4, optimizer: adamw { lr: 2e-3 } }
`;

describe("SFT: SIGKILL after a checkpoint, then alignc run --resume", () => {
  const file = write("sft.align", SFT);
  const clean = path.join(dir, "runs", "sft-clean");
  const killed = path.join(dir, "runs", "sft-killed");

  test("an uninterrupted run keeps no checkpoints once the entry is stored", { timeout: 120_000 }, async () => {
    const r = await run(file, clean);
    assert.equal(r.status("tuned"), "ran");
    for (const step of [4, 8, 12, 16, 20]) assert.match(r.log, new RegExp(`tuned: checkpoint at step ${step} → `));
    assert.doesNotMatch(r.log, /checkpoint at step 24/, "the final weights are the store entry");
    assert.deepEqual(scratchOf(clean), [], "the scratch directory goes with the stored entry");
    assert.ok(!existsSync(path.join(clean, CHECKPOINTS_DIR)), "and so do the run directory's links");
    assert.equal(metricsOf(path.join(clean, "metrics", "tuned.jsonl")).length, 24);
  });

  test("killed, refused without --resume, resumed: the same weights and metrics", {
    skip: cpuOnly("bit-identical results: CUDA's reductions use atomics and TF32, so runs are not bit-reproducible"),
    timeout: 180_000,
  }, async () => {
    await killAfterCheckpoint(file, killed, "tuned");
    const [scratch] = scratchOf(killed);
    assert.ok(scratch);
    const kept = checkpointsIn(scratch);
    assert.ok(kept.length >= 1 && kept.length <= 2, `${kept.length} checkpoints kept`);
    const latest = kept[0]?.step as number;
    // The run directory shows the kept checkpoints, as links into the scratch directory.
    const links = readdirSync(path.join(killed, CHECKPOINTS_DIR, "tuned")).sort();
    assert.deepEqual(links, kept.map((k) => `step-${k.step}`).sort());
    assert.ok(lstatSync(path.join(killed, CHECKPOINTS_DIR, "tuned", `step-${latest}`)).isSymbolicLink());
    const info = JSON.parse(readFileSync(path.join(scratch, CHECKPOINTS_DIR, `step-${latest}`, TRAINER_INFO_FILE), "utf8"));
    assert.equal(info.step, latest);
    assert.equal(info.runs_done, latest / 4);
    assert.equal(info.metrics_rows, latest);
    assert.equal(info.key, path.basename(scratch));

    const graph = (await compile(file)).graph;
    assert.ok(graph);
    const status = planStatus(graph, new RunLayout(killed), EXECUTORS, dir, await testDeviceKinds(graph)).find((s) => s.id === "tuned");
    assert.deepEqual(status?.reasons, [
      "not finished by the latest run (it failed or was stopped)",
      `checkpoint at step ${latest} kept; alignc run --resume continues from it`,
    ]);

    const refused = cli(["run", file, "--run-dir", killed]);
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `tuned \\(train\\.sft\\) failed: tuned has a checkpoint at step ${latest} from an interrupted run; run again with --resume to continue from it, or with --force tuned to start over`,
      ),
    );
    assert.match(refused.stderr, /^error\[ALN7003\]: /m);
    assert.doesNotMatch(refused.stderr, /run the same command again/);
    assert.equal(checkpointsIn(scratch)[0]?.step, latest, "nothing is deleted");

    const resumed = cli(["run", file, "--run-dir", killed, "--resume"]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`tuned: resuming from the checkpoint at step ${latest} of 24`));
    assert.ok(weights(killed, "tuned").equals(weights(clean, "tuned")), "model.safetensors differs from the uninterrupted run's");
    assert.deepEqual(metricsOf(path.join(killed, "metrics", "tuned.jsonl")), metricsOf(path.join(clean, "metrics", "tuned.jsonl")));
    assert.deepEqual(metricsOf(path.join(killed, "outputs", "tuned", "metrics.jsonl")), metricsOf(path.join(clean, "outputs", "tuned", "metrics.jsonl")));
    assert.deepEqual(scratchOf(killed), []);
    assert.ok(!existsSync(path.join(killed, CHECKPOINTS_DIR)));
  });

  test("a phase that fails after a checkpoint says so; --force deletes the checkpoints and starts over", { timeout: 120_000 }, async () => {
    const failed = path.join(dir, "runs", "sft-failed");
    // A train.sft whose metrics sink throws at step 9: the checkpoint at step 8 is complete by then.
    const failing = failingAfterStep(EXECUTORS, "train.sft", 8);
    await assert.rejects(run(file, failed, { executors: failing }), (e: RunError) => {
      assert.ok(e instanceof RunError);
      assert.match(e.message, /the machine went away/);
      assert.match(e.message, /tuned's checkpoint at step 8 is kept; run again with --resume to continue from it/);
      assert.equal(e.rerun, false);
      return true;
    });
    const [scratch] = scratchOf(failed);
    assert.deepEqual(
      checkpointsIn(scratch as string).map((c) => c.step),
      [8, 4],
    );
    const forced = await run(file, failed, { force: ["tuned"] });
    assert.match(forced.log, /tuned: --force: deleted 2 checkpoints of an earlier attempt, starting over/);
    assert.doesNotMatch(forced.log, /resuming/);
    assert.match(forced.log, /tuned: checkpoint at step 4 → /);
    // Bit-identical on CPU; CUDA's reductions and TF32 make reruns differ in the last bits.
    if (TEST_DEVICE === "cpu") assert.ok(weights(failed, "tuned").equals(weights(clean, "tuned")));
    assert.deepEqual(scratchOf(failed), []);
  });
});

describe("DPO: SIGKILL after a checkpoint, then --resume", () => {
  const file = write("dpo.align", DPO);
  const clean = path.join(dir, "runs", "dpo-clean");
  const killed = path.join(dir, "runs", "dpo-killed");

  test("the resumed phase ends with the weights and metrics of an uninterrupted one", {
    skip: cpuOnly("bit-identical results: CUDA's reductions use atomics and TF32, so runs are not bit-reproducible"),
    timeout: 240_000,
  }, async () => {
    await run(file, clean);
    await killAfterCheckpoint(file, killed, "aligned");
    const [scratch] = scratchOf(killed);
    const latest = checkpointsIn(scratch as string)[0];
    assert.ok(latest);
    await assert.rejects(run(file, killed), /aligned has a checkpoint at step \d+ from an interrupted run; run again with --resume/);
    const r = await run(file, killed, { resume: true });
    assert.equal(r.status("aligned.reference"), "cached", "the reference log-probs were stored before the kill");
    assert.match(r.log, new RegExp(`aligned: resuming from the checkpoint at step ${latest.step} of 16`));
    assert.equal(r.outcomes.find((o) => o.id === "aligned")?.summary.resumed_from_step, latest.step);
    assert.ok(weights(killed, "aligned").equals(weights(clean, "aligned")), "model.safetensors differs from the uninterrupted run's");
    const rows = metricsOf(path.join(killed, "metrics", "aligned.jsonl"));
    assert.equal(rows.length, 16);
    assert.deepEqual(rows, metricsOf(path.join(clean, "metrics", "aligned.jsonl")));
    assert.deepEqual(scratchOf(killed), []);
  });
});

test("a checkpoint directory is a TinyVLM checkpoint another .align file can use", { timeout: 120_000 }, async () => {
  const runDir = path.join(dir, "runs", "ck-model");
  const file = write("ck.align", SFT.replace("steps: 24", "steps: 8"));
  // Stop after the checkpoint at step 4 (a failure, so the scratch directory stays).
  const real = EXECUTORS.get("train.sft") as NodeExecutor;
  const failing = new Map(EXECUTORS);
  failing.set("train.sft", {
    ...real,
    run: (ctx, settings) =>
      real.run(
        {
          ...ctx,
          metrics(rows) {
            if (rows.some((r) => (r as { step: number }).step > 4)) throw new Error("stop");
            ctx.metrics(rows);
          },
        },
        settings,
      ),
  });
  await assert.rejects(run(file, runDir, { executors: failing }));
  const link = path.join(runDir, CHECKPOINTS_DIR, "tuned", "step-4");
  const ck = loadCheckpoint(link);
  assert.equal(ck.config.size, "nano");
  assert.ok(existsSync(path.join(link, TRAINER_STATE_FILE)));
  const user = write("uses-checkpoint.align", `align 1\nmodel from_checkpoint = checkpoint(${JSON.stringify(link)})\n`);
  const used = await run(user, path.join(dir, "runs", "uses-checkpoint"));
  assert.equal(used.status("from_checkpoint"), "ran");
  assert.ok(
    readFileSync(path.join(dir, "runs", "uses-checkpoint", "outputs", "from_checkpoint", "model.safetensors")).equals(
      readFileSync(path.join(link, "model.safetensors")),
    ),
  );
});

test("steps per run divide checkpoint_every, so runs end where checkpoints are taken", () => {
  assert.equal(stepsPerRunFor(undefined, 100, 25), 25);
  assert.equal(stepsPerRunFor(100, 1000, 25), 25);
  assert.equal(stepsPerRunFor(30, 1000, 25), 15);
  assert.equal(stepsPerRunFor(4, 12, 25), 4);
  assert.equal(stepsPerRunFor(7, 100, 4), 1);
  assert.equal(stepsPerRunFor(50, 40, 25), 25, "no checkpoint before the last step: K as asked");
  const sft = (params: Record<string, unknown>) => trainingSettings(decodeParams("train.sft", params));
  const loop = loopOf(sft({ steps: 100, batch: 4, steps_per_run: 25, checkpoint_every: 30 }), 16, "d");
  assert.equal(loop.stepsPerRun, 15);
  assert.equal(loop.checkpointEvery, 30);
  assert.match(loop.stepsPerRunNote ?? "", /15 steps per run instead of 25/);
  assert.equal(loopOf(sft({ steps: 100, batch: 4, steps_per_run: 25, checkpoint_every: 50 }), 16, "d").stepsPerRunNote, undefined);
});

test("a phase being trained by another live run in the same store is not taken over; a dead run's claim is", () => {
  const scratch = mkdtempSync(path.join(tmpdir(), "alignc-claim-"));
  try {
    const ctx = fakeContext({ node: graphNode("train.sft", {}, "vit"), out: path.join(scratch, "out"), entryDir: scratch, scratch });
    const plan = { every: 4, steps: 8, stepsPerRun: 4 };
    // The parent of this process is alive and is not this process.
    writeFileSync(path.join(scratch, "owner.json"), JSON.stringify({ pid: process.ppid }));
    assert.throws(() => new TrainingCheckpoints(ctx, plan).start(), /vit is being trained by another alignc run \(pid \d+\) in the same store/);
    // A pid no process has.
    writeFileSync(path.join(scratch, "owner.json"), JSON.stringify({ pid: 4_194_303 }));
    assert.equal(new TrainingCheckpoints(ctx, plan).start(), undefined);
    assert.equal(JSON.parse(readFileSync(path.join(scratch, "owner.json"), "utf8")).pid, process.pid);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
