// The preference-data stages end to end through `alignc run` on nano: every stage runs and stores its dataset,
// pairs keep their margin, exports land in the run directory, a second run recomputes nothing, `alignc plan`
// says why a node will run, `alignc inspect` shows records, and a run killed with SIGKILL in the middle of
// rating asks the rater only for the missing items when run again and writes what an uninterrupted run writes.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { type PairRecord, readDataset } from "../src/runtime/data/prefdata/records.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { programDigest } from "../src/runtime/pipeline/executors/program-files.ts";
import { exportPathProblem } from "../src/runtime/pipeline/executors/stage-export.ts";
import { JOURNAL_FILE, stderrGist } from "../src/runtime/pipeline/executors/stage-rate.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { planStatus } from "../src/runtime/pipeline/runner/plan-status.ts";
import { runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { repoRoot } from "./support/align-files.ts";
import { TEST_DEVICE, testDeviceKinds } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-prefdata-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = path.join(repoRoot, "bin/alignc.js");

const PIPELINE = `align 1
param margin: float in 0..8 = 1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 24, seed: 1 }
dataset parts = split(pool) { parts: { a: 50%, b: 50% }, seed: 1 }
dataset samples = sample(base, parts.a) { n: 3, max_tokens: 12, seed: 3 }
rater judge = grounded {}
dataset rated = rate(samples, judge)
dataset pairs = pair(rated) { score: helpfulness + correctness + coherence, margin: \${margin}, rejected: all_below_margin }
dataset best_rated = best(rated) { score: helpfulness + correctness + coherence }
dataset corrupted = corrupt(parts.b) { seed: 2 }
similarity lex = lexical {}
dataset hallucinated = bdhs(base, parts.b) { similarity: lex, epsilon: 0.5, tries: 2, max_tokens: 12 }
dataset all = concat(pairs, corrupted, hallucinated)
dataset flipped = flip(all) { fraction: 25% }
dataset long = filter(flipped) { where: chosen_words >= 2 }
dataset half = take(long) { fraction: 50% }
dataset mixed = mix(pairs, corrupted) { weights: [0.5, 0.5], count: 10 }
dataset exported = export(half) { path: "exports/pairs.trl.jsonl", format: trl }
dataset exported_best = export(best_rated) { path: "exports/best.jsonl", format: trl }
dataset shuffled = shuffle(mixed) { seed: 4 }
dataset exported_mix = export(shuffled) { path: "exports/mixed.sharegpt.jsonl", format: sharegpt }
`;

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

async function graphOf(file: string, set?: string[]) {
  const result = await compile(file, { set });
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  return result.graph;
}

async function run(file: string, runDir: string, set?: string[]) {
  const graph = await graphOf(file, set);
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const outcomes = await runGraph(graph, { layout: new RunLayout(runDir), entryAbsPath: path.resolve(file), device: TEST_DEVICE, log });
  return { outcomes, log: lines.join("") };
}

const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8", timeout: 120_000 });

describe("preference data through alignc run", () => {
  const file = write("pipeline.align", PIPELINE);
  const runDir = path.join(dir, "runs", "pipeline");
  const output = (id: string) => readDataset(path.join(runDir, "outputs", id));

  test("every stage runs and stores a dataset of its kind", async () => {
    const r = await run(file, runDir);
    assert.ok(
      r.outcomes.every((o) => o.status === "ran"),
      r.log,
    );
    assert.equal(output("samples").kind, "samples");
    assert.equal(output("samples").records.length, 12);
    const rated = output("rated");
    assert.equal(rated.kind, "rated");
    if (rated.kind === "rated") {
      assert.deepEqual(rated.rating.aspects, ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]);
      for (const r of rated.records) assert.equal(r.scores.length, 3);
    }
    // Every rated pair keeps its margin, and its chosen answer is the best of its prompt.
    const pairs = output("pairs").records as PairRecord[];
    for (const p of pairs) {
      assert.equal(p.source.kind, "rated");
      if (p.source.kind !== "rated") continue;
      assert.ok((p.source.scores[p.source.chosen] as number) - (p.source.scores[p.source.rejected] as number) >= 1);
      assert.equal(p.source.scores[p.source.chosen], Math.max(...p.source.scores));
    }
    assert.equal(output("best_rated").kind, "prompts");
    assert.equal(output("best_rated").records.length, 12);
    const hallucinated = output("hallucinated").records as PairRecord[];
    assert.ok(hallucinated.length > 0 && hallucinated.every((p) => p.source.kind === "bdhs"));
    const all = output("all").records;
    assert.equal(all.length, pairs.length + output("corrupted").records.length + hallucinated.length);
    assert.equal((output("flipped").records as PairRecord[]).filter((p) => p.flipped).length, Math.round(all.length * 0.25));
    assert.ok((output("long").records as PairRecord[]).every((p) => p.chosen.split(/\s+/).length >= 2));
    assert.equal(output("mixed").records.length, 10);
    // Exports are copied into the run directory, images beside them.
    const trl = readFileSync(path.join(runDir, "exports", "pairs.trl.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.equal(trl.length, output("half").records.length);
    const row = JSON.parse(trl[0] as string) as { prompt: unknown; chosen: unknown; rejected: unknown; images?: string[] };
    // An image pair in TRL's vision layout: the answer an assistant message of text parts.
    if (row.images) assert.deepEqual((row.chosen as { role: string }[])[0]?.role, "assistant");
    else assert.equal(typeof row.chosen, "string");
    for (const image of row.images ?? []) assert.ok(existsSync(path.join(runDir, "exports", image)));
    assert.ok(existsSync(path.join(runDir, "exports", "mixed.sharegpt.jsonl")));
    // A sharegpt export is registered for LLaMA-Factory in its folder.
    const registry = JSON.parse(readFileSync(path.join(runDir, "exports", "dataset_info.json"), "utf8")) as Record<string, { file_name: string }>;
    assert.equal(registry["mixed.sharegpt"]?.file_name, "mixed.sharegpt.jsonl");
  });

  test("a second run recomputes nothing; a changed margin re-runs pairing and what follows, and plan says why", async () => {
    const again = await run(file, runDir);
    assert.ok(again.outcomes.every((o) => o.status === "cached"));
    const graph = await graphOf(file, ["margin=2"]);
    const statuses = new Map(planStatus(graph, new RunLayout(runDir), EXECUTORS, dir, await testDeviceKinds(graph)).map((s) => [s.id, s]));
    assert.equal(statuses.get("rated")?.stored, true);
    assert.equal(statuses.get("hallucinated")?.stored, true);
    assert.equal(statuses.get("pairs")?.stored, false);
    assert.deepEqual(statuses.get("pairs")?.reasons, ["setting margin: 1 → 2"]);
    assert.deepEqual(statuses.get("all")?.reasons, ["input datasets[0] (pairs) changed"]);
    const text = cli(["plan", file, "--set", "margin=2", "--no-color"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /pairs {2}stage\.pair → dataset:pairs {2}#\w+\n {5}will run: setting margin: 1 → 2\n/);
    assert.match(text.stdout, /rated {2}stage\.rate → dataset:rated {2}#\w+\n {5}stored \(\w+\): will not run\n/);
    assert.match(text.stdout, /\n11 of 20 nodes stored in .*; 9 will run\n/);
  });

  test("alignc inspect shows records in text and JSON", () => {
    const text = cli(["inspect", runDir, "pairs", "--limit", "1"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /pairs \(stage\.pair\): \d+ pairs records; showing 1/);
    assert.match(text.stdout, /chosen \(response \d, helpfulness \+ correctness \+ coherence = \d+\): /);
    assert.match(text.stdout, /made by pair from judge's scores with margin 1; all scores: /);
    const bdhs = cli(["inspect", runDir, "hallucinated", "--limit", "1"]);
    assert.match(bdhs.stdout, /try 1 \(guided, \d+ image tokens visible\): similarity [\d.]+ (accepted|rejected)/);
    const json = cli(["inspect", runDir, "rated", "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { dataset: string; total: number; records: { scores: unknown[] }[] };
    assert.equal(parsed.dataset, "rated");
    assert.equal(parsed.records.length, parsed.total);
    const part = cli(["inspect", runDir, "parts.a", "--json", "--limit", "2"]);
    assert.equal((JSON.parse(part.stdout) as { records: unknown[] }).records.length, 2);
    const typo = cli(["inspect", runDir, "parts.zz"]);
    assert.equal(typo.status, 1);
    assert.match(typo.stderr, /parts has no part 'zz'; its parts: a, b/);
    const missing = cli(["inspect", runDir, "nope"]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /node 'nope' has no output in .*; nodes with outputs: .*pairs/);
  });
});

describe("resume after SIGKILL in the middle of rating", () => {
  const raterLog = (name: string) => {
    const d = path.join(dir, "rater-logs", name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const events = (d: string) =>
    existsSync(path.join(d, "events.jsonl"))
      ? readFileSync(path.join(d, "events.jsonl"), "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { event: string; id: string })
          .filter((e) => e.event === "request")
      : [];
  // The rater's log directory comes from the environment of the alignc process, not from the file, so the killed
  // run, the resumed run and the uninterrupted run share one store key.
  const file = write(
    "resume.align",
    `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 10, seed: 1 }
dataset samples = sample(base, pool) { n: 2, max_tokens: 6 }
rater slow = command([${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(repoRoot, "test/fixtures/command-raters/good.mjs"))}]) {
  aspects: [helpfulness, correctness]
  scale: 0..4
  concurrency: 1
  env: { GOOD_DELAY_MS: "250" }
}
dataset rated = rate(samples, slow)
`,
  );

  test("the rerun rates only the missing items and writes what an uninterrupted run writes", { timeout: 180_000 }, async () => {
    const killedDir = path.join(dir, "runs", "killed");
    const firstLog = raterLog("first");
    const child = spawn(process.execPath, [bin, "run", file, "--run-dir", killedDir], {
      cwd: dir,
      detached: true, // its own process group: the kill takes the rater program with it, as a crash would
      env: { ...process.env, RATER_LOG_DIR: firstLog },
      stdio: "ignore",
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal === "SIGKILL" ? -9 : _code)));
    const partial = path.join(killedDir, "store", ".partial");
    const journalLines = () => {
      if (!existsSync(partial)) return 0;
      let n = 0;
      for (const key of readdirSync(partial)) {
        const f = path.join(partial, key, JOURNAL_FILE);
        if (existsSync(f))
          n += readFileSync(f, "utf8")
            .split("\n")
            .filter((l) => l.trim() !== "").length;
      }
      return n;
    };
    const deadline = Date.now() + 120_000;
    while (journalLines() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(journalLines() >= 3, "the rater never got going");
    process.kill(-(child.pid as number), "SIGKILL");
    assert.equal(await exited, -9);
    const kept = journalLines();
    assert.ok(kept >= 3 && kept < 10, `kept ${kept}`);
    const journalled = new Set<string>();
    for (const key of readdirSync(partial))
      for (const line of readFileSync(path.join(partial, key, JOURNAL_FILE), "utf8").split("\n"))
        if (line.trim() !== "") journalled.add((JSON.parse(line) as { itemId: string }).itemId);

    const graph = await graphOf(file);
    const status = planStatus(graph, new RunLayout(killedDir), EXECUTORS, dir, await testDeviceKinds(graph)).find((s) => s.id === "rated");
    assert.deepEqual(status?.reasons, [
      "not finished by the latest run (it failed or was stopped)",
      `${kept} results of the unfinished attempt are kept and will not be asked for again`,
    ]);

    const secondLog = raterLog("second");
    process.env.RATER_LOG_DIR = secondLog;
    let resumed: Awaited<ReturnType<typeof run>>;
    try {
      resumed = await run(file, killedDir);
    } finally {
      delete process.env.RATER_LOG_DIR;
    }
    assert.match(resumed.log, new RegExp(`rated: ${kept} of 10 items already rated in an earlier attempt; rating ${10 - kept}`));
    // Listwise requests carry the item id: the rerun asked exactly for the items the journal lacked.
    const asked = events(secondLog).map((e) => e.id);
    assert.equal(asked.length, 10 - kept);
    assert.ok(asked.every((id) => !journalled.has(id)));
    assert.equal(new Set([...asked, ...journalled]).size, 10);
    assert.ok(events(firstLog).length >= kept);
    assert.deepEqual(readdirSync(partial), [], "the scratch directory is removed once the entry is stored");

    const cleanDir = path.join(dir, "runs", "clean");
    process.env.RATER_LOG_DIR = raterLog("clean");
    try {
      await run(file, cleanDir);
    } finally {
      delete process.env.RATER_LOG_DIR;
    }
    const records = (d: string) => readFileSync(path.join(d, "outputs", "rated", "records.jsonl"), "utf8");
    assert.equal(records(killedDir), records(cleanDir));
    assert.equal(events(raterLog("clean")).length, 10);
  });
});

test("a failing rater's stderr is shown by its error line and its last lines", () => {
  const stderr = "node:internal/loader:1210\n  throw err;\nError: Cannot find module 'x.mjs'\n  at a\n  at b\n  code: 'MODULE_NOT_FOUND'\n}\nNode.js v20\n";
  assert.deepEqual(stderrGist(stderr), ["Error: Cannot find module 'x.mjs'", "…", "  code: 'MODULE_NOT_FOUND'", "}", "Node.js v20"]);
  assert.deepEqual(stderrGist("one\ntwo\n"), ["one", "two"]);
  assert.deepEqual(stderrGist("Traceback (most recent call last):\nValueError: bad"), ["Traceback (most recent call last):", "ValueError: bad"]);
});

test("a program's key covers its argv files and the files it declares it reads", () => {
  const d = mkdtempSync(path.join(tmpdir(), "alignc-program-"));
  try {
    writeFileSync(path.join(d, "judge.mjs"), "import './lib.mjs';\n");
    writeFileSync(path.join(d, "lib.mjs"), "export const x = 1;\n");
    const argv = ["node", "judge.mjs"];
    const without = programDigest(argv, [], d);
    const withLib = programDigest(argv, ["lib.mjs"], d);
    assert.notEqual(withLib, without);
    writeFileSync(path.join(d, "lib.mjs"), "export const x = 2;\n");
    assert.equal(programDigest(argv, [], d), without, "an undeclared file is not seen");
    assert.notEqual(programDigest(argv, ["lib.mjs"], d), withLib, "a declared file is");
    writeFileSync(path.join(d, "judge.mjs"), "import './lib.mjs'; // v2\n");
    assert.notEqual(programDigest(argv, [], d), without, "the script in argv is");
    assert.notEqual(programDigest(argv, ["missing.txt"], d), programDigest(argv, [], d));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("export paths stay inside the run directory and out of what alignc keeps there", () => {
  assert.equal(exportPathProblem("exports/pairs.jsonl"), undefined);
  assert.equal(exportPathProblem("pairs.jsonl"), undefined);
  assert.match(exportPathProblem("../pairs.jsonl") ?? "", /leaves the run directory/);
  assert.match(exportPathProblem("/tmp/pairs.jsonl") ?? "", /leaves the run directory/);
  for (const reserved of ["outputs/pool/items.jsonl", "store/x.jsonl", "logs", "plan.json", "align.lock", "./metrics/m.jsonl"])
    assert.match(exportPathProblem(reserved) ?? "", /which alignc keeps in the run directory/, reserved);
});
