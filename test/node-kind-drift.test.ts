// A node's store key covers the code that made it: the key holds the kind's version, and this test holds each version
// to its output. test/fixtures/node-kinds/all-kinds.align uses every node kind the runtime executes, on tiny inputs;
// it runs on CPU and each node's output is fingerprinted (test/support/output-fingerprint.ts: node.json and timings
// left out, floating-point numbers compared within a tolerance) and compared with test/baselines/node-kinds.json,
// which keeps every node's kind, version and fingerprint. The test fails when
//
//   - a kind's output changed on the same input while its version did not: stored outputs of the kind would be reused
//     although this code makes different ones. Bump the kind's version (the message says where), or find out why a
//     change meant to keep outputs changes them;
//   - anything else differs from the baseline (a version bumped, an output that changed because an input did, nodes
//     added to or removed from the fixture): the baseline is out of date;
//   - a kind the runtime executes is not in the fixture.
//
// On a mismatch the new baseline goes to test/baselines/local/node-kinds.json (git-ignored); accept it with
//   npm run baselines:accept       or write it directly with   ACCEPT_BASELINES=1 node --import tsx --test test/node-kind-drift.test.ts
// (docs/run-directory.md, "Keys and code"). It also checks what node.json records of the code and what `alignc plan`
// says about it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import type { ExecutionGraph } from "../src/graph/graph.ts";
import { executorCode, kindModules } from "../src/runtime/pipeline/executor-code.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { planStatus } from "../src/runtime/pipeline/runner/plan-status.ts";
import { type NodeOutcome, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { ENTRY_INFO, type EntryInfo, Store } from "../src/runtime/pipeline/store.ts";
import { repoRoot } from "./support/align-files.ts";
import { differences, type Fingerprint, fingerprint } from "./support/output-fingerprint.ts";

const FIXTURE = path.join(repoRoot, "test/fixtures/node-kinds");
const BASELINE = path.join(repoRoot, "test/baselines/node-kinds.json");
const LOCAL = path.join(repoRoot, "test/baselines/local/node-kinds.json");
const accept = process.env.ACCEPT_BASELINES === "1";
const ACCEPT_HINT =
  "When every change is meant (a version bumped wherever a kind's output changed), accept the new baseline: `npm run baselines:accept` " +
  "(copies test/baselines/local/node-kinds.json), or `ACCEPT_BASELINES=1 node --import tsx --test test/node-kind-drift.test.ts`.";

/** Outputs made from another node's output outside the graph: the checkpoint `from_disk` reads is a copy of `base`'s. */
const MADE_FROM: Readonly<Record<string, readonly string[]>> = { from_disk: ["base"] };

interface BaselineNode extends Fingerprint {
  kind: string;
  version: number;
}

interface Baseline {
  about: string;
  nodes: Record<string, BaselineNode>;
}

const dir = mkdtempSync(path.join(tmpdir(), "alignc-node-kinds-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const store = path.join(dir, "store");
const runDir = path.join(dir, "runs", "all-kinds");
const entry = path.join(dir, "all-kinds.align");

async function graphOf(file: string): Promise<ExecutionGraph> {
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  return result.graph;
}

async function run(file: string, root: string): Promise<{ graph: ExecutionGraph; outcomes: NodeOutcome[]; log: string }> {
  const graph = await graphOf(file);
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  // Always CPU, whatever ALIGNC_DEVICE says: the baseline is CPU's.
  const outcomes = await runGraph(graph, { layout: new RunLayout(root, store), entryAbsPath: file, device: "cpu", log });
  return { graph, outcomes, log: lines.join("") };
}

let ran: { graph: ExecutionGraph; outcomes: NodeOutcome[]; log: string; seconds: number };

before(async () => {
  const t0 = performance.now();
  cpSync(FIXTURE, dir, { recursive: true });
  // The checkpoint that `from_disk` reads: base's, made by a file of that one node in the same store (so the run of
  // all-kinds.align finds base stored).
  const seed = path.join(dir, "base.align");
  writeFileSync(seed, "align 1\nmodel base = tinyvlm { size: nano, seed: 1 }\n");
  const made = await run(seed, path.join(dir, "runs", "base"));
  const ckpt = path.join(dir, "ckpt");
  mkdirSync(ckpt);
  for (const f of ["config.json", "tokenizer.json", "model.safetensors"]) copyFileSync(path.join(made.outcomes[0]!.dir, f), path.join(ckpt, f));
  cpSync(path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5"), path.join(dir, "hf-model"), { recursive: true });
  ran = { ...(await run(entry, runDir)), seconds: 0 };
  ran.seconds = (performance.now() - t0) / 1000;
});

/** Where a kind's version is declared: the first line under src/ that names the kind and a version. */
function versionSite(kind: string): string {
  const walk = (d: string): string[] =>
    readdirSync(d)
      .sort()
      .flatMap((n) => (statSync(path.join(d, n)).isDirectory() ? walk(path.join(d, n)) : n.endsWith(".ts") ? [path.join(d, n)] : []));
  for (const file of walk(path.join(repoRoot, "src"))) {
    const lines = readFileSync(file, "utf8").split("\n");
    const i = lines.findIndex((l) => (l.includes(`"${kind}"`) || l.includes(`'${kind}'`)) && /\bversion\b/.test(l));
    if (i >= 0) return `${path.relative(repoRoot, file)}:${i + 1}`;
  }
  return "where the node kinds declare their versions";
}

/** The baseline as JSON, one line per digest and per sketch. */
function render(b: Baseline): string {
  return `${JSON.stringify(b, null, 2).replace(/\[\s+([^[\]{}]*?)\s+\]/g, (_, inner: string) => `[${inner.split(/,\s+/).join(", ")}]`)}\n`;
}

describe("node kinds: outputs tied to versions", () => {
  test("the fixture runs every node kind the runtime executes", (t) => {
    // base is stored already: the run that made the checkpoint made it.
    assert.deepEqual(
      ran.outcomes.filter((o) => o.status !== "ran").map((o) => o.id),
      ["base"],
      ran.log,
    );
    const kinds = new Set(ran.graph.nodes.map((n) => n.kind));
    const missing = [...EXECUTORS.keys()].filter((k) => !kinds.has(k));
    assert.deepEqual(missing, [], `add a node of each of these kinds to test/fixtures/node-kinds/all-kinds.align: ${missing.join(", ")}`);
    t.diagnostic(`all-kinds.align: ${ran.graph.nodes.length} nodes of ${kinds.size} kinds in ${ran.seconds.toFixed(1)} s`);
  });

  test("each node's output matches the baseline, and an output that changed comes with a new version", (t) => {
    const byId = new Map(ran.outcomes.map((o) => [o.id, o]));
    // Text that names entries: store keys and <kk>/<key> paths, by the node they belong to; the temporary folder.
    const names = new Map<string, string>([
      [realpathSync(dir), "<dir>"],
      [dir, "<dir>"],
    ]);
    for (const o of ran.outcomes) {
      names.set(`${o.key.slice(0, 2)}/${o.key}`, `<entry of ${o.id}>`);
      names.set(o.key, `<key of ${o.id}>`);
    }
    const now: Record<string, BaselineNode> = {};
    for (const node of ran.graph.nodes) {
      const outcome = byId.get(node.id);
      assert.ok(outcome, `${node.id} did not run`);
      now[node.id] = { kind: node.kind, version: node.version, ...fingerprint(outcome.dir, names) };
    }
    const baseline: Baseline = existsSync(BASELINE) ? (JSON.parse(readFileSync(BASELINE, "utf8")) as Baseline) : { about: "", nodes: {} };
    const inputsOf = new Map(ran.graph.nodes.map((n) => [n.id, [...n.inputs.map((i) => i.node), ...(MADE_FROM[n.id] ?? [])]]));

    // Whose output changed, and how.
    const outputChanged = new Map<string, string[]>();
    for (const [id, n] of Object.entries(now)) {
      const b = baseline.nodes[id];
      if (b && b.kind === n.kind) {
        const d = differences(b, n);
        if (d.length > 0) outputChanged.set(id, d);
      }
    }
    const drifted: string[] = [];
    const other: string[] = [];
    for (const id of new Set([...Object.keys(baseline.nodes), ...Object.keys(now)])) {
      const [b, n] = [baseline.nodes[id], now[id]];
      if (!b) other.push(`${id} (${n?.kind}): new in the fixture`);
      else if (!n) other.push(`${id} (${b.kind}): no longer in the fixture`);
      else if (b.kind !== n.kind) other.push(`${id}: kind ${b.kind} → ${n.kind}`);
      else {
        const d = outputChanged.get(id);
        const upstream = (inputsOf.get(id) ?? []).filter((i) => outputChanged.has(i));
        if (d && b.version === n.version && upstream.length === 0) {
          drifted.push(
            `${n.kind} (node ${id}) makes a different output from the same input, and its version is still ${n.version}:\n` +
              d.map((x) => `      ${x}\n`).join("") +
              `    If the change is meant, bump ${n.kind}'s version (${versionSite(n.kind)}) so that stored outputs of the kind are made again;\n` +
              `    if it is not, find what changed them (its executor: ${executorCode(n.kind).module ?? "unknown"}, and what it imports).`,
          );
        } else if (b.version !== n.version)
          other.push(`${id} (${n.kind}): version ${b.version} → ${n.version}${d ? `; output changed (${d.length} differences)` : "; output unchanged"}`);
        else if (d) other.push(`${id} (${n.kind}): output changed because its input ${upstream.join(", ")} did`);
      }
    }
    if (drifted.length + other.length === 0) {
      rmSync(LOCAL, { force: true });
      return;
    }
    const next: Baseline = {
      about:
        "Written by test/node-kind-drift.test.ts: each node of test/fixtures/node-kinds/all-kinds.align with its kind, version and output fingerprint " +
        "(digests of exact content; sketches [count, norm, three signed sums] of floating-point numbers). An output that changes needs a new version " +
        "of its kind (docs/run-directory.md, 'Keys and code').",
      nodes: now,
    };
    if (accept) {
      writeFileSync(BASELINE, render(next));
      rmSync(LOCAL, { force: true });
      t.diagnostic(`accepted test/baselines/node-kinds.json: ${[...drifted, ...other].map((l) => l.split("\n")[0]).join("; ")}`);
      return;
    }
    mkdirSync(path.dirname(LOCAL), { recursive: true });
    writeFileSync(LOCAL, render(next));
    assert.fail(
      [
        ...(drifted.length > 0 ? [`${drifted.length} node kind(s) changed their output without a new version:`, ...drifted.map((l) => `  ${l}`)] : []),
        ...(other.length > 0 ? ["test/baselines/node-kinds.json is out of date:", ...other.map((l) => `  ${l}`)] : []),
        ACCEPT_HINT,
      ].join("\n"),
    );
  });

  test("node.json records the code that made each output", () => {
    const s = new Store(store);
    for (const o of ran.outcomes) {
      const node = ran.graph.nodes.find((n) => n.id === o.id)!;
      const code = s.info(o.key).code;
      assert.deepEqual(code, executorCode(node.kind), o.id);
      assert.match(code?.sha256 ?? "", /^[0-9a-f]{64}$/, o.id);
    }
    // Each kind's own executor module, not the whole registry.
    for (const kind of EXECUTORS.keys()) assert.doesNotMatch(kindModules(kind).join(), /executors\/index\.ts$/, kind);
    assert.equal(executorCode("stage.pair").module, "src/runtime/pipeline/executors/stage-pair.ts");
    assert.equal(executorCode("stage.mix").module, "src/runtime/pipeline/executors/stage-reshape.ts");
  });

  test("alignc plan says when a stored output was made by different code, and when a new version makes it again", async () => {
    const layout = new RunLayout(runDir, store);
    const statuses = (graph: ExecutionGraph) => new Map(planStatus(graph, layout, EXECUTORS, dir).map((s) => [s.id, s]));
    const before = statuses(ran.graph);
    assert.ok([...before.values()].every((s) => s.stored && s.notes === undefined));

    // The sources of stage.pair changed since its entry was stored; its version did not: reused, with a note.
    const pairs = ran.outcomes.find((o) => o.id === "pairs")!;
    const info = path.join(pairs.dir, ENTRY_INFO);
    const original = readFileSync(info, "utf8");
    const made = JSON.parse(original) as EntryInfo;
    writeFileSync(info, JSON.stringify({ ...made, code: { ...made.code, sha256: "0".repeat(64) } }));
    try {
      const after = statuses(ran.graph);
      assert.equal(after.get("pairs")?.stored, true);
      assert.deepEqual(after.get("pairs")?.notes, [
        "made by different code: stage.pair's sources changed since it was stored; its version (1) did not, so the stored output is reused",
      ]);
      assert.equal(after.get("rated")?.notes, undefined);
      const cli = spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), "plan", entry, "--run-dir", runDir, "--store", store, "--no-color"], {
        cwd: dir,
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(
        cli.stdout,
        /pairs {2}stage\.pair → dataset:pairs {2}#\w+\n {5}stored \(\w+\): will not run\n {5}made by different code: stage\.pair's sources changed/,
      );
      // An entry made before node.json recorded its code says nothing.
      const { code: _, ...without } = made;
      writeFileSync(info, JSON.stringify(without));
      assert.equal(statuses(ran.graph).get("pairs")?.notes, undefined);
    } finally {
      writeFileSync(info, original);
    }

    // A new version of stage.pair: its key changes, so it runs again, and plan says why.
    const bumped = structuredClone(ran.graph);
    const node = bumped.nodes.find((n) => n.id === "pairs")!;
    node.version += 1;
    node.hash = `${node.hash}-bumped`;
    const next = statuses(bumped);
    assert.equal(next.get("pairs")?.stored, false);
    assert.deepEqual(next.get("pairs")?.reasons, [`made by different code: stage.pair version ${node.version - 1} → ${node.version}`]);
    assert.deepEqual(next.get("all")?.reasons, ["input datasets[0] (pairs) changed"]);
    assert.equal(next.get("rated")?.stored, true);
  });
});
