// `alignc run`: the execution-graph runtime end to end on tiny experiments — outputs in the content-addressed
// store, nothing recomputed when stored, only what depends on a change re-run, bit-identical results, failures
// that name the declaration and keep finished work, data files whose edits are noticed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { parse } from "yaml";
import { compile } from "../src/compiler/compile.ts";
import { loadCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { RunError, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { Store } from "../src/runtime/pipeline/store.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import { repoRoot } from "./support/align-files.ts";
import { cpuOnly, TEST_DEVICE } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-run-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const TINY = `align 1
param steps: int in 1..100 = 4
model base = tinyvlm { size: nano, seed: 1 }
dataset train = shapes { split: train, count: 40, seed: 1, bias: 80% }
dataset test = shapes { split: test, count: 10, seed: 2 }
phase vit = sft(base, train) { steps: \${steps}, batch: 8, steps_per_run: 3, optimizer: adamw { lr: 1e-3 } }
evaluate final { models: [base, vit], on: test, metrics: [pope, chair, recall, text_accuracy], max_tokens: 8 }
`;

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** Compiles and runs `file`; returns the outcomes and what was logged. */
async function run(file: string, runDir: string, options: { set?: string[]; force?: string[] } = {}) {
  const result = await compile(file, { set: options.set });
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const layout = new RunLayout(runDir);
  const outcomes = await runGraph(result.graph, { layout, entryAbsPath: path.resolve(file), device: TEST_DEVICE, log, force: options.force });
  return { outcomes, log: lines.join(""), layout, status: (id: string) => outcomes.find((o) => o.id === id)?.status };
}

describe("alignc run", () => {
  const file = write("tiny.align", TINY);
  const runDir = path.join(dir, "runs", "tiny");

  test("runs every node, stores outputs, writes lock, plan, metrics and evaluation tables", async () => {
    const r = await run(file, runDir);
    assert.deepEqual(
      r.outcomes.map((o) => [o.id, o.status]),
      [
        ["base", "ran"],
        ["train", "ran"],
        ["test", "ran"],
        ["vit", "ran"],
        ["final.answers.base", "ran"],
        ["final.answers.vit", "ran"],
        ["final", "ran"],
      ],
    );
    const vit = loadCheckpoint(r.layout.output("vit"));
    assert.equal(vit.config.size, "nano");
    const metrics = readFileSync(r.layout.metrics("vit"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      metrics.map((m) => m.step),
      [1, 2, 3, 4],
    ); // 3 steps per run, then a 1-step remainder program
    for (const m of metrics) for (const k of ["loss", "token_accuracy", "grad_norm", "learning_rate", "epoch"]) assert.ok(Number.isFinite(m[k]), k);
    const table = readFileSync(r.layout.evaluation("final", "md"), "utf8");
    assert.match(table, /\| metric \| base \| vit \|/);
    for (const row of ["POPE accuracy, adversarial", "CHAIR_i", "object recall", "text-only accuracy"]) assert.ok(table.includes(row), row);
    const evaluation = JSON.parse(readFileSync(r.layout.evaluation("final", "json"), "utf8"));
    assert.equal(evaluation.models.vit.pope.all.n, 2);
    const predictions = readFileSync(path.join(r.layout.output("final"), "predictions", "vit.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.equal(predictions.length, 10);
    // The evaluation's predictions are the answers node's, copied.
    assert.equal(
      readFileSync(path.join(r.layout.output("final"), "predictions", "vit.jsonl"), "utf8"),
      readFileSync(path.join(r.layout.output("final.answers.vit"), "predictions.jsonl"), "utf8"),
    );
    assert.deepEqual(Object.keys(JSON.parse(predictions[0] as string)), ["id", "task", "prompt", "answer", "prediction"]);
    assert.deepEqual(r.outcomes.find((o) => o.id === "final.answers.vit")?.summary, { items: 10, max_tokens: 8, answer_tokens: 8, capped_by_context: false });
    const lock = parse(readFileSync(r.layout.lock, "utf8"));
    assert.equal(lock.nodes.vit.status, "ran");
    assert.equal(lock.nodes.vit.key, r.outcomes[3]?.key);
    assert.equal(lock.nodes.train.settings.count, 40);
    assert.match(lock.code_sha256, /^[0-9a-f]{64}$/);
    assert.ok(existsSync(r.layout.plan));
    assert.ok(!existsSync(path.join(r.layout.store, ".staging")) || readdirSync(path.join(r.layout.store, ".staging")).length === 0);
  });

  test("a second run computes nothing and leaves the outputs as they were", async () => {
    const before = readFileSync(path.join(new RunLayout(runDir).output("vit"), "model.safetensors"));
    const r = await run(file, runDir);
    assert.ok(r.outcomes.every((o) => o.status === "cached"));
    assert.match(r.log, /vit \(train.sft\): stored [0-9a-f]{12}, not run again/);
    assert.deepEqual(readFileSync(path.join(r.layout.output("vit"), "model.safetensors")), before);
    assert.equal(parse(readFileSync(r.layout.lock, "utf8")).nodes.final.status, "cached");
  });

  test("changing a setting re-runs only the nodes that depend on it; the unchanged model is not asked again", async () => {
    const before = JSON.parse(readFileSync(new RunLayout(runDir).evaluation("final", "json"), "utf8"));
    const r = await run(file, runDir, { set: ["steps=5"] });
    assert.deepEqual(
      r.outcomes.map((o) => [o.id, o.status]),
      [
        ["base", "cached"],
        ["train", "cached"],
        ["test", "cached"],
        ["vit", "ran"],
        ["final.answers.base", "cached"],
        ["final.answers.vit", "ran"],
        ["final", "ran"],
      ],
    );
    assert.match(r.log, /final\.answers\.base \(eval\.answers\): stored [0-9a-f]{12}, not run again/);
    // Both models are still reported; base's figures are those of the first run.
    const after = JSON.parse(readFileSync(r.layout.evaluation("final", "json"), "utf8"));
    assert.deepEqual(Object.keys(after.models), ["base", "vit"]);
    assert.deepEqual(after.models.base, before.models.base);
    assert.equal(new Store(r.layout.store).keys().length, 10); // 7 + the new vit, its answers and final
  });

  test("--force re-runs a stored node; the same inputs give bit-identical weights", async () => {
    const layout = new RunLayout(runDir);
    const key = (await run(file, runDir)).outcomes.find((o) => o.id === "vit")!.key;
    const before = readFileSync(path.join(layout.output("vit"), "model.safetensors"));
    const r = await run(file, runDir, { force: ["vit"] });
    assert.equal(r.status("vit"), "ran");
    assert.equal(r.outcomes.find((o) => o.id === "vit")!.key, key);
    assert.deepEqual(readFileSync(path.join(layout.output("vit"), "model.safetensors")), before);
  });

  test("a run in a fresh directory reproduces the weights and the evaluation exactly", {
    skip: cpuOnly("bit-identical results: CUDA's reductions use atomics and TF32, so runs are not bit-reproducible"),
  }, async () => {
    const other = await run(file, path.join(dir, "runs", "again"));
    const first = new RunLayout(runDir);
    assert.deepEqual(
      readFileSync(path.join(other.layout.output("vit"), "model.safetensors")),
      readFileSync(path.join(first.output("vit"), "model.safetensors")),
    );
    assert.equal(readFileSync(other.layout.evaluation("final", "md"), "utf8"), readFileSync(first.evaluation("final", "md"), "utf8"));
  });

  test("a failing node names its declaration, keeps finished outputs, and the fixed rerun resumes", async () => {
    const bad = write("bad.align", TINY.replace("batch: 8", "batch: 64"));
    const runDir2 = path.join(dir, "runs", "bad");
    await assert.rejects(run(bad, runDir2), (e: RunError) => {
      assert.ok(e instanceof RunError);
      assert.match(e.message, /bad\.align:6:7: vit \(train\.sft\) failed: batch 64 is larger than the 40 examples of train; lower batch/);
      return true;
    });
    const lock = parse(readFileSync(path.join(runDir2, "align.lock"), "utf8"));
    assert.equal(lock.nodes.vit.status, "failed");
    assert.equal(lock.nodes.final.status, "not run");
    assert.equal(new Store(path.join(runDir2, "store")).keys().length, 3);
    writeFileSync(bad, TINY);
    const r = await run(bad, runDir2);
    assert.deepEqual(
      r.outcomes.map((o) => o.status),
      ["cached", "cached", "cached", "ran", "ran", "ran", "ran"],
    );
  });

  test("node kinds this runtime cannot run yet are refused by check, and by the runtime before anything runs", async () => {
    const file = write(
      "refused.align",
      `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 4, seed: 1 }
dataset samples = sample(base, pool) { n: 2, max_tokens: 4 }
model exported = onnx("exported.onnx") { tokenizer: "tokenizer.json" }
dataset other_samples = sample(exported, pool) { n: 2, max_tokens: 4 }
`,
    );
    const checked = await compile(file);
    assert.equal(checked.graph, undefined);
    assert.deepEqual(
      checked.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.span?.line}`),
      ["ALN3020 5"],
    );
    // A graph made elsewhere (another alignc's `plan --format json`) may still hold such a node: the runtime refuses it.
    const runnable = write(
      "refused-runnable.align",
      readFileSync(file, "utf8").replace(/onnx\("exported.onnx"\) \{[^}]*\}/, "tinyvlm { size: nano, seed: 2 }"),
    );
    const result = await compile(runnable);
    assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
    const exported = result.graph.nodes.find((n) => n.id === "exported");
    assert.ok(exported);
    exported.kind = "model.onnx";
    const runDir3 = path.join(dir, "runs", "refused");
    const log = new RunLog(undefined, { write: () => {}, isTTY: false });
    await assert.rejects(runGraph(result.graph, { layout: new RunLayout(runDir3), entryAbsPath: runnable, device: TEST_DEVICE, log }), (e: RunError) => {
      assert.match(e.message, /cannot run this node yet:\n {2}[^\n]*refused-runnable\.align:5:7: exported \(model\.onnx\)\n/);
      assert.match(e.message, /Nothing was run\./);
      assert.equal(e.code, "ALN7002");
      return true;
    });
    assert.equal(new Store(path.join(runDir3, "store")).keys().length, 0);
  });

  test("a dataset file in the world format is read, and editing it re-runs what uses it", async () => {
    writeWorld(path.join(dir, "mydata"), worldOptions({ split: "train", count: 12, seed: 5 }));
    const f = write(
      "files.align",
      `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset mine = file("mydata/items.jsonl") { kind: prompts }
phase tuned = sft(base, mine) { steps: 2, batch: 4 }
`,
    );
    const runDir4 = path.join(dir, "runs", "files");
    const first = await run(f, runDir4);
    assert.equal(first.outcomes.find((o) => o.id === "mine")?.summary.items, 12);
    assert.ok((await run(f, runDir4)).outcomes.every((o) => o.status === "cached"));
    const items = path.join(dir, "mydata", "items.jsonl");
    const lines = readFileSync(items, "utf8").trim().split("\n");
    writeFileSync(items, `${lines.slice(0, 10).join("\n")}\n`);
    const edited = await run(f, runDir4);
    assert.deepEqual(
      edited.outcomes.map((o) => o.status),
      ["cached", "ran", "ran"],
    );
    writeFileSync(items, `${lines[0]}\n{"id": "x", "prompt": 3}\n`);
    await assert.rejects(
      run(f, runDir4),
      /mydata\/items\.jsonl: 1 bad record; fix them and run again:\n {2}\S+mydata\/items\.jsonl:2: error\[ALN6010\]: field 'split' is missing/,
    );
  });

  test("the CLI prints the evaluation table on stdout and exits 1 with the reason on failure", () => {
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), "run", ...args], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    const ok = cli(["tiny.align"]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /## final on test\n\n\| model \| POPE acc \|/);
    assert.match(ok.stdout, /\n\nPOPE acc\/F1: .*\(higher is better\)/, "the table's legend");
    assert.match(ok.stdout, /Full tables \(POPE per split, .*\): \S*evaluations\/final\.md\n$/);
    assert.match(ok.stderr, /done: 0 nodes run, 7 already stored/);
    const bad = cli(["tiny.align", "--set", "steps=2", "--force", "nosuch"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--force names no node: nosuch/);
  });
});
