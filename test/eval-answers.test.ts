// An evaluated model's answers are a node of their own (eval.answers), keyed by the model, the data and the generation
// settings only: evaluations that ask a model the same questions share one node, and another run or sweep trial
// sharing the store does not ask an unchanged model again; eval.metrics only scores.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { type CompileOptions, compile, compileSync } from "../src/compiler/compile.ts";
import type { ExecutionGraph, GraphNode } from "../src/graph/graph.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { planStatus } from "../src/runtime/pipeline/runner/plan-status.ts";
import { runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { TEST_DEVICE, testDeviceKinds } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-answers-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SWEPT = `align 1
param lr: float in (0, 1] = 0.001
model base = tinyvlm { size: nano, seed: 1 }
dataset train = shapes { split: train, count: 16, seed: 1 }
dataset test = shapes { split: test, count: 6, seed: 2, tasks: [pope, text] }
phase tuned = sft(base, train) { steps: 2, batch: 8, optimizer: adamw { lr: \${lr} } }
evaluate check { models: [base, tuned], on: test, metrics: [pope, text_accuracy], max_tokens: 6 }
evaluate again { models: [base], on: test, metrics: [pope], max_tokens: 6 }
evaluate longer { models: [base], on: test, max_tokens: 7 }
sweep lrs = grid { over: { lr: [0.001, 0.002] } }
`;
const file = path.join(dir, "swept.align");
writeFileSync(file, SWEPT);

function graphOf(options: CompileOptions = {}): ExecutionGraph {
  const result = compileSync(file, options);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  return result.graph;
}

const node = (g: ExecutionGraph, id: string): GraphNode => {
  const found = g.nodes.find((n) => n.id === id);
  assert.ok(found, `no node ${id} in ${g.nodes.map((n) => n.id).join(", ")}`);
  return found;
};

describe("lowering", () => {
  test("one answers node per model, data and generation settings; evaluations share equal ones", () => {
    const g = graphOf();
    assert.deepEqual(
      g.nodes.filter((n) => n.kind === "eval.answers").map((n) => n.id),
      ["check.answers.base", "check.answers.tuned", "longer.answers.base"],
    );
    const answers = node(g, "check.answers.base");
    assert.equal(answers.produces, "answers");
    assert.deepEqual(answers.inputs, [
      { name: "model", node: "base" },
      { name: "data", node: "test" },
    ]);
    assert.deepEqual(answers.params, { max_tokens: 6, seed: 0, temperature: 0 });
    // The evaluation takes the answers and the data, and keeps only what scoring needs.
    assert.deepEqual(node(g, "check").inputs, [
      { name: "answers[0]", node: "check.answers.base" },
      { name: "answers[1]", node: "check.answers.tuned" },
      { name: "data", node: "test" },
    ]);
    assert.deepEqual(node(g, "check").params, { metrics: ["pope", "text_accuracy"] });
    // `again` asks base the same questions the same way: it uses check's node. `longer` asks for longer answers.
    assert.deepEqual(node(g, "again").inputs[0], { name: "answers[0]", node: "check.answers.base" });
    assert.deepEqual(node(g, "longer").inputs[0], { name: "answers[0]", node: "longer.answers.base" });
    // Every input comes before the node that uses it.
    const seen = new Set<string>();
    for (const n of g.nodes) {
      for (const i of n.inputs) assert.ok(seen.has(i.node), `${n.id} before its input ${i.node}`);
      seen.add(n.id);
    }
  });

  test("an answers node's hash covers its model, not the other models of the evaluation", () => {
    const [a, b] = [graphOf({ sweep: "lrs", trial: "0" }), graphOf({ sweep: "lrs", trial: "1" })];
    assert.equal(node(a, "check.answers.base").hash, node(b, "check.answers.base").hash);
    assert.notEqual(node(a, "check.answers.tuned").hash, node(b, "check.answers.tuned").hash);
    assert.notEqual(node(a, "check").hash, node(b, "check").hash);
    // Settings that shape the answers are part of it.
    const onDevice = path.join(dir, "device.align");
    writeFileSync(onDevice, SWEPT.replace("max_tokens: 6 }\nevaluate again", "max_tokens: 6, device: cpu }\nevaluate again"));
    const d = compileSync(onDevice, {});
    assert.ok(d.graph, d.diagnostics.map((x) => x.message).join("\n"));
    assert.deepEqual(node(d.graph, "check.answers.base").params, { device: "cpu", max_tokens: 6, seed: 0, temperature: 0 });
    assert.notEqual(node(d.graph, "check.answers.base").hash, node(a, "check.answers.base").hash);
  });
});

describe("running", () => {
  /** Runs one trial of the sweep in its own run directory on a shared store, as `alignc sweep` does. */
  const layoutOf = (trial: string) => new RunLayout(path.join(dir, "trials", trial), path.join(dir, "store"));
  async function runTrial(trial: string) {
    const result = await compile(file, { sweep: "lrs", trial });
    assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
    const lines: string[] = [];
    const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
    const layout = layoutOf(trial);
    const outcomes = await runGraph(result.graph, { layout, entryAbsPath: file, device: TEST_DEVICE, log });
    const evaluation = (id: string) => JSON.parse(readFileSync(layout.evaluation(id, "json"), "utf8"));
    return { outcomes, log: lines.join(""), layout, evaluation, status: (id: string) => outcomes.find((o) => o.id === id)?.status };
  }

  test("two trials sharing a store: the unchanged model answers once, and both evaluations report it the same", { timeout: 300_000 }, async () => {
    const first = await runTrial("0");
    assert.ok(first.outcomes.every((o) => o.status === "ran"));
    // Three answers nodes (check's two, longer's): `again` scores check's answers of base.
    assert.equal((first.log.match(/▶ [\w.]+ \(eval\.answers\)/g) ?? []).length, 3);
    assert.deepEqual(first.evaluation("again").models.base.pope, first.evaluation("check").models.base.pope);

    // alignc plan for the second trial: base's answers are stored, tuned's will be made.
    const planned = graphOf({ sweep: "lrs", trial: "1" });
    const statuses = planStatus(planned, layoutOf("1"), EXECUTORS, dir, await testDeviceKinds(planned));
    const stored = (id: string) => statuses.find((st) => st.id === id)?.stored;
    assert.deepEqual([stored("check.answers.base"), stored("longer.answers.base"), stored("check.answers.tuned")], [true, true, false]);

    const second = await runTrial("1");
    assert.deepEqual(
      second.outcomes.filter((o) => o.status === "ran").map((o) => o.id),
      ["tuned", "check.answers.tuned", "check"],
    );
    // base's answers are the stored ones; evaluations of base alone are not even scored again.
    assert.equal(second.status("check.answers.base"), "cached");
    assert.equal(second.status("longer.answers.base"), "cached");
    assert.equal(second.status("again"), "cached");
    assert.doesNotMatch(second.log, /▶ check\.answers\.base/);
    // The evaluations still report every model; base's figures and answers are the first trial's.
    const [a, b] = [first.evaluation("check"), second.evaluation("check")];
    assert.deepEqual(Object.keys(b.models), ["base", "tuned"]);
    assert.deepEqual(b.models.base, a.models.base);
    const predictions = (l: RunLayout) => readFileSync(path.join(l.output("check"), "predictions", "base.jsonl"), "utf8");
    assert.equal(predictions(second.layout), predictions(first.layout));
    // The run directory links the answers node to the shared entry.
    assert.match(readFileSync(path.join(second.layout.output("check.answers.base"), "predictions.jsonl"), "utf8"), /"prediction":/);
  });
});
