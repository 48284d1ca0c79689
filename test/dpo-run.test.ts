// Offline DPO through alignc run on nano: reward accuracy rises and margins grow on corrupted pairs; reference
// log-probs are computed once and cached by content (a phase whose answers are all cached loads no reference
// model); weights of two pair datasets; run-time errors name the phase and what to change.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { type RunError, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { TEST_DEVICE } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-dpo-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

async function run(file: string, runDir: string, set?: string[]) {
  const result = await compile(file, { set });
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const outcomes = await runGraph(result.graph, { layout: new RunLayout(runDir), entryAbsPath: path.resolve(file), device: TEST_DEVICE, log });
  return { outcomes, log: lines.join(""), summary: (id: string) => outcomes.find((o) => o.id === id)?.summary ?? {} };
}

const metrics = (runDir: string, id: string) =>
  readFileSync(path.join(runDir, "metrics", `${id}.jsonl`), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number>);
const avg = (rows: Record<string, number>[], key: string) => rows.reduce((a, r) => a + (r[key] as number), 0) / rows.length;

const BASE = `align 1
param count: int in 1..1000 = 24
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: \${count}, seed: 3, tasks: [describe, pope, count] }
dataset corrupted = corrupt(pool) { seed: 1 }
`;

describe("offline DPO through alignc run", () => {
  const file = write(
    "dpo.align",
    `${BASE}phase aligned = dpo(base, corrupted) {
  objective: { loss: sigmoid, beta: 0.1 }
  optimizer: adamw { lr: 2e-3 }
  steps: 40
  batch: 8
  steps_per_run: 10
}
`,
  );
  const runDir = path.join(dir, "runs", "dpo");

  test("reward accuracy rises and margins grow; metrics carry TRL's names", { timeout: 240_000 }, async () => {
    const r = await run(file, runDir);
    assert.equal(r.summary("aligned.reference").model_loaded, true);
    const rows = metrics(runDir, "aligned");
    assert.equal(rows.length, 40);
    for (const key of [
      "loss",
      "rewards/chosen",
      "rewards/rejected",
      "rewards/accuracies",
      "rewards/margins",
      "logps/chosen",
      "logps/rejected",
      "logits/chosen",
      "logits/rejected",
      "grad_norm",
      "learning_rate",
      "epoch",
      "tokens_per_second",
    ])
      assert.ok(Number.isFinite(rows[0]?.[key]), `${key} in ${JSON.stringify(rows[0])}`);
    const first = rows.slice(0, 5);
    const last = rows.slice(-5);
    assert.ok(avg(last, "rewards/accuracies") >= 0.8, `accuracy ${avg(last, "rewards/accuracies")}`);
    assert.ok(avg(last, "rewards/margins") > avg(first, "rewards/margins") + 0.1, `margins ${avg(first, "rewards/margins")} → ${avg(last, "rewards/margins")}`);
    assert.ok(avg(last, "loss") < avg(first, "loss"));
    // At step 1 the policy is the reference: rewards start at 0.
    assert.ok(Math.abs(rows[0]?.["rewards/chosen"] as number) < 1e-3);
  });

  test("a second phase on the same answers loads no reference model; new answers are scored alone", { timeout: 240_000 }, async () => {
    const again = write(
      "again.align",
      `${BASE}phase same = dpo(base, corrupted) { objective: { beta: 0.2, logps: mean }, steps: 2, batch: 4 }
dataset reordered = shuffle(corrupted) { seed: 5 }
phase other = dpo(base, reordered) { steps: 2, batch: 4 }
dataset more = shapes { split: train, count: 4, seed: 9, tasks: [count] }
dataset more_corrupted = corrupt(more) { seed: 1 }
dataset both = concat(corrupted, more_corrupted)
phase wider = dpo(base, both) { steps: 2, batch: 4 }
`,
    );
    // The same store: the cache lives there.
    const r = await run(again, runDir);
    // The same model and pairs: the same reference node, stored by the first phase (logps and β are not part of it).
    assert.equal(r.outcomes.find((o) => o.id === "same.reference")?.status, "cached");
    // The same answers in another pair set: a new node, whose answers all come from the store's cache.
    const other = r.summary("other.reference");
    assert.equal(other.model_loaded, false, JSON.stringify(other));
    assert.equal(other.computed, 0);
    assert.match(r.log, /reference log-probs were cached; base was not loaded/);
    const wider = r.summary("wider.reference");
    assert.equal(wider.model_loaded, true);
    assert.ok((wider.computed as number) > 0 && (wider.computed as number) <= 8, JSON.stringify(wider));
  });

  test("two pair datasets with gamma; errors that show only at run time", { timeout: 240_000 }, async () => {
    const gamma = write(
      "gamma.align",
      `${BASE}dataset other_corrupted = corrupt(pool) { seed: 2, ops: [object] }
phase combined = dpo(base, corrupted, other_corrupted) { gamma: 25%, steps: 2, batch: 4 }
phase one_a = dpo(base, corrupted, other_corrupted) { gamma: 10%, steps: 3, batch: 1, optimizer: sgd { lr: 0.1 } }
phase one_b = dpo(base, corrupted, other_corrupted) { gamma: 90%, steps: 3, batch: 1, optimizer: sgd { lr: 0.1 } }
phase too_big = dpo(base, corrupted) { batch: 500, steps: 1 }
`,
    );
    await assert.rejects(run(gamma, path.join(dir, "runs", "gamma")), (e: RunError) => {
      assert.match(e.message, /gamma\.align:\d+:\d+: too_big \(train\.dpo\) failed: batch 500 is larger than the \d+ examples of corrupted; lower batch/);
      assert.equal(e.code, "ALN7001");
      return true;
    });
    const done = await run(write("gamma-ok.align", readFileSync(gamma, "utf8").replace(/phase too_big.*\n/, "")), path.join(dir, "runs", "gamma"));
    assert.ok((done.summary("combined").pairs as number) > 24);
    // γ is each dataset's share of the loss even when a batch holds one pair (weights are not normalised per batch).
    const weightsOf = (id: string) => readFileSync(path.join(dir, "runs", "gamma", "outputs", id, "model.safetensors"));
    assert.ok(!weightsOf("one_a").equals(weightsOf("one_b")), "gamma changes training at batch 1");
  });

  test("precision fp16 trains with loss scaling; bf16 needs CUDA", { timeout: 240_000 }, async () => {
    const fp16 = write("fp16.align", `${BASE}phase half = dpo(base, corrupted) { precision: fp16, steps: 6, batch: 8, steps_per_run: 3 }\n`);
    const runDir = path.join(dir, "runs", "fp16");
    await run(fp16, runDir);
    const rows = metrics(runDir, "half");
    assert.equal(rows.length, 6);
    // 2^16 to start; no overflow on this model (a skipped step would halve it).
    assert.deepEqual(
      rows.map((r) => [r["amp/loss_scale"], r["amp/skipped"]]),
      rows.map(() => [65536, 0]),
    );
    assert.ok(rows.every((r) => Number.isFinite(r.loss) && (r.grad_norm ?? 0) > 0));
    const bf16 = write("bf16.align", `${BASE}phase brain = dpo(base, corrupted) { precision: bf16, steps: 2, batch: 8 }\n`);
    if (TEST_DEVICE === "cpu")
      await assert.rejects(run(bf16, path.join(dir, "runs", "bf16")), (e: RunError) => {
        assert.match(e.message, /brain \(train\.dpo\) failed: brain: precision bf16 needs CUDA .*run with --device cuda, or use precision fp16 or fp32 on CPU/);
        return true;
      });
    else {
      // ONNX Runtime's CUDA kernels decide: it trains, or it stops naming the op that has no bfloat16 kernel.
      const trained = await run(bf16, path.join(dir, "runs", "bf16")).then(
        () => true,
        (e: RunError) => {
          assert.match(e.message, /brain: precision bf16: ONNX Runtime's CUDA provider has no bfloat16 kernel for \w+, .*use precision fp16/);
          return false;
        },
      );
      if (trained) assert.ok(metrics(path.join(dir, "runs", "bf16"), "brain").every((r) => Number.isFinite(r.loss) && r["amp/loss_scale"] === 1));
    }
  });
});
