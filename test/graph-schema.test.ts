// The execution graph against its JSON Schema (src/graph/execution-graph.schema.json) and the
// invariants the runtime relies on: unique ids, inputs before their users, content hashes that change
// exactly when a node's own content or an upstream node changes.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { compileSync } from "../src/compiler/compile.ts";
import type { ExecutionGraph, GraphNode } from "../src/graph/graph.ts";
import { canonicalJson, contentHash } from "../src/util/content-hash.ts";
import { alignFiles } from "./support/align-files.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const schemaPath = path.join(repoRoot, "src/graph/execution-graph.schema.json");
const schema = JSON.parse(readFileSync(schemaPath, "utf8")) as Record<string, unknown>;

// ajv is CommonJS: under Node's ESM loader the default import is `module.exports`, whose `default` is the class.
const ajv = new Ajv.default({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

function schemaErrors(graph: unknown): string {
  if (validate(graph)) return "";
  return ajv.errorsText(validate.errors, { separator: "\n" });
}

/** Ids of the nodes that depend, directly or not, on any of `roots` (the roots included). */
function downstreamOf(graph: ExecutionGraph, roots: Iterable<string>): Set<string> {
  const out = new Set(roots);
  for (const node of graph.nodes) if (node.inputs.some((i) => out.has(i.node))) out.add(node.id);
  return out;
}

function byId(graph: ExecutionGraph): Map<string, GraphNode> {
  return new Map(graph.nodes.map((n) => [n.id, n]));
}

/** Compiles and returns the graph, failing with the diagnostics when there is none. */
function graphOf(file: string, options: Parameters<typeof compileSync>[1] = {}): ExecutionGraph {
  const result = compileSync(file, options);
  assert.ok(result.ok && result.graph, `${file} did not compile:\n${result.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n")}`);
  return result.graph;
}

function checkInvariants(graph: ExecutionGraph, label: string): void {
  const seen = new Set<string>();
  const hashToContent = new Map<string, string>();
  const contentToHash = new Map<string, string>();
  const hashes = new Map<string, string>();
  for (const node of graph.nodes) {
    assert.ok(!seen.has(node.id), `${label}: node id '${node.id}' appears twice`);
    for (const input of node.inputs) {
      assert.ok(seen.has(input.node), `${label}: input '${input.name}' of '${node.id}' refers to '${input.node}', which is not an earlier node`);
      const target = graph.nodes.find((n) => n.id === input.node);
      if (input.port !== undefined)
        assert.ok(
          target?.ports?.includes(input.port),
          `${label}: '${node.id}' uses port '${input.port}' of '${input.node}', which has ports ${JSON.stringify(target?.ports)}`,
        );
    }
    seen.add(node.id);
    assert.match(node.hash, /^[0-9a-f]{64}$/, `${label}: hash of '${node.id}'`);
    // The hash is the documented one: sha256 of kind, version, params and the inputs' names, ports and hashes.
    const content = canonicalJson({
      kind: node.kind,
      version: node.version,
      params: node.params,
      inputs: node.inputs.map((i) => ({ name: i.name, port: i.port, hash: hashes.get(i.node) })),
    });
    assert.equal(node.hash, contentHash(JSON.parse(content)), `${label}: hash of '${node.id}' is not the hash of its content`);
    hashes.set(node.id, node.hash);
    const prevContent = hashToContent.get(node.hash);
    if (prevContent !== undefined) assert.equal(prevContent, content, `${label}: two nodes with different content share hash ${node.hash}`);
    const prevHash = contentToHash.get(content);
    if (prevHash !== undefined) assert.equal(prevHash, node.hash, `${label}: two nodes with the same content have different hashes`);
    hashToContent.set(node.hash, content);
    contentToHash.set(content, node.hash);
  }
}

/** `${beta}` in .align text. */
const PARAM_BETA = "$" + "{beta}";

const files = [...alignFiles("experiments"), ...alignFiles("test/cases")];
const compiled = files
  .map((file) => ({ file: path.relative(repoRoot, file), result: compileSync(file) }))
  .filter((c) => c.result.ok && c.result.graph !== undefined);

describe("execution graph schema", () => {
  test("the schema itself is valid draft-07", () => {
    assert.equal(ajv.validateSchema(schema), true, ajv.errorsText(ajv.errors));
  });

  test("at least the quickstart compiles", () => {
    assert.ok(
      compiled.some((c) => c.file === path.join("experiments", "quickstart.align")),
      "experiments/quickstart.align should compile",
    );
  });

  for (const { file, result } of compiled) {
    test(`${file}: graph matches the schema`, () => {
      const graph = result.graph as ExecutionGraph;
      // Validate what the runtime reads: the graph as JSON.
      assert.equal(schemaErrors(JSON.parse(JSON.stringify(graph))), "");
    });
    test(`${file}: graph invariants`, () => {
      checkInvariants(result.graph as ExecutionGraph, file);
    });
  }

  test("a graph compiled for a sweep trial matches the schema", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "alignc-graph-"));
    try {
      const file = path.join(dir, "trial.align");
      writeFileSync(
        file,
        [
          "align 1",
          "param beta: float in (0, 1] = 0.1",
          "model base = tinyvlm { size: nano }",
          "dataset train = shapes { split: train, count: 10 }",
          "phase p = sft(base, train) { epochs: 1 }",
          "dataset pairs = corrupt(train)",
          `phase d = dpo(p, pairs) { objective: { beta: ${PARAM_BETA} } }`,
          "evaluate e { models: [d], on: train }",
          "sweep s = grid { over: { beta: [0.1, 0.2], d.epochs: [1, 2] } }",
          "",
        ].join("\n"),
      );
      const graph = graphOf(file, { trial: "3" });
      assert.equal(schemaErrors(JSON.parse(JSON.stringify(graph))), "");
      assert.equal(graph.trial?.ordinal, 3);
      assert.deepEqual(graph.trial?.assignments, { beta: 0.2, "d.epochs": 2 });
      checkInvariants(graph, "trial 3");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("content hashes", () => {
  const withBeta = path.join(repoRoot, "experiments/sweep-beta-margin.align");

  test("--set beta=0.2 changes the nodes that use beta and everything downstream, nothing upstream", () => {
    const before = graphOf(withBeta);
    const after = graphOf(withBeta, { set: ["beta=0.2"] });
    assert.equal(after.params.beta, 0.2);
    assert.deepEqual(
      after.nodes.map((n) => n.id),
      before.nodes.map((n) => n.id),
      "the same nodes in the same order",
    );
    const old = byId(before);
    const direct = after.nodes.filter((n) => canonicalJson(n.params) !== canonicalJson(old.get(n.id)?.params)).map((n) => n.id);
    assert.ok(direct.length > 0, "some node's params should change");
    for (const id of direct) {
      const node = byId(after).get(id) as GraphNode;
      assert.equal((node.params.objective as Record<string, unknown> | undefined)?.beta, 0.2, `'${id}' changed for another reason than beta`);
    }
    const affected = downstreamOf(after, direct);
    assert.ok(affected.size < after.nodes.length, "some nodes are upstream of beta");
    for (const node of after.nodes) {
      const was = old.get(node.id)?.hash;
      if (affected.has(node.id)) assert.notEqual(node.hash, was, `'${node.id}' depends on beta: its hash must change`);
      else assert.equal(node.hash, was, `'${node.id}' does not depend on beta: its hash must not change`);
    }
  });

  test("editing one setting in the middle of a pipeline changes that node and its dependants only", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "alignc-hash-"));
    try {
      const write = (seed: number) => {
        const file = path.join(dir, `p${seed}.align`);
        writeFileSync(
          file,
          [
            "align 1",
            "model base = tinyvlm { size: nano }",
            "dataset train = shapes { split: train, count: 10 }",
            "phase p = sft(base, train) { epochs: 1 }",
            "rater judge = grounded { aspects: [helpfulness, correctness] }",
            `dataset samples = sample(p, train) { n: 2, seed: ${seed} }`,
            "dataset rated = rate(samples, judge)",
            "dataset pairs = pair(rated) { score: helpfulness + correctness }",
            "phase d = dpo(p, pairs)",
            "evaluate e { models: [p, d], on: train }",
            "",
          ].join("\n"),
        );
        return graphOf(file);
      };
      const a = write(1);
      const b = write(2);
      const old = byId(a);
      const affected = downstreamOf(b, ["samples"]);
      // p's answers for the evaluation (e.answers.p) are upstream of the change: only d answers again.
      assert.deepEqual([...affected].sort(), ["d", "d.reference", "e", "e.answers.d", "pairs", "rated", "samples"]);
      for (const node of b.nodes) {
        const was = old.get(node.id)?.hash;
        if (affected.has(node.id)) assert.notEqual(node.hash, was, node.id);
        else assert.equal(node.hash, was, node.id);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nodes with the same content get the same hash, wherever they are declared", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "alignc-hash-"));
    try {
      const file = path.join(dir, "twins.align");
      writeFileSync(
        file,
        [
          "align 1",
          "model a = tinyvlm { size: nano, seed: 1 }",
          "model b = tinyvlm { seed: 1 }",
          "model c = tinyvlm { size: nano, seed: 2 }",
          "dataset train = shapes { split: train, count: 10 }",
          "evaluate e { models: [a, b, c], on: train }",
          "",
        ].join("\n"),
      );
      const nodes = byId(graphOf(file));
      assert.equal(nodes.get("a")?.hash, nodes.get("b")?.hash, "defaults are filled before hashing");
      assert.notEqual(nodes.get("a")?.hash, nodes.get("c")?.hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the schema rejects broken graphs", () => {
  const base = JSON.parse(JSON.stringify(graphOf(path.join(repoRoot, "experiments/sweep-beta-margin.align")))) as ExecutionGraph;
  const clone = (): ExecutionGraph => structuredClone(base);
  const withInput = base.nodes.findIndex((n) => n.inputs.length > 0);

  const breakages: [string, (g: ExecutionGraph) => unknown][] = [
    ["a missing hash", (g) => delete (g.nodes[0] as Partial<GraphNode>).hash],
    ["a short hash", (g) => ((g.nodes[0] as GraphNode).hash = "abc123")],
    ["an upper-case hash", (g) => ((g.nodes[0] as GraphNode).hash = (g.nodes[0] as GraphNode).hash.toUpperCase())],
    ["an unknown node field", (g) => ((g.nodes[0] as unknown as Record<string, unknown>).extra = 1)],
    ["an unknown top-level field", (g) => ((g as unknown as Record<string, unknown>).extra = 1)],
    ["a wrong schema version", (g) => ((g as { schemaVersion: number }).schemaVersion = 2)],
    ["another compiler", (g) => ((g.compiler as { name: string }).name = "other")],
    ["a string version", (g) => ((g.nodes[0] as unknown as Record<string, unknown>).version = "1")],
    ["version 0", (g) => ((g.nodes[0] as GraphNode).version = 0)],
    ["params that are not an object", (g) => ((g.nodes[0] as unknown as Record<string, unknown>).params = [])],
    ["inputs that are not a list", (g) => ((g.nodes[0] as unknown as Record<string, unknown>).inputs = {})],
    ["an input without a node", (g) => delete (g.nodes[withInput]!.inputs[0] as Partial<GraphNode["inputs"][number]>).node],
    ["an input with an unknown field", (g) => ((g.nodes[withInput]!.inputs[0] as unknown as Record<string, unknown>).hash = "x")],
    ["an unknown produced kind", (g) => ((g.nodes[0] as GraphNode).produces = "dataset:images")],
    ["a malformed kind", (g) => ((g.nodes[0] as GraphNode).kind = "Model Init")],
    ["a source line of 0", (g) => ((g.nodes[0] as GraphNode).source = { file: "x.align", line: 0, column: 1 })],
    ["a missing entry", (g) => delete (g as Partial<ExecutionGraph>).entry],
    ["nodes that are not a list", (g) => ((g as unknown as Record<string, unknown>).nodes = {})],
    ["a trial without an id", (g) => ((g as unknown as Record<string, unknown>).trial = { sweep: "s", ordinal: 0, assignments: {} })],
  ];

  test("the unbroken graph is valid", () => {
    assert.ok(withInput >= 0);
    assert.equal(schemaErrors(clone()), "");
  });
  for (const [what, breakIt] of breakages) {
    test(`${what}`, () => {
      const g = clone();
      breakIt(g);
      assert.notEqual(schemaErrors(g), "", `a graph with ${what} should fail validation`);
    });
  }

  test("a graph whose input refers to a later node breaks the ordering invariant", () => {
    const g = clone();
    g.nodes.reverse();
    assert.equal(schemaErrors(g), "", "the schema cannot express ordering");
    assert.throws(() => checkInvariants(g, "reversed"), /not an earlier node/);
  });
});
