// Baseline tests in the style of the TypeScript compiler's: every test/cases/*.align is compiled, its
// diagnostics rendered as the terminal shows them (without colour) and, when it compiles, its plan. The
// output is compared with test/baselines/<case>.errors.txt and <case>.plan.txt. On a mismatch the actual
// output goes to test/baselines/local/ (git-ignored); review it with a diff and accept it with
//   npm run baselines:accept          (copies test/baselines/local/* over test/baselines/)
// or write baselines directly with ACCEPT_BASELINES=1 npm test.
//
// A case may set compile options in comments, one per line:
//   // @set: beta=0.2      // @trial: 3      // @sweep: name
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type CompileOptions, compileSync } from "../src/compiler/compile.ts";
import { renderDiagnostics } from "../src/compiler/diagnostics/render-terminal.ts";
import { renderPlan } from "../src/compiler/lower/render-plan.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
// Rendered paths are relative to the working directory; baselines are written from the repository root.
process.chdir(repoRoot);

const casesDir = "test/cases";
const baselineDir = "test/baselines";
const localDir = path.join(baselineDir, "local");
const accept = process.env.ACCEPT_BASELINES === "1";
const SUFFIXES = [".errors.txt", ".plan.txt"] as const;
/** Marker written to local/ when a baseline should disappear (the case no longer compiles to a plan). */
const DELETE_MARKER = ".delete";

function caseNames(): string[] {
  return readdirSync(casesDir)
    .filter((f) => f.endsWith(".align"))
    .sort()
    .map((f) => f.slice(0, -".align".length));
}

function optionsOf(text: string): CompileOptions {
  const options: CompileOptions = {};
  for (const m of text.matchAll(/^\/\/\s*@(set|trial|sweep)\s*:\s*(\S+)\s*$/gm)) {
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "set") options.set = [...(options.set ?? []), value];
    else if (key === "trial") options.trial = value;
    else options.sweep = value;
  }
  return options;
}

/** The outputs of one case: file name → content, undefined for an output that must not exist. */
function outputsOf(name: string): Map<string, string | undefined> {
  const file = path.join(casesDir, `${name}.align`);
  const result = compileSync(file, optionsOf(readFileSync(file, "utf8")));
  const errors = renderDiagnostics(result.diagnostics, result.sources, { color: false });
  return new Map([
    [`${name}.errors.txt`, `${errors || "no diagnostics"}\n`],
    [`${name}.plan.txt`, result.graph ? `${renderPlan(result.graph)}\n` : undefined],
  ]);
}

/** A one-line hint at the first differing line. */
function diffHint(expected: string, actual: string): string {
  const e = expected.split("\n");
  const a = actual.split("\n");
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] !== a[i])
      return `first difference at line ${i + 1}:\n  baseline: ${JSON.stringify(e[i] ?? "<end of file>")}\n  actual:   ${JSON.stringify(a[i] ?? "<end of file>")}`;
  }
  return "the files differ only in line endings";
}

function writeLocal(file: string, content: string): void {
  mkdirSync(localDir, { recursive: true });
  writeFileSync(path.join(localDir, file), content);
}

function removeLocal(file: string): void {
  rmSync(path.join(localDir, file), { force: true });
  rmSync(path.join(localDir, file + DELETE_MARKER), { force: true });
}

/** Compares one output with its baseline; returns a problem description, or undefined when they match. */
function compare(file: string, actual: string | undefined): string | undefined {
  const baselinePath = path.join(baselineDir, file);
  const expected = existsSync(baselinePath) ? readFileSync(baselinePath, "utf8") : undefined;
  if (expected === actual) {
    removeLocal(file);
    return undefined;
  }
  if (accept) {
    if (actual === undefined) rmSync(baselinePath, { force: true });
    else writeFileSync(baselinePath, actual);
    removeLocal(file);
    return undefined;
  }
  const review = `review: diff ${baselinePath} ${path.join(localDir, file)}; accept: npm run baselines:accept`;
  if (actual === undefined) {
    writeLocal(file + DELETE_MARKER, "");
    return `${file}: the baseline exists but the case produces no such output (${review})`;
  }
  writeLocal(file, actual);
  if (expected === undefined) return `${file}: new output, no baseline yet (${review})`;
  return `${file}: output differs from the baseline; ${diffHint(expected, actual)}\n  ${review}`;
}

describe("baselines", () => {
  mkdirSync(baselineDir, { recursive: true });
  const names = caseNames();

  test("there are cases", () => {
    assert.ok(names.length >= 15, `expected at least 15 cases in ${casesDir}, found ${names.length}`);
  });

  for (const name of names) {
    test(name, () => {
      const problems: string[] = [];
      for (const [file, actual] of outputsOf(name)) {
        const problem = compare(file, actual);
        if (problem) problems.push(problem);
      }
      if (problems.length > 0) assert.fail(problems.join("\n"));
    });
  }

  test("no baselines without a case", () => {
    const known = new Set(names);
    const stale = readdirSync(baselineDir).filter((f) => {
      const suffix = SUFFIXES.find((s) => f.endsWith(s));
      return suffix !== undefined && !known.has(f.slice(0, -suffix.length));
    });
    if (accept) for (const f of stale) rmSync(path.join(baselineDir, f));
    else assert.deepEqual(stale, [], `baselines whose case no longer exists (remove them with npm run baselines:accept)`);
  });
});
