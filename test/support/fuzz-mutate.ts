// Mutation fuzzing of the front end, shared by test/fuzz.test.ts (a small deterministic slice in `npm test`)
// and scripts/fuzz.ts (`npm run fuzz -- --count N`, many mutants, each in a child process that is killed on
// a hang). A mutant is one bundled .align file changed a few times: ranges and tokens deleted, duplicated
// and swapped; punctuation, keywords, brackets, quotes, `${`, `..`, unicode, invalid UTF-8 and NUL inserted;
// operator chains of up to 100,000 terms; imports of odd paths; chains, cycles and diamonds of generated
// files to import; a `--set` value. It is compiled the way `alignc check` and `alignc plan` compile it, and
// the result must be well formed: no exception, an error whenever it fails, every diagnostic with a code, a
// message and spans inside the file whose line/column numbers agree with their offsets.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type CompileResult, compileSync } from "../../src/compiler/compile.ts";
import type { Diagnostic, Span } from "../../src/diagnostics/diagnostic.ts";
import { renderDiagnosticsJson } from "../../src/diagnostics/render-json.ts";
import { renderDiagnostics } from "../../src/diagnostics/render-terminal.ts";
import { renderPlan } from "../../src/graph/render.ts";
import { canonicalJson } from "../../src/util/content-hash.ts";
import { mulberry32 } from "../../src/util/random.ts";
import { alignFiles, repoRoot } from "./align-files.ts";

// ── deterministic randomness ────────────────────────────────────────────────

export class Rng {
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
  /** An integer in [lo, hi], each order of magnitude about as likely as the next. */
  logInt(lo: number, hi: number): number {
    return Math.min(hi, Math.floor(lo * (hi / lo) ** this.next()));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

export function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

// ── the files to mutate and where mutants live ──────────────────────────────

/** Every bundled .align file (experiments/ and test/cases/, folders included), relative to the repository root. */
export function bundledAlignFiles(): string[] {
  return [...alignFiles("experiments", { recursive: true }), ...alignFiles("test/cases", { recursive: true })].map((f) => path.relative(repoRoot, f));
}

/** Name of the folder, beside a mutant, that holds the files an import-chain mutation generates. */
export const GENERATED_DIR = "fuzz-imports";

/**
 * A copy of experiments/ and test/cases/ in `workDir` (a mutant replaces its original there, so its imports
 * resolve), plus odd things to import: a symbolic link to itself, a FIFO (where mkfifo exists).
 */
export function prepareWorkDir(workDir: string): void {
  for (const dir of ["experiments", "test/cases"]) {
    cpSync(path.join(repoRoot, dir), path.join(workDir, dir), { recursive: true, filter: (src) => path.basename(src) !== "runs" });
    const loop = path.join(workDir, dir, "fuzz-loop.align");
    try {
      symlinkSync("fuzz-loop.align", loop);
    } catch {
      // no links on this file system
    }
    try {
      execFileSync("mkfifo", [path.join(workDir, dir, "fuzz-fifo.align")], { stdio: "ignore" });
    } catch {
      // no mkfifo here
    }
  }
}

// ── mutations ───────────────────────────────────────────────────────────────

export interface MutateOptions {
  /** Most terms of a generated operator chain. */
  maxChainTerms: number;
  /** Most files of a generated import chain. */
  maxImportFiles: number;
}

export const FULL_OPTIONS: MutateOptions = { maxChainTerms: 100_000, maxImportFiles: 2_000 };

export interface Mutant {
  bytes: Buffer;
  /** Files to write in GENERATED_DIR beside the mutant (the folder is emptied first), by name. */
  generated?: Record<string, string>;
  /** `--set` arguments to compile with. */
  set?: string[];
  /** What was done, for the report of a failing mutant. */
  steps: string[];
}

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
  " export ",
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

/** Literals a number or symbol is replaced with: edges of ranges, wrong types, odd forms, export paths. */
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
  '""',
  '"/tmp/x.jsonl"',
  '"../x.jsonl"',
  '"store/x.jsonl"',
  '"exports/"',
  "[]",
  "{}",
  "none",
  "nano",
  "sigmoid",
  `\${beta}`,
  `\${margin}`,
  `\${nope}`,
];

/** Operator-and-operand pieces that a chain repeats: `x + 1 + 1 + …`. */
const CHAIN_PIECES = [
  " + 1",
  " - 1",
  " * 1",
  " / 1",
  " + 0.5",
  " * 2",
  " and true",
  " or false",
  " and has_image > 0",
  " or margin >= 1",
  " + helpfulness",
  " - x",
  " < 1",
  " == 1",
];

/** Paths an import is pointed at: nothing, folders, devices, a FIFO, a link to itself, a binary file, far too long. */
const ODD_PATHS = [
  "",
  ".",
  "..",
  "/",
  "./",
  "../",
  "/dev/null",
  "/dev/zero",
  "/proc/self/status",
  "/etc",
  "/nonexistent/x.align",
  "~/x.align",
  "lib",
  "lib/",
  "common",
  "lib/../lib/helper.align",
  "./././lib/helper.align",
  "fuzz-loop.align",
  "fuzz-fifo.align",
  "raters/__pycache__/hosted-judge.cpython-311.pyc",
  "raters/keyword-judge.mjs",
  `${GENERATED_DIR}`,
  `${"x".repeat(300)}.align`,
  `${"a/".repeat(3000)}x.align`,
  `${"../".repeat(200)}x.align`,
  "été/ρ🙂.align",
  "C:\\\\x.align",
  "..\\\\x.align",
  "file:///etc/passwd",
  "https://example.com/x.align",
  "${x}.align",
  "\\u0000.align",
];

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
      const words = toks.filter(([a, b]) => /^[\w$"]/.test(text.slice(a, b)));
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

/** A long operator chain: an existing `+ x` or `and x` repeated, or a piece repeated after a word or number. */
function chainMutation(rng: Rng, text: string, options: MutateOptions, steps: string[]): string {
  const terms = rng.logInt(2, options.maxChainTerms);
  const existing = [...text.matchAll(/ (?:[-+*/]|and|or) [\w.]+/g)];
  if (existing.length > 0 && rng.float() < 0.5) {
    const m = rng.pick(existing);
    const end = m.index + m[0].length;
    steps.push(`repeat ${JSON.stringify(m[0])} ${terms} times`);
    return text.slice(0, end) + m[0].repeat(terms) + text.slice(end);
  }
  const operands = tokens(text).filter(([a, b]) => /^[\w$]/.test(text.slice(a, b)));
  if (operands.length === 0) return text;
  const [, end] = rng.pick(operands);
  const piece = rng.pick(CHAIN_PIECES);
  steps.push(`add ${JSON.stringify(piece)} ${terms} times`);
  return text.slice(0, end) + piece.repeat(terms) + text.slice(end);
}

/** An import pointed somewhere odd: an existing one rewritten, or a new one. */
function oddImportMutation(rng: Rng, text: string, self: string, steps: string[]): string {
  const odd = rng.float() < 0.1 ? self : rng.pick(ODD_PATHS);
  const alias = rng.float() < 0.3 ? " as odd" : "";
  const existing = [...text.matchAll(/import\s+"([^"\n]*)"/g)];
  steps.push(`import ${JSON.stringify(odd)}${alias}`);
  if (existing.length > 0 && rng.float() < 0.5) {
    const m = rng.pick(existing);
    const start = m.index + m[0].indexOf('"');
    return `${text.slice(0, start)}"${odd}"${text.slice(m.index + m[0].length)}`;
  }
  return insertStatement(rng, text, `import "${odd}"${alias}`);
}

/** A statement on a line of its own after the version line (or anywhere, now and then). */
function insertStatement(rng: Rng, text: string, statement: string): string {
  const lineEnds = [...text.matchAll(/\n/g)].map((m) => m.index + 1);
  const at = lineEnds.length > 0 && rng.float() < 0.9 ? rng.pick(lineEnds.slice(0, 3)) : rng.int(0, text.length);
  return `${text.slice(0, at)}\n${statement}\n${text.slice(at)}`;
}

/**
 * Files that import each other, in GENERATED_DIR: a chain (each file the next), a cycle, a diamond ladder
 * (each file the next two: an exponential number of paths), `as` namespaces, the same names in every file,
 * a file importing itself. Each declares a dataset made from the next one's. The mutant imports the first.
 */
function importChainMutation(rng: Rng, text: string, options: MutateOptions, steps: string[]): { text: string; generated: Record<string, string> } {
  const n = rng.logInt(1, options.maxImportFiles);
  const shape = rng.pick(["chain", "cycle", "diamond", "namespaces", "same names", "self"] as const);
  const selfAt = rng.int(0, n - 1);
  const generated: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const lines = ["align 1"];
    const next = shape === "cycle" && last ? 0 : i + 1;
    const hasNext = !last || shape === "cycle";
    if (hasNext) lines.push(`import "c${next}.align"${shape === "namespaces" ? ` as n${i}` : ""}`);
    if (shape === "diamond" && i + 2 < n) lines.push(`import "c${i + 2}.align"`);
    if (shape === "self" && i === selfAt) lines.push(`import "c${i}.align"`);
    if (shape === "same names") lines.push("model base = tinyvlm {}");
    const source = shape === "namespaces" ? `n${i}.d${next}` : `d${next}`;
    lines.push(hasNext ? `dataset d${i} = shuffle(${source})` : `dataset d${i} = shapes { split: train, count: 10 }`);
    generated[`c${i}.align`] = `${lines.join("\n")}\n`;
  }
  steps.push(`import a ${shape} of ${n} generated files`);
  const alias = rng.float() < 0.3;
  let out = insertStatement(rng, text, `import "${GENERATED_DIR}/c0.align"${alias ? " as gen" : ""}`);
  if (rng.float() < 0.7) out = insertStatement(rng, out, `dataset fuzz_chain = take(${alias ? "gen." : ""}d0) { count: 1 }`);
  return { text: out, generated };
}

/** A `--set` value for a param of the file: an edge value, a long chain, or garbage. */
function setMutation(rng: Rng, text: string, options: MutateOptions, steps: string[]): string[] | undefined {
  const params = [...text.matchAll(/\bparam\s+([A-Za-z_]\w*)/g)].map((m) => m[1] as string);
  const name = params.length > 0 && rng.float() < 0.9 ? rng.pick(params) : rng.pick(["nope", "", "1x", "a=b"]);
  const kind = rng.int(0, 3);
  const value =
    kind === 0
      ? rng.pick(VALUE_SNIPPETS)
      : kind === 1
        ? `1${rng.pick(CHAIN_PIECES).repeat(rng.logInt(1, options.maxChainTerms))}`
        : kind === 2
          ? rng.pick(SNIPPETS).repeat(rng.int(1, 4))
          : `${"[".repeat(rng.int(1, 300))}1`;
  steps.push(`--set ${name}=${value.length > 40 ? `${value.slice(0, 40)}… (${value.length} characters)` : value}`);
  return [`${name}=${value}`];
}

/** A mutant of `original` (the text of the file at `self`, its name as an import path would give it). */
export function mutate(rng: Rng, original: string, self: string, options: MutateOptions): Mutant {
  const steps: string[] = [];
  let text = original;
  for (let i = rng.float() < 0.5 ? 1 : rng.int(2, 4); i > 0; i--) text = mutateText(rng, text);
  steps.push("random edits");
  const mutant: Mutant = { bytes: Buffer.alloc(0), steps };
  const extra = rng.float();
  if (extra < 0.04) text = chainMutation(rng, text, options, steps);
  else if (extra < 0.06) text = oddImportMutation(rng, text, self, steps);
  else if (extra < 0.08) {
    const r = importChainMutation(rng, text, options, steps);
    text = r.text;
    mutant.generated = r.generated;
  } else if (extra < 0.1) {
    const set = setMutation(rng, text, options, steps);
    if (set) mutant.set = set;
  }
  let bytes = Buffer.from(text, "utf8");
  if (rng.float() < 0.06) {
    const at = rng.float() < 0.2 ? bytes.length : rng.int(0, bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(rng.pick(BAD_BYTES)), bytes.subarray(at)]);
    steps.push("invalid UTF-8 or NUL");
  }
  mutant.bytes = bytes;
  return mutant;
}

/** Writes a mutant over `target`, and its generated files beside it. */
export function writeMutant(target: string, mutant: Mutant): void {
  writeFileSync(target, mutant.bytes);
  const dir = path.join(path.dirname(target), GENERATED_DIR);
  rmSync(dir, { recursive: true, force: true });
  if (mutant.generated) {
    mkdirSync(dir, { recursive: true });
    for (const [name, content] of Object.entries(mutant.generated)) writeFileSync(path.join(dir, name), content);
  }
}

/** Keeps a failing mutant as `<keepDir>/<name>/`: the file, its generated files, and what went wrong. */
export function keepMutant(keepDir: string, name: string, seedFile: string, mutant: Mutant, problems: string[]): string {
  const dir = path.join(keepDir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, path.basename(seedFile)), mutant.bytes);
  if (mutant.generated) {
    mkdirSync(path.join(dir, GENERATED_DIR), { recursive: true });
    for (const [file, content] of Object.entries(mutant.generated)) writeFileSync(path.join(dir, GENERATED_DIR, file), content);
  }
  const set = mutant.set ? `set: ${JSON.stringify(mutant.set).slice(0, 2000)}\n` : "";
  writeFileSync(path.join(dir, "README.txt"), `mutant of ${seedFile}\nsteps: ${mutant.steps.join("; ")}\n${set}\n${problems.join("\n")}\n`);
  return dir;
}

// ── compiling a mutant as the CLI does ──────────────────────────────────────

export interface MutantOutcome {
  ok: boolean;
  /** Diagnostic codes, with repeats. */
  codes: string[];
  /** Whether a sweep's trial 0 was compiled too. */
  trial: boolean;
  problems: string[];
}

/**
 * What `alignc check` and `alignc plan` do with a file in the compiler: compile (diagnostics, the graph),
 * render the diagnostics as text and JSON, render the plan, write the graph as JSON and hash it
 * canonically; for a file with one sweep, trial 0 too. Throws what the compiler throws (the CLI's exit 2).
 */
export function compileMutant(target: string, bytes: Uint8Array, set?: string[]): MutantOutcome {
  const options = set ? { set } : {};
  const result = compileSync(target, options);
  renderDiagnostics(result.diagnostics, result.sources, { color: true });
  renderDiagnosticsJson(result.diagnostics);
  if (result.graph) {
    renderPlan(result.graph);
    JSON.stringify(result.graph, null, 2);
    canonicalJson(result.graph);
  }
  const problems = resultProblems(result, result.program.entry?.ast.source.displayPath ?? displayOf(target), bytes, set);
  const codes = result.diagnostics.map((d) => d.code);
  let trial = false;
  if (result.ok && result.checked?.sweeps.size === 1) {
    const t = compileSync(target, { ...options, trial: "0" });
    if (t.graph) renderPlan(t.graph);
    problems.push(...resultProblems(t, displayOf(target), bytes, set).map((p) => `trial 0: ${p}`));
    trial = true;
  }
  return { ok: result.ok, codes, trial, problems };
}

export function displayOf(absPath: string): string {
  const rel = path.relative(process.cwd(), absPath);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : absPath;
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

/** The text the compiler read from a file it reports about but does not keep: a regular file, not too large. */
function importedText(file: string): string | undefined {
  try {
    const abs = path.resolve(file);
    const stats = statSync(abs);
    return stats.isFile() && stats.size <= 16 * 1024 * 1024 ? textOf(readFileSync(abs)) : undefined;
  } catch {
    return undefined;
  }
}

/** Problems with a compile result, given the entry's display path and bytes. */
export function resultProblems(result: CompileResult, entryDisplay: string, entryBytes: Uint8Array, set: readonly string[] = []): string[] {
  const problems: string[] = [];
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (result.ok !== (errors.length === 0)) problems.push(`ok is ${result.ok} with ${errors.length} errors`);
  if (!result.ok && errors.length === 0) problems.push("failed without an error diagnostic");
  if (result.ok && !result.graph) problems.push("ok without a graph");
  let entryText: string | undefined;
  const textFor = (file: string): string | undefined => {
    const source = result.sources.get(file);
    if (source) return source.text;
    // A `--set name=value` is read as a file of its own, named `--set name`.
    const value = set.find((a) => file === `--set ${a.slice(0, a.indexOf("=")).trim()}`);
    if (value !== undefined) return value.slice(value.indexOf("=") + 1);
    if (file === entryDisplay) {
      entryText ??= textOf(entryBytes);
      return entryText;
    }
    // An import that could not be read as text (not UTF-8, a NUL byte) is not among the sources.
    return importedText(file);
  };
  result.diagnostics.forEach((d: Diagnostic, i) => {
    const what = `diagnostic ${i} (${d.code} ${JSON.stringify(d.message.slice(0, 80))})`;
    if (!/^ALN\d{4}$/.test(d.code)) problems.push(`${what}: bad code`);
    if (!["error", "warning", "info"].includes(d.severity)) problems.push(`${what}: bad severity ${d.severity}`);
    if (typeof d.message !== "string" || d.message.length === 0) problems.push(`${what}: empty message`);
    if (d.message.length > 2000) problems.push(`${what}: a message of ${d.message.length} characters`);
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
