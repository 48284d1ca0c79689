// Sweeps on this machine: `alignc sweep --workers N` runs each trial as its own process on one shared store, the
// nodes trials share are computed once (claims: one trial computes, the others wait), a failing trial is reported
// with its log and can be run again alone; and the claims themselves (waiting, taking over a dead process's claim).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { KeyClaims } from "../src/runtime/pipeline/claims.ts";
import { Store } from "../src/runtime/pipeline/store.ts";
import { renderSweepSummary, type SweepSummary, type TrialOutcome } from "../src/runtime/sweeps/local.ts";
import { TEST_DEVICE } from "./support/device.ts";
import { sweepExperiment } from "./support/sweep-experiment.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-sweep-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ALIGNC = path.resolve("bin/alignc.js");

describe("key claims", () => {
  const store = new Store(path.join(dir, "claims-store"));
  const key = "ab".repeat(32);
  const claimFile = path.join(store.root, ".claims", `${key}.json`);
  const storeEntry = () => {
    mkdirSync(store.dir(key), { recursive: true });
    writeFileSync(path.join(store.dir(key), "node.json"), "{}");
  };

  test("a live holder is waited for until its entry is stored; then the key counts as stored", async () => {
    mkdirSync(path.dirname(claimFile), { recursive: true });
    // The parent of this test process is alive and not us: a claim held by another live process.
    writeFileSync(claimFile, JSON.stringify({ pid: process.ppid, host: os.hostname(), started: "" }));
    const waited: number[] = [];
    setTimeout(storeEntry, 300);
    const t0 = Date.now();
    assert.equal(await new KeyClaims(store, 20).acquire(key, (h) => waited.push(h.pid)), "stored");
    assert.deepEqual(waited, [process.ppid]);
    assert.ok(Date.now() - t0 >= 250);
    rmSync(store.dir(key), { recursive: true });
    rmSync(claimFile);
  });

  test("a claim of a process that is gone, or a torn one, is taken over; release removes only one's own", async () => {
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(claimFile, JSON.stringify({ pid: Number(gone.stdout), host: os.hostname(), started: "" }));
    const claims = new KeyClaims(store, 20);
    assert.equal(await claims.acquire(key, () => assert.fail("nothing to wait for")), "claimed");
    assert.equal(JSON.parse(readFileSync(claimFile, "utf8")).pid, process.pid);
    claims.release(key);
    assert.ok(!existsSync(claimFile));
    // Torn: unreadable and older than a few seconds.
    writeFileSync(claimFile, '{"pid": 12');
    const old = new Date(Date.now() - 60_000);
    utimesSync(claimFile, old, old);
    assert.equal(await claims.acquire(key, () => {}), "claimed");
    claims.release(key);
    // Another host's claim is not ours to remove.
    writeFileSync(claimFile, JSON.stringify({ pid: process.pid, host: "elsewhere", started: "" }));
    claims.release(key);
    assert.ok(existsSync(claimFile));
    rmSync(claimFile);
  });
});

function sweep(file: string, args: string[]) {
  const r = spawnSync(process.execPath, [ALIGNC, "sweep", file, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ALIGNC_DEVICE: TEST_DEVICE },
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Checks that every Markdown table in `md` is well formed (GitHub's rules): a delimiter row right under the header with
 * as many cells, and every body row with as many cells too (`\|` is a pipe inside a cell). Returns the tables' rows.
 */
function assertTables(md: string): string[][][] {
  const cells = (line: string) =>
    line
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  const tables: string[][][] = [];
  const lines = md.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]?.startsWith("|")) continue;
    const rows: string[][] = [];
    for (; lines[i]?.startsWith("|"); i++) {
      assert.match(lines[i] as string, /^\|.*\|$/, `line ${i + 1} starts and ends with a pipe`);
      rows.push(cells(lines[i] as string));
    }
    const [header, delimiter, ...body] = rows;
    assert.ok(header && delimiter, md);
    assert.ok(
      delimiter.every((c) => /^:?-{3,}:?$/.test(c)),
      `delimiter row: ${delimiter.join(" | ")}`,
    );
    assert.equal(delimiter.length, header.length, `delimiter cells = header cells in\n${md}`);
    assert.ok(
      header.every((c) => c !== ""),
      `no empty header cell: ${header.join(" | ")}`,
    );
    for (const r of body) assert.equal(r.length, header.length, `row ${r.join(" | ")} has the header's ${header.length} cells`);
    tables.push([header, ...body]);
  }
  return tables;
}

const trialLogs = (sweepDir: string, s: SweepSummary) =>
  s.trials.map((t) => readFileSync(path.join(t.runDir, "logs", "run.log"), "utf8")).join("\n") + sweepDir.slice(0, 0);
const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

describe("alignc sweep --workers", () => {
  test("four trials, two at a time: shared nodes computed once, every result gathered", { timeout: 600_000 }, async () => {
    const file = path.join(dir, "four.align");
    writeFileSync(file, sweepExperiment("sweep betas = grid { over: { beta: [0.1, 0.2, 0.3, 0.4] } }"));
    const sweepDir = path.join(dir, "sweep-four");
    const listed = spawnSync(process.execPath, [ALIGNC, "expand", file], { encoding: "utf8" });
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /4 trials\n$/);
    const r = sweep(file, ["--workers", "2", "--sweep-dir", sweepDir]);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(readFileSync(path.join(sweepDir, "sweep.json"), "utf8")) as SweepSummary;
    assert.deepEqual(
      s.trials.map((t) => [t.ordinal, t.status, t.values.beta]),
      [
        [0, "ok", 0.1],
        [1, "ok", 0.2],
        [2, "ok", 0.3],
        [3, "ok", 0.4],
      ],
    );
    // Every trial evaluated its own model.
    for (const t of s.trials) assert.ok(t.evaluations?.check?.models.aligned?.pope, `trial ${t.ordinal} has its evaluation`);
    const logs = trialLogs(sweepDir, s);
    // The model, the data and the corrupted pairs: computed by one trial each, used by all four.
    assert.equal(count(logs, /▶ base \(model\.init\)/g), 1);
    assert.equal(count(logs, /▶ corrupted \(stage\.corrupt\)/g), 1);
    assert.equal(count(logs, /▶ aligned\.reference /g), 1, "the reference log-probs do not depend on beta");
    assert.equal(count(logs, /▶ aligned \(train\.dpo\)/g), 4);
    // One table with the swept values and each trial's figures.
    const summary = readFileSync(path.join(sweepDir, "summary.md"), "utf8");
    assert.match(summary, /## Sweep betas of four\.align: 4 of 4 trials ok/);
    assert.equal(count(summary, /\| ok \|/g), 4);
    assert.match(summary, /POPE acc/);
    assert.equal(r.stdout.trim(), summary.trim());

    // alignc compare on two trials: the swept setting, the trial values, training and evaluation side by side.
    const html = path.join(dir, "compare.html");
    const cmp = spawnSync(process.execPath, [ALIGNC, "compare", s.trials[0]!.runDir, s.trials[3]!.runDir, "--html", html], { encoding: "utf8" });
    assert.equal(cmp.status, 0, cmp.stderr);
    // The same comparison as a page: the changed setting listed, training and evaluations as sortable tables.
    const page = readFileSync(html, "utf8");
    assert.match(page, /<section id="settings"><h2>Settings<\/h2><ul><li>aligned: objective\.beta: 0\.1 → 0\.4<\/li><\/ul>/);
    assert.match(page, /<section id="training">.*<table class="sortable">.*<td>aligned<\/td><td>loss<\/td>/s);
    assert.match(page, /<section id="evaluations">.*<td>POPE acc<\/td>/s);
    assert.match(cmp.stdout, /## Settings\n\n- aligned: objective\.beta: 0\.1 → 0\.4\n\n## Trials/);
    assert.match(cmp.stdout, /- B: .*betas trial 3 \(t[0-9a-f]{10}\): \{"beta":0\.4\}/);
    assert.match(cmp.stdout, /\| aligned \| loss \| [\d.]+ \| [\d.]+ \|/);
    assert.match(cmp.stdout, /\| check \| aligned \| POPE acc \| [\d.]+% \| [\d.]+% \|/);
    const notRun = spawnSync(process.execPath, [ALIGNC, "compare", s.trials[0]!.runDir, dir], { encoding: "utf8" });
    assert.equal(notRun.status, 1);
    assert.match(notRun.stderr, /is not a run directory: it has no plan\.json/);
  });

  test("a failing trial is reported with its log, the sweep exits 1, and it can be run again alone", { timeout: 600_000 }, async () => {
    const file = path.join(dir, "failing.align");
    writeFileSync(file, sweepExperiment("sweep batches = grid { over: { batch: [4, 500] } }"));
    const sweepDir = path.join(dir, "sweep-failing");
    const r = sweep(file, ["--workers", "2", "--sweep-dir", sweepDir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /✗ trial 1 failed \(exit 1\); log .*1-t[0-9a-f]{10}\.log:\n.*batch 500 is larger than the \d+ examples of corrupted/s);
    assert.match(r.stderr, /1 trial failed: 1\. Fix the cause and run again with --trials 1/);
    const s = JSON.parse(readFileSync(path.join(sweepDir, "sweep.json"), "utf8")) as SweepSummary;
    assert.deepEqual(
      s.trials.map((t) => t.status),
      ["ok", "failed"],
    );
    // The summary table stays a table: the failed trial's row has every cell, and its cause is listed below.
    const summary = readFileSync(path.join(sweepDir, "summary.md"), "utf8");
    const [table] = assertTables(summary);
    assert.deepEqual(table?.[2]?.slice(0, 4), ["1", s.trials[1]?.id, "500", "failed"]);
    assert.match(summary, /\n- trial 1 \(t[0-9a-f]{10}\), exit 1: error\[ALN7001\]: .*batch 500 is larger than the \d+ examples of corrupted/);
    // Alone again: only trial 1 runs, and everything it shares with trial 0 is stored.
    const again = sweep(file, ["--sweep-dir", sweepDir, "--trials", "1"]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /sweep batches: 1 of 2 trials/);
    const log = readFileSync(path.join(sweepDir, "trials", s.trials[1]!.runDir.split(path.sep).at(-1)!, "logs", "run.log"), "utf8");
    assert.match(log, /· corrupted \(stage\.corrupt\): stored/);
    // sweep.json keeps trial 0's result from the first run and has trial 1's new one.
    const merged = JSON.parse(readFileSync(path.join(sweepDir, "sweep.json"), "utf8")) as SweepSummary;
    assert.deepEqual(
      merged.trials.map((t) => [t.ordinal, t.status]),
      [
        [0, "ok"],
        [1, "failed"],
      ],
    );
    assert.equal(merged.started, s.started);
    assert.ok(merged.trials[0]!.evaluations && Object.keys(merged.trials[0]!.evaluations).length > 0);
    // A --trials entry that names no trial is a usage error.
    const bad = sweep(file, ["--sweep-dir", sweepDir, "--trials", "7"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--trials: no trial '7' \(the sweep has ordinals 0–1/);
  });
});

describe("the summary table", () => {
  const trial = (ordinal: number, status: TrialOutcome["status"], extra: Partial<TrialOutcome> = {}): TrialOutcome => ({
    ordinal,
    id: `t${String(ordinal).repeat(10)}`,
    values: { beta: 0.1 * (ordinal + 1), objective: "a|b" },
    status,
    runDir: `/sweep/trials/${ordinal}`,
    log: `/sweep/logs/${ordinal}.log`,
    ...extra,
  });
  const pope = { missing: 0, pope: { all: { n: 4, accuracy: 0.5, precision: 0.5, recall: 0.5, f1: 0.5, yesRatio: 0.5, unparseable: 0 }, splits: {} } };
  const summary = (trials: TrialOutcome[]): SweepSummary => ({
    format: "alignc-sweep",
    version: 1,
    entry: "/x/exp.align",
    sweep: "betas",
    store: "/x/store",
    started: "",
    trials,
  });
  const failedOutput =
    "▶ aligned (train.dpo)\nerror: exp.align:7:7: aligned (train.dpo) failed: batch 500 | too large\nOutputs finished before it are kept in store";

  test("a failed trial's row has every cell; its cause is listed under the table", () => {
    const md = renderSweepSummary(
      summary([
        trial(0, "ok", { seconds: 3, exitCode: 0, evaluations: { check: { data: "probe", metrics: ["pope"], models: { aligned: pope } } as never } }),
        trial(1, "failed", { seconds: 2, exitCode: 1, error: failedOutput, evaluations: {} }),
        trial(2, "pending"),
      ]),
    );
    const [table] = assertTables(md);
    assert.deepEqual(table?.[0], ["trial", "id", "beta", "objective", "status", "time", "model", "POPE acc", "POPE F1"]);
    assert.deepEqual(table?.[2], ["1", "t1111111111", "0.2", "a\\|b", "failed", "2.0 s", "–", "–", "–"]);
    assert.deepEqual(table?.[3], ["2", "t2222222222", "0.30000000000000004", "a\\|b", "pending", "–", "–", "–", "–"]);
    assert.match(md, /\n\nFailed:\n\n- trial 1 \(t1111111111\), exit 1: error: exp\.align:7:7: aligned \(train\.dpo\) failed: batch 500 \| too large$/);
  });

  test("when every trial failed there are no figure columns, and still a table", () => {
    const md = renderSweepSummary(summary([trial(0, "failed", { exitCode: 1, error: failedOutput }), trial(1, "failed", { exitCode: null })]));
    const [table] = assertTables(md);
    assert.deepEqual(table?.[0], ["trial", "id", "beta", "objective", "status", "time", "model"]);
    assert.equal(table?.length, 3);
    assert.match(md, /0 of 2 trials ok/);
    assert.match(md, /- trial 1 \(t1111111111\): no output$/);
  });
});
