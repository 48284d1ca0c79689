// The typed node-kind contract (src/graph/params.ts): each kind's params are declared once, in the checker's catalog,
// and src/graph/params.generated.ts (npm run gen:params) is what the catalog says now; every constructor's example
// lowers to params that decode; every setting of a kind is read by its executor's `settings` (a setting added to the
// catalog and never read fails here); and a graph whose params do not fit their kinds is refused before anything runs,
// naming the node and the setting.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { GENERATED_FILE, nodeParamsSource } from "../scripts/gen-node-params.ts";
import { allCtors } from "../src/compiler/checker/catalog/index.ts";
import { compileSync } from "../src/compiler/compile.ts";
import { lower } from "../src/compiler/lower/lower.ts";
import type { ExecutionGraph } from "../src/graph/graph.ts";
import { isNodeKind, NODE_KINDS, type NodeKind } from "../src/graph/node-kinds.ts";
import { decodeParams, paramsSpec, tryDecodeParams } from "../src/graph/params.ts";
import type { FieldsSpec, SettingSpec } from "../src/graph/params-spec.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { type RunError, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-node-params-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("src/graph/params.generated.ts is what the catalog says now (npm run gen:params)", () => {
  assert.equal(readFileSync(GENERATED_FILE, "utf8"), nodeParamsSource(), "out of date: run npm run gen:params and commit the result");
});

// ── every constructor's example lowers to params that decode ────────────────────────────────────────────────────────

/** Declarations the catalog's examples refer to; an example that declares one of these names replaces it. */
const PRELUDE = [
  "model base = tinyvlm { size: nano }",
  "model sft = tinyvlm { size: nano, seed: 2 }",
  "model big = tinyvlm { size: nano, seed: 3 }",
  "dataset train = shapes { split: train, count: 8 }",
  "dataset samples = sample(sft, train)",
  "rater judge = grounded {}",
  "dataset rated = rate(samples, judge)",
  "dataset pairs = pair(rated) { score: helpfulness + correctness + coherence }",
  "similarity sim = lexical {}",
  "dataset bdhs_pairs = bdhs(sft, train) { similarity: sim }",
  "dataset corrupted = corrupt(train)",
  "dataset part1 = take(pairs) { fraction: 50% }",
  "dataset part2 = take(pairs) { fraction: 50%, seed: 1 }",
  "param beta: float = 0.1",
  "param margin: int in 0..10 = 1",
  "param lr: float = 1e-5",
];

/** Files and folders the examples name (checked to exist by `check`). */
function writeExampleFiles(root: string): void {
  const checkpoint = path.join(root, "runs/vit/checkpoints/vit");
  mkdirSync(checkpoint, { recursive: true });
  for (const f of ["config.json", "tokenizer.json", "model.safetensors"]) writeFileSync(path.join(checkpoint, f), "{}");
  mkdirSync(path.join(root, "data"), { recursive: true });
  writeFileSync(path.join(root, "data/prefs.jsonl"), "");
  // hf(path)'s example: check reads the config (the weights are only looked up).
  const hf = path.join(root, "models/SmolLM2-135M-Instruct");
  mkdirSync(hf, { recursive: true });
  const config = { architectures: ["LlamaForCausalLM"], vocab_size: 16, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1, num_attention_heads: 2 };
  writeFileSync(path.join(hf, "config.json"), JSON.stringify(config));
  for (const f of ["tokenizer.json", "model.safetensors"]) writeFileSync(path.join(hf, f), "{}");
}

/** A file holding the example: a declaration, or a setting (optimizer, schedule) inside a phase. */
function exampleFile(example: string): string {
  const declares = /^(?:model|dataset|rater|similarity|phase|sweep|param)\s+(\w+)\s*=/.exec(example)?.[1];
  const body = declares ? example : `phase tuned = sft(base, train) { ${example} }`;
  const prelude = PRELUDE.filter((line) => !new RegExp(`^\\w+ ${declares}\\b`).test(line));
  return `align 1\n${prelude.join("\n")}\n${body}\n`;
}

/** The example's graph: compiled, or — for a kind `alignc run` cannot run yet (refused by `check`) — lowered anyway. */
function graphOf(file: string): ExecutionGraph {
  const result = compileSync(file);
  if (result.graph) return result.graph;
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  assert.ok(result.checked && errors.every((d) => d.code === "ALN3020"), errors.map((d) => `${d.code} ${d.message}`).join("\n"));
  return lower(result.checked, file);
}

describe("every constructor's example", () => {
  const root = path.join(dir, "examples");
  writeExampleFiles(root);
  for (const ctor of allCtors) {
    test(`${ctor.category} ${ctor.name}: ${ctor.example ?? "(no example)"}`, () => {
      assert.ok(ctor.example, `${ctor.name} has no example`);
      const file = path.join(root, `${ctor.category}-${ctor.name}.align`);
      writeFileSync(file, exampleFile(ctor.example));
      const graph = graphOf(file);
      if (ctor.node)
        assert.ok(
          graph.nodes.some((n) => n.kind === ctor.node),
          `no ${ctor.node} node in the example's graph`,
        );
      for (const node of graph.nodes) {
        assert.ok(isNodeKind(node.kind), node.kind);
        const decoded = tryDecodeParams(node.kind, node.params);
        assert.ok(decoded.ok, `${node.id} (${node.kind}): ${decoded.ok ? "" : `${decoded.setting}: ${decoded.problem}`}`);
        // The lowering writes every setting with a default, so decoding adds nothing.
        assert.deepEqual(Object.keys(decoded.params).sort(), Object.keys(node.params).sort(), node.id);
      }
    });
  }

  test("generated nodes: a phase's reference log-probs and an evaluation's answers and metrics, every setting written", () => {
    const file = path.join(root, "generated.align");
    writeFileSync(
      file,
      `align 1\n${PRELUDE.join("\n")}\n` +
        "phase aligned = dpo(sft, pairs) { reference: base, device: cpu, steps: 1 }\n" +
        'evaluate final { models: [base, aligned], on: train, metrics: [pope, quality], rater: judge, max_tokens: 8, temperature: 0.5, seed: 2, device: cpu, caption: "c" }\n',
    );
    const graph = graphOf(file);
    const kinds = new Set(graph.nodes.map((n) => n.kind));
    for (const kind of ["reference.logprobs", "eval.answers", "eval.metrics"]) assert.ok(kinds.has(kind), kind);
    for (const node of graph.nodes) {
      const decoded = tryDecodeParams(node.kind as NodeKind, node.params);
      assert.ok(decoded.ok, `${node.id}: ${decoded.ok ? "" : `${decoded.setting}: ${decoded.problem}`}`);
    }
    const answers = graph.nodes.find((n) => n.kind === "eval.answers");
    assert.deepEqual(answers?.params, { device: "cpu", max_tokens: 8, seed: 2, temperature: 0.5 });
    assert.deepEqual(decodeParams("train.dpo", graph.nodes.find((n) => n.id === "aligned")?.params).reference, "model");
  });
});

// ── every setting of a kind is read by its executor ──────────────────────────────────────────────────────────────────

/** A value of `spec` (the least its bounds allow, so no setting trips a run-time rule), and its other shapes. */
function sample(spec: SettingSpec): unknown {
  switch (spec.t) {
    case "int":
      return spec.min === undefined ? 1 : spec.minOpen ? spec.min + 1 : spec.min;
    case "number":
      if (spec.min === undefined) return spec.max === undefined ? 1 : spec.max - 1;
      if (!spec.minOpen) return spec.min;
      return spec.max === undefined ? spec.min + 1 : (spec.min + spec.max) / 2;
    case "string":
      return "x";
    case "bool":
      return true;
    case "enum":
      return spec.values[0];
    case "list": {
      const one = sample(spec.of);
      const n = Math.max(1, spec.min ?? 1);
      return spec.of.t === "enum" ? spec.of.values.slice(0, n) : Array.from({ length: n }, () => one);
    }
    case "map":
      return { a: sample(spec.of) };
    case "range":
      return { min: spec.min ?? 0, max: (spec.min ?? 0) + 4 };
    case "block":
      return full(spec.fields);
    case "ctor": {
      const [type, fields] = Object.entries(spec.ctors)[0] as [string, FieldsSpec];
      return { type, ...full(fields) };
    }
    case "input":
      return { input: "x" };
    case "expr":
      return { text: "a", tree: { op: "name", name: "a" } };
    case "union":
      return sample(spec.of[0] as SettingSpec);
  }
}

/** The other values a setting could take that may lead a conversion down another branch. */
function alternatives(spec: SettingSpec): unknown[] {
  if (spec.t === "enum") return spec.values.slice(1);
  if (spec.t === "union") return spec.of.slice(1).map(sample);
  if (spec.t === "ctor") return Object.entries(spec.ctors).map(([type, fields]) => ({ type, ...full(fields) }));
  return [];
}

/** Every setting given, optional ones included. */
function full(fields: FieldsSpec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, sample(f.type)]));
}

/**
 * Params with every setting (of two that exclude each other, the first), then the other of each such pair, each
 * optional setting left out, and each setting in its other shapes.
 */
function variants(kind: NodeKind): Record<string, unknown>[] {
  const { fields, exclusive = [] } = paramsSpec(kind);
  const all = full(fields);
  const base = Object.fromEntries(Object.entries(all).filter(([k]) => !exclusive.some(([, second]) => second === k)));
  const out = [base];
  for (const [first, second] of exclusive) {
    const { [first]: _, ...without } = base;
    out.push({ ...without, [second]: all[second] });
  }
  for (const [key, field] of Object.entries(fields)) {
    if (field.default === undefined && !field.required) {
      const { [key]: _, ...without } = base;
      out.push(without);
    }
    for (const v of alternatives(field.type)) out.push({ ...base, [key]: v });
  }
  return out;
}

/** Dotted paths of every setting, nested blocks' and constructor values' settings included. */
function settingPaths(fields: FieldsSpec, prefix = ""): string[] {
  return Object.entries(fields).flatMap(([key, f]) => {
    const at = `${prefix}${key}`;
    if (f.type.t === "block") return [at, ...settingPaths(f.type.fields, `${at}.`)];
    if (f.type.t === "ctor") return [at, ...Object.values(f.type.ctors).flatMap((c) => settingPaths(c, `${at}.`))];
    return [at];
  });
}

/** `params` behind proxies that record which settings are read (blocks and constructor values too), and any wholesale copy. */
function recording(params: Record<string, unknown>, fields: FieldsSpec, reads: Set<string>, copies: Set<string>, prefix = ""): Record<string, unknown> {
  return new Proxy(params, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.hasOwn(fields, key)) return value;
      const at = `${prefix}${key}`;
      reads.add(at);
      const type = (fields[key] as { type: SettingSpec }).type;
      if (typeof value !== "object" || value === null) return value;
      const object = value as Record<string, unknown>;
      if (type.t === "block") return recording(object, type.fields, reads, copies, `${at}.`);
      if (type.t === "ctor") return recording(object, type.ctors[object.type as string] ?? {}, reads, copies, `${at}.`);
      return value;
    },
    has(target, key) {
      if (typeof key === "string") reads.add(`${prefix}${key}`);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      copies.add(prefix === "" ? "params" : prefix.slice(0, -1));
      return Reflect.ownKeys(target);
    },
  });
}

describe("every setting of a kind is read by its executor's settings", () => {
  for (const [kind, executor] of EXECUTORS) {
    test(kind, () => {
      assert.ok(isNodeKind(kind));
      const { fields } = paramsSpec(kind);
      const reads = new Set<string>();
      const copies = new Set<string>();
      let decoded = 0;
      for (const params of variants(kind)) {
        const result = tryDecodeParams(kind, params);
        if (!result.ok) continue; // settings that exclude each other, all given
        decoded++;
        executor.settings(recording(result.params as Record<string, unknown>, fields, reads, copies) as never);
      }
      assert.ok(decoded > 0, `${kind}: no variant of its params decodes`);
      assert.deepEqual([...copies], [], `${kind}: settings must read each setting, not copy them wholesale`);
      const unread = settingPaths(fields).filter((p) => !reads.has(p));
      assert.deepEqual(unread, [], `${kind}: settings its executor never reads (a new catalog setting needs a use in its executor's settings)`);
    });
  }

  test("every kind the table runs has an executor declared against its params", () => {
    const runnable = (Object.keys(NODE_KINDS) as NodeKind[]).filter((k) => !("notRunnable" in NODE_KINDS[k]));
    assert.deepEqual(
      runnable.filter((k) => !EXECUTORS.has(k)),
      [],
    );
  });
});

// ── decoding ─────────────────────────────────────────────────────────────────────────────────────────────────────────

describe("decodeParams", () => {
  test("fills in defaults, nested ones too, and keeps the order of a map's keys", () => {
    const p = decodeParams("train.dpo", { objective: { beta: 0.2 }, optimizer: { type: "sgd" } });
    assert.deepEqual(p.objective, { loss: "sigmoid", beta: 0.2, label_smoothing: 0, logps: "sum", sft_weight: 0 });
    assert.deepEqual(p.optimizer, { type: "sgd", lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0 });
    assert.equal(p.lora, undefined, "a block without a default stays absent");
    assert.deepEqual(Object.keys(decodeParams("stage.split", { parts: { z: 0.5, a: 0.5 } }).parts), ["z", "a"]);
  });

  test("names the setting and what is wrong", () => {
    const problem = (kind: NodeKind, params: unknown) => {
      const d = tryDecodeParams(kind, params);
      return d.ok ? "fits" : `${d.setting}: ${d.problem}`;
    };
    assert.equal(problem("stage.pair", {}), 'score: is missing (an expression { "text", "tree" })');
    assert.equal(problem("stage.take", { count: 2.5 }), "count: expected an integer ≥ 1, got 2.5");
    assert.equal(problem("stage.take", { count: 1, fraction: 0.5 }), "fraction: excludes count; give one of them");
    assert.equal(problem("stage.take", {}), "count | fraction: one of count, fraction is needed");
    assert.equal(
      problem("stage.pair", { score: { text: "a", tree: { op: "?" } } }),
      'score: expected an expression { "text", "tree" }, got {"text":"a","tree":{"op":"?"}}',
    );
    assert.equal(
      problem("train.sft", { objective: {} }),
      "objective: train.sft has no such setting (its settings: optimizer, schedule, lora, epochs, steps, batch, accumulation, grad_clip, steps_per_run, precision, device, checkpoint_every, recompute, seed, length_buckets, loss_average)",
    );
    assert.equal(problem("train.dpo", { objective: { beta: 0 } }), "objective.beta: expected a number > 0, got 0");
    assert.equal(problem("train.sft", { lora: { rank: 4, targets: ["q", "q"] } }), 'lora.targets: names "q" twice');
    assert.equal(problem("train.sft", { optimizer: { lr: 1 } }), 'optimizer: has no "type"; use adamw or sgd');
    assert.equal(problem("train.sft", { device: "gpu" }), 'device: expected one of cpu, cuda, auto or "cpu", "cuda", "cuda:N" or "auto", got "gpu"');
    assert.equal(
      problem("rater.command", { argv: ["x"], aspects: ["a"], scale: { min: 3, max: 1 } }),
      'scale: expected an integer range { "min", "max" }, got {"min":3,"max":1}',
    );
    assert.equal(problem("stage.shuffle", { seed: null }), "seed: expected an integer ≥ 0, got null");
    assert.equal(problem("stage.shuffle", []), "params: expected an object, got []");
  });
});

// ── the runner refuses a graph whose params do not fit ───────────────────────────────────────────────────────────────

test("a graph made elsewhere whose params miss a setting or hold a wrong type is refused before anything runs", async () => {
  const file = path.join(dir, "refused.align");
  writeFileSync(file, "align 1\ndataset pool = shapes { split: train, count: 4 }\ndataset few = take(pool) { count: 2 }\n");
  const result = compileSync(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const graph = structuredClone(result.graph);
  const [pool, few] = graph.nodes;
  assert.ok(pool && few);
  delete pool.params.split;
  few.params.count = "two";
  const runDir = path.join(dir, "runs", "refused");
  const log = new RunLog(undefined, { write: () => {}, isTTY: false });
  await assert.rejects(runGraph(graph, { layout: new RunLayout(runDir), entryAbsPath: file, device: "cpu", log }), (e: RunError) => {
    assert.match(
      e.message,
      /^the params of these nodes do not fit their node kind:\n {2}\S*refused\.align:2:9: pool \(data\.shapes\): split: is missing \(one of train, val, test\)\n {2}\S*refused\.align:3:9: few \(stage\.take\): count: expected an integer ≥ 1, got "two"\nNothing was run\.$/,
    );
    return true;
  });
  assert.ok(!existsSync(runDir), "nothing was written");
});
