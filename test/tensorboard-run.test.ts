// TensorBoard event files of a real run (docs/run-directory.md, "TensorBoard"): a tiny SFT → DPO graph with an
// online and a mixed phase and an evaluation. Every training phase's folder holds train/<metric> at every step of
// metrics/<phase>.jsonl and the evaluation's eval/<model>/<figure>; TensorBoard's own Python reader
// (EventAccumulator, and the raw loader for the file version) reads back the same tags, steps and float32 values. A
// reused node keeps its file (same run directory) or gets one written from the store (another run directory sharing
// the store, --tensorboard elsewhere); a folder written for another key is replaced; a link out is refused.
//
// The Python part needs `tensorboard` in ALIGNC_PYTHON (else python3): .ci/run installs it in .ci/.venv. Without it
// that test is skipped with the reason, and the TypeScript checks of the same files still run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { FILE_VERSION, readEvents } from "../src/formats/tensorboard-events.ts";
import type { EvaluationFile } from "../src/runtime/eval/compare.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { evaluationFigures, TENSORBOARD_MARKER } from "../src/runtime/pipeline/runner/tensorboard.ts";
import { TEST_DEVICE } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-tb-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const TINY_ONLINE = "rounds: 2\n  prompts_per_round: 4\n  max_tokens: 8\n  batch: 4\n  optimizer: adamw { lr: 1e-3 }";
const FILE = `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset train = shapes { split: train, count: 16, seed: 3, tasks: [describe, pope, count] }
dataset test = shapes { split: test, count: 8, seed: 2 }
rater judge = grounded {}
phase vit = sft(base, train) { steps: 4, batch: 8, steps_per_run: 2, optimizer: adamw { lr: 1e-3 } }
dataset corrupted = corrupt(train) { seed: 1 }
phase aligned = dpo(vit, corrupted) { objective: { loss: sigmoid, beta: 0.1 }, optimizer: adamw { lr: 1e-3 }, steps: 3, batch: 4, steps_per_run: 2 }
phase on = online(vit, train) {
  annotator: judge
  samples: 2
  ${TINY_ONLINE}
}
phase mx = mixed(vit, corrupted, train) {
  p: 0.5
  annotator: judge
  samples: 2
  ${TINY_ONLINE}
}
evaluate final { models: [base, vit, aligned], on: test, metrics: [pope, chair, recall, text_accuracy], max_tokens: 8 }
`;
const PHASES = ["vit", "aligned", "on", "mx"];

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

async function run(file: string, runDir: string, o: { store?: string; tensorboard?: string } = {}) {
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const log = new RunLog(undefined, { write: () => {}, isTTY: false });
  const outcomes = await runGraph(result.graph, {
    layout: new RunLayout(runDir, o.store),
    entryAbsPath: path.resolve(file),
    device: TEST_DEVICE,
    log,
    ...(o.tensorboard ? { tensorboard: o.tensorboard } : {}),
  });
  return Object.fromEntries(outcomes.map((x) => [x.id, x.status]));
}

const jsonl = (file: string) =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Float32 bits of a number, as TensorBoard's simple_value holds it. */
const bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0] as number;

type Points = Map<string, [number, number][]>; // tag → [step, float32 bits]

/** What a run directory says each folder must hold: train/<name> per metrics row, eval/<model>/<figure> per evaluation. */
function expected(runDir: string): Map<string, Points> {
  const out = new Map<string, Points>();
  const add = (folder: string, tag: string, step: number, value: number) => {
    const points = out.get(folder) ?? new Map<string, [number, number][]>();
    out.set(folder, points);
    points.set(tag, [...(points.get(tag) ?? []), [step, bits(value)]]);
  };
  const lastStep = new Map<string, number>();
  for (const id of PHASES) {
    const rows = jsonl(path.join(runDir, "metrics", `${id}.jsonl`));
    assert.ok(rows.length > 0, id);
    for (const row of rows)
      for (const [name, value] of Object.entries(row)) if (name !== "step" && typeof value === "number") add(id, `train/${name}`, row.step as number, value);
    lastStep.set(id, rows.at(-1)?.step as number);
  }
  const evaluation = JSON.parse(readFileSync(path.join(runDir, "evaluations", "final.json"), "utf8")) as EvaluationFile;
  for (const [model, report] of Object.entries(evaluation.models))
    for (const [figure, value] of evaluationFigures(report)) add("final", `eval/${model}/${figure}`, lastStep.get(model) ?? 0, value);
  return out;
}

/** Each folder's event files read with alignc's own reader: their names, the first Event, and the points. */
function readOurs(tbDir: string): Map<string, { files: string[]; fileVersion?: string; points: Points }> {
  const out = new Map<string, { files: string[]; fileVersion?: string; points: Points }>();
  for (const folder of readdirSync(tbDir).sort()) {
    const files = readdirSync(path.join(tbDir, folder))
      .filter((f) => f.includes("tfevents"))
      .sort();
    const events = files.flatMap((f) => readEvents(readFileSync(path.join(tbDir, folder, f))));
    const points: Points = new Map();
    for (const e of events) for (const s of e.scalars) points.set(s.tag, [...(points.get(s.tag) ?? []), [e.step, bits(s.value)]]);
    out.set(folder, { files, ...(events[0]?.fileVersion !== undefined ? { fileVersion: events[0].fileVersion } : {}), points });
  }
  return out;
}

function assertHolds(tbDir: string, runDir: string): void {
  const want = expected(runDir);
  const got = readOurs(tbDir);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), "a folder per training phase and evaluation, nothing else");
  for (const [folder, points] of want) {
    const g = got.get(folder)!;
    assert.equal(g.files.length, 1, folder);
    assert.equal(g.fileVersion, FILE_VERSION, folder);
    assert.deepEqual(Object.fromEntries(g.points), Object.fromEntries(points), folder);
  }
}

const python = process.env.ALIGNC_PYTHON ?? "python3";
const probe = spawnSync(python, ["-c", "import tensorboard.backend.event_processing.event_accumulator"], { encoding: "utf8" });
const pythonSkip =
  probe.status === 0
    ? false
    : `SKIPPED: ${python} cannot import tensorboard (${(probe.stderr || probe.error?.message || "").trim().split("\n").at(-1)}); ` +
      "set ALIGNC_PYTHON to a Python with `pip install tensorboard` (.ci/run does) to check the files with TensorBoard's reader";
if (pythonSkip) process.stderr.write(`\n*** test/tensorboard-run.test.ts: ${pythonSkip} ***\n\n`);

describe("TensorBoard event files of alignc run", () => {
  const file = write("tb.align", FILE);
  const runDir = path.join(dir, "runs", "tb");
  const tbDir = path.join(runDir, "tensorboard");

  test("every training phase and the evaluation: train/* at each metrics row's step, eval/<model>/* per model", { timeout: 300_000 }, async () => {
    const statuses = await run(file, runDir);
    for (const id of [...PHASES, "final"]) assert.equal(statuses[id], "ran", id);
    assertHolds(tbDir, runDir);
    const want = expected(runDir);
    // TRL's names, for each kind of phase.
    for (const tag of ["train/loss", "train/token_accuracy", "train/grad_norm", "train/learning_rate", "train/epoch", "train/tokens_per_second"])
      assert.ok(want.get("vit")?.has(tag), `vit: ${tag}`);
    for (const id of ["aligned", "on", "mx"])
      for (const tag of [
        "train/loss",
        "train/rewards/chosen",
        "train/rewards/rejected",
        "train/rewards/accuracies",
        "train/rewards/margins",
        "train/logps/chosen",
      ])
        assert.ok(want.get(id)?.has(tag), `${id}: ${tag}`);
    assert.ok(want.get("on")?.has("train/objective/kl"));
    for (const model of ["base", "vit", "aligned"])
      for (const figure of ["pope_accuracy", "pope_f1", "chair_i", "chair_s", "object_recall"])
        assert.ok(want.get("final")?.has(`eval/${model}/${figure}`), `${model}: ${figure}`);
    assert.deepEqual(
      want
        .get("final")
        ?.get("eval/vit/pope_f1")
        ?.map(([step]) => step),
      [4],
    );
    assert.deepEqual(
      want
        .get("final")
        ?.get("eval/base/pope_f1")
        ?.map(([step]) => step),
      [0],
    );
    for (const folder of want.keys()) assert.ok(existsSync(path.join(tbDir, folder, TENSORBOARD_MARKER)), folder);
  });

  test("TensorBoard's own Python reader reads the same tags, steps and values", { timeout: 120_000 }, (t) => {
    if (pythonSkip) {
      t.diagnostic(`TENSORBOARD NOT INSTALLED: ${pythonSkip}`);
      t.skip(pythonSkip);
      return;
    }
    const r = spawnSync(python, [path.join(import.meta.dirname, "support", "read_tensorboard.py"), tbDir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as Record<
      string,
      { files: string[]; file_version: string; events: number; all_simple: boolean; scalars: Record<string, [number, number, number][]> }
    >;
    const want = expected(runDir);
    assert.deepEqual(Object.keys(got).sort(), [...want.keys()].sort());
    for (const [folder, points] of want) {
      const g = got[folder]!;
      assert.equal(g.file_version, FILE_VERSION, folder);
      assert.ok(g.all_simple, `${folder}: every value a simple_value`);
      assert.deepEqual(Object.keys(g.scalars).sort(), [...points.keys()].sort(), folder);
      for (const [tag, list] of points) {
        assert.deepEqual(
          g.scalars[tag]?.map(([step, , b]) => [step, b]),
          list,
          `${folder}: ${tag}`,
        );
        // Wall times: seconds since the epoch, not before the run, not decreasing within a training phase.
        const times = g.scalars[tag]!.map(([, t]) => t);
        assert.ok(
          times.every((t) => t > 1.6e9 && t <= Date.now() / 1000 + 1),
          `${folder}: ${tag} wall times`,
        );
        if (folder !== "final")
          assert.deepEqual(
            times,
            [...times].sort((a, b) => a - b),
            `${folder}: ${tag} wall times in order`,
          );
      }
    }
  });

  test("reused nodes: same run directory keeps the files; another one sharing the store gets them from the store", { timeout: 120_000 }, async () => {
    const before = new Map(
      [...readOurs(tbDir)].map(([folder, v]) => [folder, v.files.map((f) => [f, readFileSync(path.join(tbDir, folder, f)).toString("hex")])]),
    );
    const again = await run(file, runDir);
    assert.ok(Object.values(again).every((s) => s === "cached"));
    const after = new Map(
      [...readOurs(tbDir)].map(([folder, v]) => [folder, v.files.map((f) => [f, readFileSync(path.join(tbDir, folder, f)).toString("hex")])]),
    );
    assert.deepEqual(after, before, "event files of reused nodes are kept as they are");

    // A folder written for another key (the node's settings changed since) is replaced.
    const marker = path.join(tbDir, "aligned", TENSORBOARD_MARKER);
    writeFileSync(marker, readFileSync(marker, "utf8").replace(/"key":"[0-9a-f]+"/, `"key":"${"0".repeat(64)}"`));
    await run(file, runDir);
    assert.notDeepEqual(
      readOurs(tbDir).get("aligned")?.files,
      before.get("aligned")?.map(([f]) => f),
    );
    assertHolds(tbDir, runDir);

    // Another run directory on the same store: every node reused, every file written from the stored metrics.
    const other = path.join(dir, "runs", "other");
    const statuses = await run(file, other, { store: path.join(runDir, "store") });
    assert.ok(Object.values(statuses).every((s) => s === "cached"));
    assertHolds(path.join(other, "tensorboard"), other);
    assert.deepEqual(
      Object.fromEntries([...readOurs(path.join(other, "tensorboard"))].map(([k, v]) => [k, Object.fromEntries(v.points)])),
      Object.fromEntries([...readOurs(tbDir)].map(([k, v]) => [k, Object.fromEntries(v.points)])),
    );
    if (!pythonSkip) {
      const r = spawnSync(python, [path.join(import.meta.dirname, "support", "read_tensorboard.py"), path.join(other, "tensorboard")], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout) as Record<string, { scalars: Record<string, [number, number, number][]> }>;
      assert.deepEqual(
        got.vit?.scalars["train/loss"]?.map(([step, , b]) => [step, b]),
        expected(other).get("vit")?.get("train/loss"),
      );
    }
  });

  test("--tensorboard DIR puts the folders there; a link out of the run directory is refused", { timeout: 120_000 }, async () => {
    const elsewhere = path.join(dir, "tb-elsewhere", "nested");
    const third = path.join(dir, "runs", "third");
    await run(file, third, { store: path.join(runDir, "store"), tensorboard: elsewhere });
    assert.ok(!existsSync(path.join(third, "tensorboard")));
    assertHolds(elsewhere, third);

    const linked = path.join(dir, "runs", "linked");
    const outside = path.join(dir, "outside");
    mkdirSync(linked, { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, path.join(linked, "tensorboard"));
    await assert.rejects(run(file, linked, { store: path.join(runDir, "store") }), /refusing to write into .*tensorboard.*outside/);
    assert.deepEqual(readdirSync(outside), []);
  });
});
