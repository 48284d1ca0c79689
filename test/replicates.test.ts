// Results across seeds (src/runtime/reports/replicates.ts): a sweep's trials grouped by their other swept settings and
// model, each figure's mean and sample standard deviation over the seed axis, rendered as the Markdown tables of
// docs/results.md; failed trials leave their seed out and n says so.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EvaluationFile } from "../src/runtime/eval/compare.ts";
import type { WorldReport } from "../src/runtime/eval/evaluate.ts";
import { durationWords, formatCell, meanAndSd, replicateAxis, replicatesMarkdown, summariseReplicates } from "../src/runtime/reports/replicates.ts";
import type { SweepSummary, TrialOutcome } from "../src/runtime/sweeps/local.ts";

/** A report with only the figures the tests look at (POPE accuracy, text accuracy). */
function report(pope: number, text: number): WorldReport {
  return {
    missing: 0,
    pope: { all: { accuracy: pope, f1: pope } } as unknown as WorldReport["pope"],
    text: { accuracy: text } as unknown as WorldReport["text"],
  };
}

function trial(
  ordinal: number,
  values: Record<string, unknown>,
  models: Record<string, WorldReport> | undefined,
  status: TrialOutcome["status"] = "ok",
): TrialOutcome {
  const evaluations: Record<string, EvaluationFile> | undefined = models
    ? { main: { data: "test", metrics: ["pope", "text_accuracy"], models }, extra: { data: "test", metrics: ["pope"], models: { b: report(0.5, 0.5) } } }
    : undefined;
  return { ordinal, id: `t${ordinal}`, values, status, runDir: `/nowhere/${ordinal}`, log: "", seconds: 60, device: "cpu", evaluations };
}

function sweep(trials: TrialOutcome[]): SweepSummary {
  return { format: "alignc-sweep", version: 1, entry: "/x/study.align", sweep: "seeds", store: "/x/store", started: "", trials };
}

describe("results across seeds", () => {
  test("mean and sample standard deviation", () => {
    const { mean, sd } = meanAndSd([0.7, 0.8, 0.9]);
    assert.ok(Math.abs(mean - 0.8) < 1e-12);
    assert.ok(Math.abs((sd ?? 0) - 0.1) < 1e-12);
    assert.equal(meanAndSd([0.4]).sd, undefined);
    assert.equal(formatCell({ mean: 0.8, sd: 0.1, values: [], percent: true }), "80.0 ± 10.0");
    assert.equal(formatCell({ mean: 2.345, sd: undefined, values: [], percent: false }), "2.35");
    assert.equal(formatCell(undefined), "–");
  });

  test("trial times in words: seconds never read 60 after rounding", () => {
    const cases: [number, string][] = [
      [59.5, "60 s"],
      [89.4, "89 s"],
      [89.6, "1 min 30 s"],
      [119.6, "2 min 0 s"],
      [3599.6, "60 min 0 s"],
      [5399.4, "89 min 59 s"],
      [5399.6, "1.5 h"],
      [9000, "2.5 h"],
    ];
    for (const [seconds, text] of cases) assert.equal(durationWords(seconds), text, `durationWords(${seconds})`);
    for (let s = 0; s < 6000; s += 0.7) assert.doesNotMatch(durationWords(s), /min 60 s/, `durationWords(${s})`);
  });

  test("the seed axis is found by name; another axis must be named", () => {
    assert.equal(replicateAxis(sweep([trial(0, { seed: 1, beta: 0.1 }, {})])), "seed");
    assert.equal(replicateAxis(sweep([trial(0, { world_seed: 1, beta: 0.1 }, {})])), "world_seed");
    assert.equal(replicateAxis(sweep([trial(0, { beta: 0.1 }, {})])), undefined);
  });

  test("rows group by the other settings and the model; failed trials are left out of n", () => {
    const s = sweep([
      trial(0, { beta: 0.1, seed: 1 }, { a: report(0.7, 0.2), b: report(0.6, 0.1) }),
      trial(1, { beta: 0.1, seed: 2 }, { a: report(0.8, 0.4), b: report(0.6, 0.3) }),
      trial(2, { beta: 0.1, seed: 3 }, { a: report(0.9, 0.6), b: report(0.6, 0.5) }),
      trial(3, { beta: 0.5, seed: 1 }, { a: report(0.5, 0.0), b: report(0.5, 0.0) }),
      trial(4, { beta: 0.5, seed: 2 }, undefined, "failed"),
    ]);
    const r = summariseReplicates(s, "seed", ["extra", "main"]);
    assert.deepEqual(r.axes, ["beta"]);
    assert.deepEqual(r.values, [1, 2, 3]);
    assert.equal(r.ok, 4);
    assert.equal(r.total, 5);
    assert.deepEqual(
      r.tables.map((t) => t.evaluation),
      ["extra", "main"],
      "tables come in the given order",
    );
    const main = r.tables[1]!;
    assert.deepEqual(
      main.rows.map((row) => [row.settings.beta, row.model, row.n]),
      [
        [0.1, "a", 3],
        [0.1, "b", 3],
        [0.5, "a", 1],
        [0.5, "b", 1],
      ],
    );
    const popeA = main.rows[0]!.cells.get("POPE acc")!;
    assert.deepEqual(popeA.values, [0.7, 0.8, 0.9]);
    assert.equal(formatCell(popeA), "80.0 ± 10.0");
    assert.equal(formatCell(main.rows[1]!.cells.get("POPE acc")), "60.0 ± 0.0");
    assert.equal(formatCell(main.rows[2]!.cells.get("text acc")), "0.0");

    const md = replicatesMarkdown(r);
    assert.match(md, /mean ± sample standard deviation over seed = 1, 2, 3 \(4 of 5 trials finished; 60 s per trial, 4 min 0 s in all; device cpu\)/);
    assert.match(
      md,
      /## main \(on test\)\n\n\| beta \| model \| n \| POPE acc \(%\) \| POPE F1 \(%\) \| text acc \(%\) \|\n\|---\|---\|---:\|---:\|---:\|---:\|\n\| 0\.1 \| a \| 3 \| 80\.0 ± 10\.0 \| 80\.0 ± 10\.0 \| 40\.0 ± 20\.0 \|/,
    );
    assert.ok(md.indexOf("## extra") < md.indexOf("## main"));
  });
});
