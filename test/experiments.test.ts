// Every bundled experiment (experiments/**/*.align, shared files under experiments/common/ included) compiles
// with no errors and no warnings (a shared file may declare what only its importers use), and one that declares a sweep compiles its first trial too.
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compile } from "../src/compiler/compile.ts";
import type { Diagnostic } from "../src/diagnostics/diagnostic.ts";
import { alignFiles } from "./support/align-files.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const experiments = join(root, "experiments");

function show(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .map(
      (d) => `  ${d.span ? `${d.span.file}:${d.span.line}:${d.span.column}: ` : ""}${d.severity}[${d.code}] ${d.message}${d.help ? ` (help: ${d.help})` : ""}`,
    )
    .join("\n");
}

const files = alignFiles(experiments, { recursive: true });

describe("experiments", () => {
  test("there are experiments, shared files included", () => {
    const names = files.map((f) => relative(experiments, f));
    assert.ok(names.length >= 2, `found only ${names.join(", ")}`);
    assert.ok(
      names.some((n) => n.startsWith("common/")),
      "experiments/common/ holds no .align file",
    );
  });

  for (const file of files) {
    const name = relative(root, file);
    test(`${name} compiles with no errors and no warnings`, async () => {
      const result = await compile(file);
      // A shared file under common/ is a library: what it declares is used by the files that import it.
      const library = name.includes(`experiments/common/`);
      const problems = result.diagnostics.filter((d) => (d.severity === "error" || d.severity === "warning") && !(library && d.code === "ALN3017"));
      assert.equal(problems.length, 0, `${name}:\n${show(problems)}`);
      assert.ok(result.graph, `${name}: no execution graph`);
      if (result.checked && result.checked.sweeps.size > 0) {
        for (const sweep of result.checked.sweeps.keys()) {
          const trial = await compile(file, { sweep, trial: "0" });
          const trialProblems = trial.diagnostics.filter((d) => d.severity === "error" || d.severity === "warning");
          assert.equal(trialProblems.length, 0, `${name}, sweep ${sweep}, trial 0:\n${show(trialProblems)}`);
          assert.equal(trial.graph?.trial?.ordinal, 0, `${name}, sweep ${sweep}: trial 0 has no graph`);
        }
      }
    });
  }
});
