// Hostile inputs: binary garbage, invalid UTF-8, unterminated constructs at the end of the file, 100,000
// nested brackets and prefix operators, 10 MB lines, empty and BOM-only files, a directory, a missing
// path. Each must produce an error diagnostic (never an exception) within a few seconds. Operator chains
// of 100,000 terms (in source text and in --set values) and an import chain of 10,000 files must give a
// coded diagnostic or compile, and whatever compiles must render as `alignc plan` renders it.
//
// Inputs that could hang or exhaust memory are compiled in a child process with a time limit per file, so
// a regression fails the test instead of stalling the suite. The child is this file, run with
// ALIGNC_ROBUSTNESS_FILES=<list.json>: it compiles each listed path (or { file, set }) and prints one JSON
// line per file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type CompileOptions, type CompileResult, compileSync } from "../src/compiler/compile.ts";
import type { Span } from "../src/diagnostics/diagnostic.ts";
import { renderDiagnostics } from "../src/diagnostics/render-terminal.ts";
import { renderPlan } from "../src/graph/render.ts";
import { canonicalJson } from "../src/util/content-hash.ts";

const thisFile = fileURLToPath(import.meta.url);
/** Longest a compile of hostile input may take. */
const BUDGET_MS = 5000;
/** A compile in the child process that takes longer than this is killed as a hang. */
const CASE_TIMEOUT_MS = 20_000;

interface Outcome {
  threw?: string;
  ms: number;
  /** CPU time of the process meanwhile (all its threads), which other work on the machine does not inflate. */
  cpuMs?: number;
  ok: boolean;
  codes: string[];
  problems: string[];
  /** Nodes of the execution graph, when it compiled. */
  nodes?: number;
}

/** A file to compile, with `--set` values. */
type Input = string | { file: string; set: string[] };

/** Offsets, line and column of a span, checked against the text it points into. */
function spanProblem(span: Span, text: string): string | undefined {
  if (!(0 <= span.start && span.start <= span.end && span.end <= text.length)) return `offsets ${span.start}..${span.end} outside 0..${text.length}`;
  const before = text.slice(0, span.start);
  const line = before.split("\n").length;
  const column = span.start - (before.lastIndexOf("\n") + 1) + 1;
  if (span.line !== line || span.column !== column) return `position ${span.line}:${span.column}, expected ${line}:${column}`;
  if (span.endLine < span.line || (span.endLine === span.line && span.endColumn < span.column)) return `end ${span.endLine}:${span.endColumn} before start`;
  return undefined;
}

/** Compiles, then does with the result what `alignc check` and `alignc plan` do: diagnostics, plan text, graph JSON. */
function outcomeOf(compile: () => CompileResult): Outcome {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let result: CompileResult;
  try {
    result = compile();
    renderDiagnostics(result.diagnostics, result.sources, { color: false });
    if (result.graph) {
      renderPlan(result.graph);
      canonicalJson(result.graph);
      JSON.stringify(result.graph, null, 2);
    }
  } catch (error) {
    return { threw: (error as Error).stack ?? String(error), ms: performance.now() - started, ok: false, codes: [], problems: [] };
  }
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  const problems: string[] = [];
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (result.ok !== (errors.length === 0)) problems.push(`ok is ${result.ok} with ${errors.length} errors`);
  for (const d of result.diagnostics) {
    if (!/^ALN\d{4}$/.test(d.code) || !d.message || !["error", "warning", "info"].includes(d.severity))
      problems.push(`malformed diagnostic ${JSON.stringify(d).slice(0, 200)}`);
    if (d.message.length > 2000) problems.push(`${d.code}: a message of ${d.message.length} characters`);
    for (const span of [d.span, ...d.labels.map((l) => l.span)]) {
      if (!span) continue;
      const source = result.sources.get(span.file);
      // Sources that could not be read (binary, not UTF-8) are not in the map: check what can be checked.
      const p = source ? spanProblem(span, source.text) : span.start <= span.end && span.line >= 1 && span.column >= 1 ? undefined : "bad span";
      if (p) problems.push(`${d.code} ${span.file}: ${p}`);
    }
  }
  const outcome: Outcome = { ms, cpuMs, ok: result.ok, codes: result.diagnostics.map((d) => d.code), problems };
  if (result.graph) outcome.nodes = result.graph.nodes.length;
  return outcome;
}

function compileInput(input: Input): CompileResult {
  const options: CompileOptions = typeof input === "string" ? {} : { set: input.set };
  return compileSync(typeof input === "string" ? input : input.file, options);
}

// ── child mode ──────────────────────────────────────────────────────────────
const childList = process.env.ALIGNC_ROBUSTNESS_FILES;
if (childList !== undefined) {
  const files = JSON.parse(readFileSync(childList, "utf8")) as Input[];
  files.forEach((input, i) => {
    process.stdout.write(`@@outcome ${i} ${JSON.stringify(outcomeOf(() => compileInput(input)))}\n`);
  });
} else {
  registerTests();
}

/**
 * Compiles the files one after another in a child process and returns their outcomes. A compile that
 * produces nothing for CASE_TIMEOUT_MS is a hang: the child is killed, that file gets a "killed"
 * outcome and a fresh child goes on with the rest.
 */
async function compileIsolated(files: Input[], listDir: string): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  while (outcomes.length < files.length) {
    const rest = files.slice(outcomes.length);
    const listFile = path.join(listDir, `list-${outcomes.length}.json`);
    writeFileSync(listFile, JSON.stringify(rest));
    outcomes.push(...(await childBatch(listFile, rest.length)));
  }
  return outcomes;
}

function childBatch(listFile: string, count: number): Promise<Outcome[]> {
  const env: NodeJS.ProcessEnv = { ...process.env, ALIGNC_ROBUSTNESS_FILES: listFile };
  delete env.NODE_TEST_CONTEXT;
  const outcomes: Outcome[] = [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", thisFile], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    // The first case also pays for starting Node and loading the compiler.
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, ms);
    };
    arm(CASE_TIMEOUT_MS + 10_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      let nl = stdout.indexOf("\n");
      while (nl >= 0) {
        const line = stdout.slice(0, nl);
        stdout = stdout.slice(nl + 1);
        const m = /^@@outcome (\d+) (.*)$/.exec(line);
        if (m) {
          outcomes.push(JSON.parse(m[2] as string) as Outcome);
          arm(CASE_TIMEOUT_MS);
        }
        nl = stdout.indexOf("\n");
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on("close", () => {
      clearTimeout(timer);
      if (outcomes.length < count) {
        const why = killed ? `no result within ${CASE_TIMEOUT_MS} ms: killed (a hang?)` : `the child process died:\n${stderr}`;
        outcomes.push({ threw: why, ms: CASE_TIMEOUT_MS, ok: false, codes: [], problems: [] });
      }
      resolve(outcomes);
    });
  });
}

function assertRejected(outcome: Outcome, expectCode?: string): void {
  if (outcome.threw !== undefined) assert.fail(`the compiler threw:\n${outcome.threw}`);
  assert.deepEqual(outcome.problems, []);
  assert.equal(outcome.ok, false, "hostile input must not compile");
  assert.ok(outcome.codes.length > 0, "at least one diagnostic");
  if (expectCode) assert.ok(outcome.codes.includes(expectCode), `expected ${expectCode}, got ${outcome.codes.join(", ")}`);
  assert.ok(outcome.ms < BUDGET_MS, `took ${outcome.ms.toFixed(0)} ms (budget ${BUDGET_MS} ms)`);
}

/**
 * A coded diagnostic, or a compile whose plan renders, within the budget. The budget is CPU time: reading
 * and parsing 10,000 files is seconds of work, which a busy machine can stretch past it in wall time. A
 * wait that uses no CPU (a hang) still fails, on the wall-clock limit of the child process.
 */
function assertCodedOrCompiles(outcome: Outcome, expectCode?: string): void {
  if (outcome.threw !== undefined) assert.fail(`the compiler threw:\n${outcome.threw}`);
  assert.deepEqual(outcome.problems, []);
  if (expectCode) assert.ok(outcome.codes.includes(expectCode), `expected ${expectCode}, got ${outcome.codes.join(", ") || "no diagnostics"}`);
  assert.ok(outcome.ok || outcome.codes.length > 0, "a failure has a diagnostic");
  const cpuMs = outcome.cpuMs ?? outcome.ms;
  assert.ok(cpuMs < BUDGET_MS, `took ${cpuMs.toFixed(0)} ms of CPU time (budget ${BUDGET_MS} ms; ${outcome.ms.toFixed(0)} ms wall-clock)`);
}

function registerTests(): void {
  const dir = mkdtempSync(path.join(tmpdir(), "alignc-robust-"));
  const write = (name: string, content: string | Uint8Array): string => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };
  const random = (n: number, seed: number): Buffer => {
    const out = Buffer.alloc(n);
    let s = seed >>> 0;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      out[i] = s >>> 24;
    }
    return out;
  };
  const HEAD = "align 1\nmodel m = tinyvlm { seed: ";
  const TEN_MB = 10 * 1024 * 1024;

  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("robustness: small hostile inputs", () => {
    const small: [string, () => string, string?][] = [
      ["binary garbage", () => write("garbage.align", random(64 * 1024, 1))],
      ["binary garbage that happens to start with the version line", () => write("garbage2.align", Buffer.concat([Buffer.from("align 1\n"), random(4096, 2)]))],
      [
        "invalid UTF-8 in the middle of a valid file",
        () => write("latin1.align", Buffer.concat([Buffer.from('align 1\nmodel m = checkpoint("caf'), Buffer.from([0xe9]), Buffer.from('")\n')])),
        "ALN0004",
      ],
      [
        "a truncated UTF-8 sequence at the end",
        () => write("truncated.align", Buffer.concat([Buffer.from("align 1\n// €"), Buffer.from([0xe2, 0x82])])),
        "ALN0004",
      ],
      ["an encoded surrogate", () => write("surrogate.align", Buffer.concat([Buffer.from("align 1\n"), Buffer.from([0xed, 0xa0, 0x80])])), "ALN0004"],
      ["a UTF-16 file", () => write("utf16.align", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("align 1\n", "utf16le")])), "ALN0004"],
      ["a NUL byte", () => write("nul.align", "align 1\nmodel m = tinyvlm {}\0\n"), "ALN0006"],
      ["a BOM and a NUL byte", () => write("bomnul.align", "\uFEFFalign 1\n\0"), "ALN0006"],
      ["an unterminated string at the end of the file", () => write("string-eof.align", 'align 1\nmodel m = checkpoint("runs/vit'), "ALN1002"],
      ["an unterminated string ending in a backslash", () => write("string-backslash.align", 'align 1\nmodel m = checkpoint("runs\\'), "ALN1002"],
      ["an unterminated block comment at the end of the file", () => write("comment-eof.align", "align 1\nmodel m = tinyvlm {}\n/*"), "ALN1003"],
      ["an unterminated interpolation", () => write("interp-eof.align", "align 1\nmodel m = tinyvlm { seed: ${"), "ALN1001"],
      ["an empty file", () => write("empty.align", ""), "ALN1007"],
      ["a file with only a BOM", () => write("bom.align", "\uFEFF"), "ALN1007"],
      ["a file with only whitespace", () => write("spaces.align", " \n\t\r\n\f\v "), "ALN1007"],
      ["a file with only a comment", () => write("comment.align", "// nothing here"), "ALN1007"],
      [
        "a directory",
        () => {
          const folder = path.join(dir, "folder.align");
          mkdirSync(folder, { recursive: true });
          return folder;
        },
        "ALN0002",
      ],
      ["a missing path", () => path.join(dir, "does", "not", "exist.align"), "ALN0001"],
      ["a path through a file", () => path.join(write("plain.align", "align 1\n"), "child.align"), "ALN0001"],
      ["nesting just past the limit", () => write("deep200.align", `${HEAD}${"[".repeat(200)}${"]".repeat(200)} }`), "ALN1006"],
      ["200 prefix minus signs", () => write("minus200.align", `${HEAD}${"-".repeat(200)}1 }`), "ALN1006"],
      ["a number too large for a float", () => write("huge-number.align", `${HEAD}${"9".repeat(400)} }`)],
    ];
    for (const [name, make, code] of small) {
      test(name, () => {
        const file = make();
        assertRejected(
          outcomeOf(() => compileSync(file)),
          code,
        );
      });
    }

    test("numbers too large for a float or an exact integer never reach the graph", () => {
      // [body, expected code]: literals are rejected where written (ALN1011), overflowing arithmetic where folded.
      const cases: [string, string][] = [
        ["evaluate e { models: [base], on: train, temperature: 1e999 }", "ALN1011"],
        ["phase p = sft(base, train) { optimizer: adamw { weight_decay: 1e999 } }", "ALN1011"],
        ["model big = tinyvlm { seed: 99999999999999999999 }\nevaluate e { models: [big], on: train }", "ALN1011"],
        [`evaluate e { models: [base], on: train, temperature: ${"9".repeat(400)}.5 }`, "ALN1011"],
        ["evaluate e { models: [base], on: train, temperature: 1e200 * 1e200 }", "ALN3013"],
      ];
      for (const [i, [body, code]] of cases.entries()) {
        const file = write(`overflow${i}.align`, `align 1\nmodel base = tinyvlm {}\ndataset train = shapes { split: train, count: 10 }\n${body}\n`);
        const result = compileSync(file);
        const bad: string[] = [];
        const walk = (v: unknown, where: string): void => {
          if (typeof v === "number" && (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v)))) bad.push(`${where} = ${v}`);
          else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${where}.${k}`);
        };
        for (const node of result.graph?.nodes ?? []) walk(node.params, node.id);
        assert.deepEqual(bad, [], `case ${i}: ${body}`);
        assert.equal(result.ok, false, `case ${i} must not compile: ${body}`);
        const errors = result.diagnostics.filter((d) => d.severity === "error");
        assert.deepEqual(
          errors.map((d) => d.code),
          [code],
          `case ${i}: one error, ${code}`,
        );
        assert.equal(errors[0]?.span?.line, 4, `case ${i}: the error points at the number`);
      }
    });
  });

  describe("robustness: huge inputs (in a child process)", () => {
    const huge: [string, () => string, string | undefined, string?][] = [
      ["100,000 nested {", () => write("braces.align", `${HEAD}${"{".repeat(100_000)}`), undefined],
      ["100,000 nested [", () => write("brackets.align", `${HEAD}${"[".repeat(100_000)}`), undefined],
      ["100,000 nested (", () => write("parens.align", `${HEAD}${"(".repeat(100_000)}`), undefined],
      ["100,000 closed nested [ ]", () => write("closed.align", `${HEAD}${"[".repeat(100_000)}${"]".repeat(100_000)} }`), undefined],
      ["40,000 nested [ (under the token limit)", () => write("brackets40k.align", `${HEAD}${"[".repeat(40_000)}`), "ALN1006"],
      ["a - - - - chain of 100,000", () => write("minus.align", `${HEAD}${"- ".repeat(100_000)}1 }`), undefined],
      ["a - - - - chain of 40,000 (under the token limit)", () => write("minus40k.align", `${HEAD}${"- ".repeat(40_000)}1 }`), "ALN1006"],
      ["not not not … 100,000 times", () => write("not.align", `${HEAD}${"not ".repeat(100_000)}true }`), undefined],
      ["not not not … 40,000 times (under the token limit)", () => write("not40k.align", `${HEAD}${"not ".repeat(40_000)}true }`), "ALN1006"],
      ["a 10 MB line: a long list", () => write("list.align", `${HEAD}[${"1, ".repeat(TEN_MB / 3)}1] }\n`), "ALN1010"],
      ["a 10 MB line: a long comment", () => write("long-comment.align", `align 1\n// ${"x".repeat(TEN_MB)}\nmodel m = tinyvlm { seed: -1 }\n`), "ALN3002"],
      ["a 10 MB file: 250,000 short lines", () => write("lines.align", `align 1\n${"model m = tinyvlm { seed: 1 }\n".repeat(TEN_MB / 30)}`), "ALN1010"],
      ["a file over the 16 MB limit", () => write("too-large.align", `align 1\n// ${"x".repeat(17 * 1024 * 1024)}\n`), "ALN0005"],
      ["a 10 MB line: a long string", () => write("long-string.align", `align 1\nmodel m = tinyvlm { seed: "${"a".repeat(TEN_MB)}" }\n`), "ALN3001"],
      ["a 10 MB line: an unterminated string", () => write("long-unterminated.align", `align 1\nmodel m = checkpoint("${"a".repeat(TEN_MB)}\n`), "ALN1002"],
      ["a 10 MB line: a long setting name", () => write("long-key.align", `align 1\nmodel m = tinyvlm { ${"a".repeat(TEN_MB)}: 1 }\n`), "ALN2003"],
    ];
    // Known bugs last, so that a hang among them costs the others nothing.
    const ordered = [...huge.filter((h) => !h[3]), ...huge.filter((h) => h[3])];
    let outcomes: Promise<Outcome[]> | undefined;
    const all = () => {
      outcomes ??= compileIsolated(
        ordered.map(([, make]) => make()),
        dir,
      );
      return outcomes;
    };
    ordered.forEach(([name, , code, todo], i) => {
      test(name, todo ? { todo } : {}, async () => {
        assertRejected((await all())[i] as Outcome, code);
      });
    });
  });

  describe("robustness: long operator chains and import chains (in a child process)", () => {
    const chain = (n: number, op: string, term: string) => Array.from({ length: n }, () => term).join(` ${op} `);
    const BASE = "align 1\nmodel base = tinyvlm {}\ndataset train = shapes { split: train, count: 10 }\n";
    const RATED = `${BASE}rater judge = grounded {}\ndataset samples = sample(base, train) { n: 2 }\ndataset rated = rate(samples, judge)\n`;
    const places = {
      param: (c: string) => `align 1\nparam p: float = ${c}\n`,
      filter: (c: string) => `${BASE}dataset kept = filter(train) { where: ${c} }\nevaluate e { models: [base], on: kept }\n`,
      score: (c: string) => `${RATED}dataset pairs = pair(rated) { score: ${c} }\nphase p = dpo(base, pairs)\n`,
      setting: (c: string) => `${BASE}evaluate e { models: [base], on: train, temperature: ${c} }\n`,
    };
    const SET_TARGET = `${BASE}param t: float = 0\nevaluate e { models: [base], on: train, temperature: \${t} }\n`;
    // [name, input, expected code (undefined: any coded diagnostic, or it compiles)]. 100,000 terms are over
    // the token limit (ALN1010, before the parser runs); 10,000 terms reach the parser and the expression
    // depth limit (ALN1013).
    const cases: [string, () => Input, string | undefined][] = [];
    let n = 0;
    const file = (text: string) => write(`chain${n++}.align`, text);
    for (const terms of [100_000, 10_000]) {
      const over = terms > 50_000 ? "ALN1010" : "ALN1013";
      const count = terms.toLocaleString("en");
      for (const op of ["+", "-", "*", "/"]) {
        cases.push([`${count} terms of ${op} in a param default`, () => file(places.param(chain(terms, op, "1"))), over]);
        cases.push([`${count} terms of ${op} in an evaluate setting`, () => file(places.setting(chain(terms, op, "0.5"))), over]);
        cases.push([`${count} terms of ${op} in a pair's score`, () => file(places.score(chain(terms, op, "helpfulness"))), over]);
      }
      // A comparison does not chain: the second one is a syntax error, wherever the chain is cut off.
      for (const op of ["<", "=="]) cases.push([`${count} terms of ${op} in a param default`, () => file(places.param(chain(terms, op, "1"))), undefined]);
      for (const op of ["and", "or"]) {
        cases.push([`${count} terms of ${op} in a param default`, () => file(places.param(chain(terms, op, "true"))), over]);
        cases.push([`${count} comparisons joined by ${op} in a filter's where`, () => file(places.filter(chain(terms, op, "has_image > 0"))), over]);
      }
      for (const op of ["+", "*", "and"]) {
        cases.push([`${count} terms of ${op} in a --set value`, () => ({ file: file(SET_TARGET), set: [`t=${chain(terms, op, "1")}`] }), over]);
      }
    }
    cases.push(
      [
        "a score and a filter just under the depth limit compile",
        () => file(`${places.score(chain(250, "+", "helpfulness"))}${places.filter(chain(250, "and", "has_image > 0")).replace(BASE, "")}`),
        undefined,
      ],
      ["an import chain of 10,000 files, each using the next one's dataset", () => importChain(10_000, false), undefined],
      ["an import cycle of 10,000 files", () => importChain(10_000, true), "ALN2006"],
    );
    const CHAIN_EXPECT: Record<string, (o: Outcome) => void> = {
      "a score and a filter just under the depth limit compile": (o) => assert.ok(o.ok && (o.nodes ?? 0) > 0, `compiles: ${o.codes.join(", ")}`),
      "an import chain of 10,000 files, each using the next one's dataset": (o) => {
        assert.ok(o.ok, `compiles: ${o.codes.join(", ")}`);
        assert.equal(o.nodes, 10_003, "one node per dataset, the model, its answers and the evaluation");
      },
    };

    /** `length` files in a folder of their own, each importing the next (the last one the first, for a cycle). */
    function importChain(length: number, cycle: boolean): string {
      const folder = path.join(dir, cycle ? "import-cycle" : "import-chain");
      mkdirSync(folder, { recursive: true });
      for (let i = 0; i < length; i++) {
        const last = i === length - 1;
        let text = "align 1\n";
        if (!last || cycle) text += `import "c${last ? 0 : i + 1}.align"\n`;
        text += last ? `dataset d${i} = shapes { split: train, count: 10 }\n` : `dataset d${i} = shuffle(d${i + 1})\n`;
        if (i === 0) text += "model base = tinyvlm {}\nevaluate e { models: [base], on: d0 }\n";
        writeFileSync(path.join(folder, `c${i}.align`), text);
      }
      return path.join(folder, "c0.align");
    }

    let outcomes: Promise<Outcome[]> | undefined;
    const all = () => {
      const lists = path.join(dir, "chain-lists");
      mkdirSync(lists, { recursive: true });
      outcomes ??= compileIsolated(
        cases.map(([, make]) => make()),
        lists,
      );
      return outcomes;
    };
    cases.forEach(([name, , code], i) => {
      test(name, async () => {
        const outcome = (await all())[i] as Outcome;
        assertCodedOrCompiles(outcome, code);
        CHAIN_EXPECT[name]?.(outcome);
      });
    });
  });
}
