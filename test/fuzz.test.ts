// Deterministic fuzzing of the front end: every experiments/*.align and test/cases/*.align is mutated
// many times (ranges and tokens deleted, duplicated and swapped; punctuation, keywords, brackets, quotes,
// `${`, `..`, unicode, invalid UTF-8 and NUL inserted) and each mutant is compiled. The compiler must
// never throw, must fail with an error when it fails, and every diagnostic must be well formed with a span
// inside the file and line/column numbers that agree with its offsets.
//
//   FUZZ_SEED=7 FUZZ_MUTANTS=20000 node --import tsx --test test/fuzz.test.ts    (a longer run)
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type CompileResult, compileSync } from "../src/compiler/compile.ts";
import type { Diagnostic, Span } from "../src/compiler/diagnostics/diagnostic.ts";
import { renderDiagnostics } from "../src/compiler/diagnostics/render-terminal.ts";
import { renderPlan } from "../src/compiler/lower/render-plan.ts";
import { mulberry32 } from "../src/util/mulberry32.ts";
import { alignFiles } from "./support/align-files.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const SEED = Number(process.env.FUZZ_SEED ?? 20240607);
const TOTAL_MUTANTS = Number(process.env.FUZZ_MUTANTS ?? 3000);
/** A single compile slower than this is reported as a hang. */
const SLOW_MS = 2000;

// ── deterministic randomness ────────────────────────────────────────────────

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ── mutations ───────────────────────────────────────────────────────────────
const SNIPPETS = [
  // punctuation and brackets
  ..."{}[](),:.=|+-*/<>%".split(""),
  "==",
  "!=",
  "<=",
  ">=",
  "..",
  "...",
  "{{",
  "}}",
  "[[",
  "]]",
  "((",
  "))",
  "{ }",
  "[]",
  "()",
  // keywords and names
  " align ",
  " import ",
  " as ",
  " param ",
  " model ",
  " dataset ",
  " rater ",
  " similarity ",
  " phase ",
  " evaluate ",
  " sweep ",
  " in ",
  " true ",
  " false ",
  " and ",
  " or ",
  " not ",
  " x ",
  " base ",
  " train ",
  " sft ",
  " dpo ",
  " grid ",
  " tinyvlm ",
  "\nalign 1\n",
  "\nmodel m = tinyvlm {}\n",
  '\nimport "lib/helper.align"\n',
  '\nimport "common/world.align" as w\n',
  '\nimport "nowhere.align"\n',
  // strings, comments, params
  '"',
  '""',
  '"abc',
  '"a\\',
  "'",
  "`",
  "/*",
  "*/",
  "//",
  "${",
  `\${x}`,
  `\${beta}`,
  "$",
  "}",
  // literals
  "0",
  "-1",
  "1.5",
  "1e999",
  "1e-400",
  "99999999999999999999999",
  "5%",
  "150%",
  "30s",
  "0ms",
  "2h",
  "0..4",
  "4..0",
  "1.2.3",
  "0x10",
  // whitespace and odd characters
  "\n",
  "\r\n",
  "\r",
  "\t",
  "\f",
  "\v",
  "\uFEFF",
  "é",
  "€",
  "ρ",
  "\u200B",
  "\u00A0",
  "🙂",
  "\u{10FFFF}",
  "\uD800",
  "#",
  ";",
  "@",
  "?",
  "!",
  "&",
  "~",
  "^",
  "\\",
];

/** Raw byte sequences that are not valid UTF-8, and the NUL byte. */
const BAD_BYTES: number[][] = [[0xff], [0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80], [0x00], [0xf0, 0x9f]];

/** Token boundaries, roughly as the lexer sees them. */
function tokens(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of text.matchAll(
    /"(?:[^"\\\n]|\\.)*"?|\$\{\w*\}?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|s|m|h|%)?|\w+|\.\.|==|!=|<=|>=|\/\/[^\n]*|\/\*|\*\/|\S/gu,
  )) {
    out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

function range(rng: Rng, length: number): [number, number] {
  const start = rng.int(0, length);
  const end = Math.min(length, start + rng.int(0, rng.float() < 0.8 ? 12 : 200));
  return [start, end];
}

/** Literals a number or symbol is replaced with: edges of ranges, wrong types, odd forms. */
const VALUE_SNIPPETS = [
  "0",
  "1",
  "-1",
  "0.0",
  "1.0",
  "1.5",
  "-0.5",
  "1e9",
  "1e-9",
  "1e999",
  "100%",
  "0%",
  "101%",
  "0s",
  "30s",
  "2..1",
  "0..0",
  "true",
  '"x"',
  "[]",
  "{}",
  "none",
  "nano",
  "sigmoid",
  `\${beta}`,
  `\${margin}`,
  `\${nope}`,
];

function mutateText(rng: Rng, text: string): string {
  const op = rng.int(0, 10);
  const toks = tokens(text);
  const tokenRange = (): [number, number] => (toks.length ? rng.pick(toks) : range(rng, text.length));
  const pickRange = (): [number, number] => (op <= 2 ? range(rng, text.length) : tokenRange());
  switch (op) {
    case 0: // delete a character range
    case 3: {
      // delete a token
      const [a, b] = pickRange();
      return text.slice(0, a) + text.slice(b);
    }
    case 1: // duplicate a range
    case 4: {
      // duplicate a token
      const [a, b] = pickRange();
      return text.slice(0, b) + text.slice(a, b) + text.slice(b);
    }
    case 2: // swap two ranges
    case 5: {
      // swap two tokens
      let [a, b] = pickRange();
      let [c, d] = pickRange();
      if (c < a) [a, b, c, d] = [c, d, a, b];
      if (c < b) return text; // overlapping: leave it
      return text.slice(0, a) + text.slice(c, d) + text.slice(b, c) + text.slice(a, b) + text.slice(d);
    }
    case 6: {
      // truncate
      return text.slice(0, rng.int(0, text.length));
    }
    case 7: {
      // replace a word or number with another word or number of the file: usually still parses
      const words = toks.filter(([a, b]) => /^[\w$]/.test(text.slice(a, b)));
      if (words.length < 2) return text;
      const [a, b] = rng.pick(words);
      const [c, d] = rng.pick(words);
      return text.slice(0, a) + text.slice(c, d) + text.slice(b);
    }
    case 8: {
      // replace a word or number with an edge value
      const words = toks.filter(([a, b]) => /^[\w$]/.test(text.slice(a, b)));
      if (words.length === 0) return text;
      const [a, b] = rng.pick(words);
      return text.slice(0, a) + rng.pick(VALUE_SNIPPETS) + text.slice(b);
    }
    default: {
      // insert one or a few snippets at one place
      const at = rng.float() < 0.5 && toks.length ? rng.pick(toks)[rng.int(0, 1)] : rng.int(0, text.length);
      let insert = "";
      for (let i = rng.int(1, 3); i > 0; i--) insert += rng.pick(SNIPPETS);
      return text.slice(0, at) + insert + text.slice(at);
    }
  }
}

function mutate(rng: Rng, original: string): Buffer {
  let text = original;
  for (let i = rng.float() < 0.5 ? 1 : rng.int(2, 4); i > 0; i--) text = mutateText(rng, text);
  let bytes = Buffer.from(text, "utf8");
  if (rng.float() < 0.06) {
    const at = rng.float() < 0.2 ? bytes.length : rng.int(0, bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(rng.pick(BAD_BYTES)), bytes.subarray(at)]);
  }
  return bytes;
}

// ── what a well-formed result looks like ────────────────────────────────────

/** Offset of the first byte that is not valid UTF-8, or the length when all is valid. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0 || i + need >= bytes.length + (need > 0 ? 0 : 1)) return i;
    try {
      fatal.decode(bytes.subarray(i, i + need + 1));
    } catch {
      return i;
    }
    i += need + 1;
  }
  return bytes.length;
}

/** The text the compiler reads from these bytes: all of it (BOM dropped), or the valid prefix. */
function textOf(bytes: Uint8Array): string {
  const valid = firstInvalidUtf8(bytes);
  const text = new TextDecoder("utf-8").decode(bytes.subarray(0, valid));
  return valid === bytes.length && !text.includes("\0") && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

function checkSpan(span: Span, text: string, what: string): string | undefined {
  if (!(Number.isInteger(span.start) && Number.isInteger(span.end))) return `${what}: non-integer offsets ${span.start}..${span.end}`;
  if (!(0 <= span.start && span.start <= span.end && span.end <= text.length)) return `${what}: offsets ${span.start}..${span.end} outside 0..${text.length}`;
  const s = position(text, span.start);
  const e = position(text, span.end);
  if (span.line !== s.line || span.column !== s.column)
    return `${what}: start ${span.line}:${span.column} but offset ${span.start} is at ${s.line}:${s.column}`;
  if (span.endLine !== e.line || span.endColumn !== e.column)
    return `${what}: end ${span.endLine}:${span.endColumn} but offset ${span.end} is at ${e.line}:${e.column}`;
  return undefined;
}

/** Problems with a compile result, given the entry's display path and bytes. */
function resultProblems(result: CompileResult, entryDisplay: string, entryBytes: Uint8Array): string[] {
  const problems: string[] = [];
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (result.ok !== (errors.length === 0)) problems.push(`ok is ${result.ok} with ${errors.length} errors`);
  if (!result.ok && errors.length === 0) problems.push("failed without an error diagnostic");
  if (result.ok && !result.graph) problems.push("ok without a graph");
  let entryText: string | undefined;
  const textFor = (file: string): string | undefined => {
    const source = result.sources.get(file);
    if (source) return source.text;
    if (file !== entryDisplay) return undefined;
    entryText ??= textOf(entryBytes);
    return entryText;
  };
  result.diagnostics.forEach((d: Diagnostic, i) => {
    const what = `diagnostic ${i} (${d.code} ${JSON.stringify(d.message.slice(0, 80))})`;
    if (!/^ALN\d{4}$/.test(d.code)) problems.push(`${what}: bad code`);
    if (!["error", "warning", "info"].includes(d.severity)) problems.push(`${what}: bad severity ${d.severity}`);
    if (typeof d.message !== "string" || d.message.length === 0) problems.push(`${what}: empty message`);
    if (!Array.isArray(d.labels) || !Array.isArray(d.notes)) problems.push(`${what}: labels or notes missing`);
    const spans: [Span, string][] = [];
    if (d.span) spans.push([d.span, what]);
    for (const label of d.labels ?? []) spans.push([label.span, `${what} label ${JSON.stringify(label.message)}`]);
    for (const [span, where] of spans) {
      const text = textFor(span.file);
      if (text === undefined) {
        problems.push(`${where}: span in unknown file ${span.file}`);
        continue;
      }
      const p = checkSpan(span, text, where);
      if (p) problems.push(p);
    }
  });
  return problems;
}

// ── the run ─────────────────────────────────────────────────────────────────

const seeds = [...alignFiles("experiments"), ...alignFiles("test/cases")].map((f) => path.relative(repoRoot, f));
const perFile = Math.max(1, Math.ceil(TOTAL_MUTANTS / Math.max(1, seeds.length)));

// Mutants are written next to copies of the imported files, so that imports still resolve.
const workDir = mkdtempSync(path.join(tmpdir(), "alignc-fuzz-"));
for (const dir of ["experiments", "test/cases"]) {
  mkdirSync(path.join(workDir, dir), { recursive: true });
  for (const sub of ["common", "lib"]) {
    const from = path.join(repoRoot, dir, sub);
    if (existsSync(from)) cpSync(from, path.join(workDir, dir, sub), { recursive: true });
  }
}
const keepDir = path.join(tmpdir(), "alignc-fuzz-failures");

const totals = { mutants: 0, trials: 0, ok: 0, failedWithErrors: 0, invalidUtf8: 0, diagnostics: 0, ms: 0, slowest: 0, slowestFile: "" };
const codes = new Map<string, number>();

describe(`fuzz (seed ${SEED}, ${perFile} mutants per file, ${seeds.length} files)`, () => {
  after(() => rmSync(workDir, { recursive: true, force: true }));

  for (const seedFile of seeds) {
    test(seedFile, (t) => {
      const original = readFileSync(path.join(repoRoot, seedFile), "utf8");
      const rng = new Rng(SEED ^ hashString(seedFile));
      const target = path.join(workDir, seedFile);
      const failures: string[] = [];
      for (let i = 0; i < perFile; i++) {
        const bytes = mutate(rng, original);
        writeFileSync(target, bytes);
        const started = performance.now();
        let problems: string[];
        try {
          const result = compileSync(target);
          const ms = performance.now() - started;
          totals.ms += ms;
          if (ms > totals.slowest) {
            totals.slowest = ms;
            totals.slowestFile = `${seedFile} #${i}`;
          }
          problems = resultProblems(result, result.program.entry?.ast.source.displayPath ?? displayOf(target), bytes);
          // The renderers must cope with whatever the compiler produced.
          renderDiagnostics(result.diagnostics, result.sources, { color: true });
          if (result.graph) renderPlan(result.graph);
          // A file with one sweep: compile its first trial too.
          if (result.ok && result.checked?.sweeps.size === 1) {
            const trial = compileSync(target, { trial: "0" });
            problems.push(...resultProblems(trial, displayOf(target), bytes).map((p) => `trial 0: ${p}`));
            totals.trials++;
          }
          if (ms > SLOW_MS) problems.push(`took ${ms.toFixed(0)} ms`);
          totals.mutants++;
          if (result.ok) totals.ok++;
          else totals.failedWithErrors++;
          if (result.diagnostics.some((d) => d.code === "ALN0004")) totals.invalidUtf8++;
          totals.diagnostics += result.diagnostics.length;
          for (const d of result.diagnostics) codes.set(d.code, (codes.get(d.code) ?? 0) + 1);
        } catch (error) {
          problems = [`threw ${(error as Error).stack ?? String(error)}`];
        }
        if (problems.length > 0) {
          mkdirSync(keepDir, { recursive: true });
          const kept = path.join(keepDir, `${path.basename(seedFile, ".align")}-seed${SEED}-${i}.align`);
          writeFileSync(kept, bytes);
          failures.push(`mutant ${i} (kept as ${kept}):\n  ${problems.slice(0, 5).join("\n  ")}`);
          if (failures.length >= 5) break;
        }
      }
      t.diagnostic(`${perFile} mutants`);
      assert.equal(failures.length, 0, failures.join("\n"));
    });
  }

  test("summary", (t) => {
    t.diagnostic(
      `${totals.mutants} mutants compiled in ${(totals.ms / 1000).toFixed(1)} s (slowest ${totals.slowest.toFixed(0)} ms: ${totals.slowestFile}); ` +
        `${totals.ok} compiled (${totals.trials} with a sweep, whose trial 0 was compiled too), ${totals.failedWithErrors} rejected with errors (${totals.invalidUtf8} as invalid UTF-8); ${totals.diagnostics} diagnostics`,
    );
    t.diagnostic(
      `codes: ${[...codes]
        .sort()
        .map(([c, n]) => `${c}×${n}`)
        .join(" ")}`,
    );
    assert.ok(totals.mutants >= Math.min(TOTAL_MUTANTS, perFile * seeds.length) * 0.99, "every mutant was compiled");
  });
});

function displayOf(absPath: string): string {
  const rel = path.relative(process.cwd(), absPath);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : absPath;
}
