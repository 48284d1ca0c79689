// The run-end comparison table of every evaluated model.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type EvaluationFile, renderComparison } from "../src/runtime/eval/compare.ts";
import type { WorldReport } from "../src/runtime/eval/evaluate.ts";

const report = (pope: number, text: number): WorldReport =>
  ({
    missing: 0,
    pope: { splits: {}, all: { n: 10, accuracy: pope, f1: pope - 0.01, yesRatio: 0.5 } },
    text: { n: 5, correct: 0, accuracy: text, byKind: {} },
  }) as unknown as WorldReport;

test("a row per evaluated model, columns only for what was measured", () => {
  const a: EvaluationFile = { data: "test", metrics: ["pope", "text_accuracy"], models: { vit: report(0.765, 0), dpo: report(0.755, 0.1) } };
  const b: EvaluationFile = { data: "test", metrics: ["pope"], models: { base: report(0.5, 0) } };
  const table = renderComparison([
    { node: "after_dpo", file: a },
    { node: "before", file: b },
  ]) as string;
  assert.equal(
    table,
    [
      "## All evaluated models",
      "",
      "| evaluation | on | model | POPE acc | POPE F1 | text acc |",
      "|---|---|---|---:|---:|---:|",
      "| after_dpo | test | vit | 76.5% | 75.5% | 0.0% |",
      "| after_dpo | test | dpo | 75.5% | 74.5% | 10.0% |",
      "| before | test | base | 50.0% | 49.0% | 0.0% |",
      "",
      "POPE acc/F1: yes/no questions on whether an object is in the image (higher is better).",
      "text/attribute/count acc: exact answers to those tasks (higher is better).",
    ].join("\n"),
  );
  assert.equal(renderComparison([]), undefined);
});

test("one evaluation is titled by itself; the legend covers the columns shown, in at most two lines", () => {
  const quality = (correctness: number) =>
    ({
      ...report(0.7, 0),
      text: undefined,
      describe: { chairI: 0.5, chairS: 0.6, recall: 0.4, descriptions: 3, topHallucinated: [] },
      quality: { all: { means: { correctness } }, byTask: {} },
    }) as unknown as WorldReport;
  const file: EvaluationFile = { data: "heldout", metrics: ["pope", "chair", "recall", "quality"], models: { vit: quality(1.33), aligned: quality(1.75) } };
  const lines = (renderComparison([{ node: "quickstart", file }]) as string).split("\n");
  assert.equal(lines[0], "## quickstart on heldout");
  assert.equal(lines[2], "| model | POPE acc | POPE F1 | CHAIR_i ↓ | CHAIR_s ↓ | recall | correctness |");
  assert.equal(lines[5], "| aligned | 70.0% | 69.0% | 50.0% | 60.0% | 40.0% | 1.75 |");
  const legend = lines.slice(7);
  assert.equal(legend.length, 2);
  assert.match(legend[0] ?? "", /^POPE acc\/F1: .*\(higher is better\); CHAIR_i\/CHAIR_s ↓: .*\(lower is better\); recall: .*\(higher is better\)\.$/);
  assert.match(legend[1] ?? "", /^helpfulness, correctness, coherence: the rater's mean score .*\(higher is better\)\.$/);
  // An evaluation's caption (its `caption` setting) closes the table: as it is for one evaluation, named for several.
  const captioned = { ...file, caption: "Expect recall to drop." };
  assert.match(renderComparison([{ node: "quickstart", file: captioned }]) as string, /\(higher is better\)\.\n\nExpect recall to drop\.$/);
  assert.match(
    renderComparison([
      { node: "q", file: captioned },
      { node: "r", file },
    ]) as string,
    /\n\nq: Expect recall to drop\.$/,
  );
});
