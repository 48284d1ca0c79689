// The execution graph records which params of a node the file did not write (`defaults`, dotted paths into params):
// their values are the constructor's defaults. Reports mark them (test/report.test.ts); they are not part of hashes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import type { ExecutionGraph, GraphNode } from "../src/graph/graph.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-defaults-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const FILE = (extra: string) => `align 1
param beta: float in (0, 1] = 0.1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 12, seed: 3 }
dataset corrupted = corrupt(pool) { seed: 1 }
phase aligned = dpo(base, corrupted) { objective: { beta: \${beta} }, steps: 2${extra} }
dataset probe = shapes { split: test, count: 4, seed: 5, tasks: [pope] }
evaluate check { models: [aligned], on: probe, metrics: [pope], max_tokens: 16 }
sweep smoothing = grid { over: { aligned.objective.label_smoothing: [0.0, 0.1] } }
`;

async function graph(name: string, text: string, trial?: string): Promise<ExecutionGraph> {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  const r = await compile(file, trial === undefined ? {} : { trial });
  assert.ok(r.graph, r.diagnostics.map((d) => d.message).join("\n"));
  return r.graph;
}
const node = (g: ExecutionGraph, id: string): GraphNode => g.nodes.find((n) => n.id === id) ?? assert.fail(`no node ${id}`);

test("defaults: the params the file left out, nested ones by their path; written ones are not", async () => {
  const g = await graph("a.align", FILE(""));
  const aligned = node(g, "aligned");
  const defaults = aligned.defaults ?? [];
  // A written block: what it leaves out is listed one by one; what it writes is not.
  assert.ok(defaults.includes("objective.label_smoothing"), defaults.join(", "));
  assert.ok(!defaults.includes("objective.beta") && !defaults.includes("objective") && !defaults.includes("steps"));
  // A setting not written at all, even a whole constructor value (the optimizer), is one path.
  assert.ok(defaults.includes("optimizer") && defaults.includes("seed"), defaults.join(", "));
  // Each listed path is a param of the node, and the list is sorted.
  for (const p of defaults)
    assert.notEqual(
      p.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], aligned.params),
      undefined,
      p,
    );
  assert.deepEqual(defaults, [...defaults].sort());
  // Positional arguments and inputs are never defaults; a node with every setting written has none.
  assert.ok(!defaults.includes("model") && !defaults.includes("pairs"));
  assert.equal(node(g, "base").defaults, undefined);
  // Generated nodes carry their declaration's, for the params they have: the answers' generation settings.
  const answers = node(g, "check.answers.aligned");
  assert.deepEqual(answers.defaults, ["seed", "temperature"]);
  assert.equal(answers.params.max_tokens, 16);
});

test("a sweep trial's value is not a default; defaults are not part of the hash", async () => {
  const trial = await graph("b.align", FILE(""), "1");
  assert.ok(!(node(trial, "aligned").defaults ?? []).includes("objective.label_smoothing"), "set by the trial");
  // Writing a default value out changes what is listed, not the node's identity.
  const implicit = await graph("c.align", FILE(""));
  const explicit = await graph("d.align", FILE(", seed: 0"));
  assert.equal(node(explicit, "aligned").params.seed, node(implicit, "aligned").params.seed);
  assert.equal(node(explicit, "aligned").hash, node(implicit, "aligned").hash);
  assert.ok((node(implicit, "aligned").defaults ?? []).includes("seed"));
  assert.ok(!(node(explicit, "aligned").defaults ?? []).includes("seed"));
});
