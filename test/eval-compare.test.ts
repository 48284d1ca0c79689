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
    ].join("\n"),
  );
  assert.equal(renderComparison([]), undefined);
});
