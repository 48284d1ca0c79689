// Baseline tests in the style of the TypeScript compiler's: every test/cases/*.align is compiled, its
// diagnostics rendered as the terminal shows them (without colour) and, when it compiles, its plan. The
// output is compared with test/baselines/<case>.errors.txt and <case>.plan.txt. On a mismatch the actual
// output goes to test/baselines/local/ (git-ignored); review it with a diff and accept it with
//   npm run baselines:accept          (copies test/baselines/local/* over test/baselines/)
// or write baselines directly with ACCEPT_BASELINES=1 npm test.
//
// A case may set compile options in comments, one per line:
//   // @set: beta=0.2      // @trial: 3      // @sweep: name      // @warn: ALN3017=error
// and `// @hooks: true` compiles it as the CLI does, with the TypeScript rater check (compile(), which loads
// ts-morph), instead of the synchronous front end alone (compileSync).
//
// Every diagnostic code of the message table appears in some baseline, or is exempted below with the test that
// covers it instead ("every code has a baseline").
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type CompileOptions, compile, compileSync } from "../src/compiler/compile.ts";
import { messages } from "../src/diagnostics/messages.ts";
import { renderDiagnostics } from "../src/diagnostics/render-terminal.ts";
import { renderPlan } from "../src/graph/render.ts";

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

function optionsOf(text: string): CompileOptions & { hooks?: boolean } {
  const options: CompileOptions & { hooks?: boolean } = {};
  for (const m of text.matchAll(/^\/\/\s*@(set|trial|sweep|warn|hooks)\s*:\s*(\S+)\s*$/gm)) {
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "set") options.set = [...(options.set ?? []), value];
    else if (key === "warn") options.warn = [...(options.warn ?? []), value];
    else if (key === "trial") options.trial = value;
    else if (key === "hooks") options.hooks = value === "true";
    else options.sweep = value;
  }
  return options;
}

/**
 * Codes no baseline can show, each with the test that covers it. A baseline case is a committed file compiled from
 * test/cases/, so it cannot hold a 16 MB file or 100,000 tokens, nor run alignc on data.
 */
const EXEMPT: Record<string, string> = {
  // An import that cannot be read: the case would be a symbolic link to itself, which every tool walking the tree trips on.
  ALN0003: "test/diagnostics.test.ts",
  // A source over 16 MB (MAX_SOURCE_BYTES).
  ALN0005: "test/robustness.test.ts",
  // More than 100,000 tokens (MAX_TOKENS), hundreds of kilobytes of text.
  ALN1010: "test/robustness.test.ts",
  // Run-time input (data files, images, checkpoints, program files): reported by `alignc run`, not the compiler.
  ALN6001: "test/data-import-hostile.test.ts",
  ALN6002: "test/data-import-hostile.test.ts",
  ALN6003: "test/data-import-hostile.test.ts",
  // A data file over its size cap, and one the operating system refuses to read: not built by the hostile-data test.
  ALN6004: "test/diagnostics.test.ts",
  ALN6005: "test/data-import-hostile.test.ts",
  ALN6006: "test/data-import-hostile.test.ts",
  ALN6007: "test/data-import-hostile.test.ts",
  ALN6008: "test/data-import-hostile.test.ts",
  ALN6009: "test/data-import-hostile.test.ts",
  ALN6010: "test/data-import-hostile.test.ts",
  ALN6011: "test/diagnostics.test.ts",
  ALN6012: "test/formats-parquet.test.ts",
  // Run-time failures (ALN7xxx): raised while running, by the error class test/failures.test.ts ties to each code.
  ALN7001: "test/dpo-run.test.ts",
  ALN7002: "test/run.test.ts",
  ALN7003: "test/resume.test.ts",
  ALN7004: "test/failures.test.ts",
  ALN7005: "test/failures.test.ts",
  ALN7006: "test/failures.test.ts",
  ALN7007: "test/vlm-feeds.test.ts",
  ALN7008: "test/failures.test.ts",
  ALN7009: "test/runtime.test.ts",
  ALN7010: "test/failures.test.ts",
  ALN7011: "test/online-run.test.ts",
  ALN7012: "test/prefdata-sample.test.ts",
  ALN7013: "test/failures.test.ts",
  ALN7014: "test/failures.test.ts",
  ALN7015: "test/failures.test.ts",
  ALN7016: "test/failures.test.ts",
  ALN7017: "test/failures.test.ts",
  ALN7018: "test/failures.test.ts",
  ALN7019: "test/failures.test.ts",
  ALN7020: "test/failures.test.ts",
  ALN7021: "test/failures.test.ts",
  ALN7022: "test/failures.test.ts",
  ALN7023: "test/rater-command.test.ts",
  ALN7024: "test/chat-template.test.ts",
  ALN7025: "test/hf-runtime.test.ts",
  ALN7026: "test/images.test.ts",
  // More than 100 diagnostics in one file: a baseline of hundreds of lines.
  ALN9001: "test/diagnostics.test.ts",
};

/** The outputs of one case: file name → content, undefined for an output that must not exist. */
async function outputsOf(name: string): Promise<Map<string, string | undefined>> {
  const file = path.join(casesDir, `${name}.align`);
  const { hooks, ...options } = optionsOf(readFileSync(file, "utf8"));
  const result = hooks ? await compile(file, options) : compileSync(file, options);
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
    test(name, async () => {
      const problems: string[] = [];
      for (const [file, actual] of await outputsOf(name)) {
        const problem = compare(file, actual);
        if (problem) problems.push(problem);
      }
      if (problems.length > 0) assert.fail(problems.join("\n"));
    });
  }

  test("every code has a baseline, or an exemption naming the test that covers it", () => {
    const shown = new Set<string>();
    for (const f of readdirSync(baselineDir).filter((f) => f.endsWith(".errors.txt")))
      for (const m of readFileSync(path.join(baselineDir, f), "utf8").matchAll(/\b(?:error|warning|info)\[(ALN\d{4})\]/g)) shown.add(m[1] as string);
    const codes = Object.values(messages).map((m) => m.code);
    const missing = codes.filter((c) => !shown.has(c) && !(c in EXEMPT));
    assert.deepEqual(missing, [], "codes that appear in no baseline: add a case to test/cases, or an exemption with the test that covers the code");
    for (const [code, testFile] of Object.entries(EXEMPT)) {
      assert.ok(codes.includes(code), `${code} is exempted but is no code of the message table`);
      assert.ok(!shown.has(code), `${code} is exempted but appears in a baseline: remove the exemption`);
      assert.ok(existsSync(testFile), `${code}: the exemption names ${testFile}, which does not exist`);
      const id = Object.entries(messages).find(([, m]) => m.code === code)?.[0] ?? "";
      const text = readFileSync(testFile, "utf8");
      assert.ok(text.includes(code) || text.includes(id), `${code}: ${testFile} mentions neither ${code} nor ${id}`);
    }
  });

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
