import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { alignLexer } from "../grammar/lexer.ts";
import type { AlignFile } from "../src/compiler/ast/ast.ts";
import { formatAst, formatSource, MAX_LINE_WIDTH } from "../src/compiler/format/format.ts";
import { parseSource } from "../src/compiler/parse/parse.ts";
import { decodeSource, SourceFile } from "../src/diagnostics/source-file.ts";
import { alignFiles } from "./support/align-files.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const fixtureDir = path.join(repoRoot, "test/fixtures/format");
const GOLDEN_SUFFIX = ".formatted.align";
const goldens = ["statements", "comments", "wrapping", "expressions"];

function sourceOf(text: string, name = "inline.align"): SourceFile {
  return new SourceFile(path.join(repoRoot, name), name, text);
}

function readSource(absPath: string): SourceFile {
  const read = decodeSource(absPath, readFileSync(absPath));
  assert.ok(read.ok, `${absPath} is not readable`);
  return read.file;
}

function parseClean(source: SourceFile): AlignFile | undefined {
  const parsed = parseSource(source);
  return parsed.ast && parsed.diagnostics.length === 0 ? parsed.ast : undefined;
}

function fmt(text: string, name?: string): string {
  const result = formatSource(sourceOf(text, name));
  assert.equal(result.text !== undefined, true, `expected formatted text, got ${JSON.stringify(result.diagnostics, null, 2)}`);
  return result.text as string;
}

/** The tree without positions: spans, the keyword span, the source file and the comment list (checked apart). */
function stripSpans(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSpans);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === "span" || key === "keywordSpan" || key === "source" || key === "comments") continue;
    out[key] = stripSpans(v);
  }
  return out;
}

function commentTexts(ast: AlignFile): string[] {
  return [...ast.comments].sort((a, b) => a.span.start - b.span.start).map((c) => c.text.trim());
}

/** The four properties every formattable file must have. */
function checkProperties(source: SourceFile): string {
  const ast = parseSource(source).ast as AlignFile;
  const once = formatAst(ast);
  const displayName = source.displayPath;

  // (2) the output parses with no diagnostics at all
  const reparsed = parseSource(sourceOf(once, displayName));
  assert.deepEqual(reparsed.diagnostics, [], `formatted ${displayName} does not parse cleanly`);
  const ast2 = reparsed.ast as AlignFile;

  // (1) idempotence
  const twice = formatAst(ast2);
  assert.equal(twice, once, `formatting ${displayName} twice changes it`);

  // (3) same tree, positions aside
  assert.deepEqual(stripSpans(ast2), stripSpans(ast), `formatting ${displayName} changes its syntax tree`);

  // (4) every comment exactly once, in order (which implies the same multiset)
  assert.deepEqual(commentTexts(ast2), commentTexts(ast), `formatting ${displayName} loses, duplicates or reorders comments`);
  assert.deepEqual([...commentTexts(ast2)].sort(), [...commentTexts(ast)].sort());
  return once;
}

/** Whitespace rules that hold for every output whose comments have no trailing blanks inside them. */
function checkWhitespace(text: string, name: string): void {
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"), `${name}: must end with exactly one newline`);
  assert.ok(!text.startsWith("\n"), `${name}: no leading blank line`);
  assert.ok(!/\n\n\n/.test(text), `${name}: at most one blank line in a row`);
  text.split("\n").forEach((l, i) => {
    assert.ok(!/[ \t]$/.test(l), `${name}:${i + 1}: trailing whitespace`);
    assert.ok(!/\t/.test(l), `${name}:${i + 1}: tab`);
    const indent = /^ */.exec(l)?.[0].length ?? 0;
    if (!l.startsWith(" ".repeat(indent) + " *") && !/^ +\*/.test(l)) assert.equal(indent % 2, 0, `${name}:${i + 1}: odd indentation`);
  });
}

describe("format: properties on fixtures", () => {
  const inputs = alignFiles(fixtureDir);
  test("fixtures exist", () => {
    assert.ok(inputs.filter((f) => !f.endsWith(GOLDEN_SUFFIX)).length >= 6);
  });
  for (const file of inputs) {
    test(path.basename(file), () => {
      const source = readSource(file);
      assert.deepEqual(parseSource(source).diagnostics, [], "fixtures must parse without diagnostics");
      const out = checkProperties(source);
      checkWhitespace(out, path.basename(file));
      if (file.endsWith(GOLDEN_SUFFIX)) assert.equal(out, source.text, "a golden output is its own formatting");
    });
  }
});

describe("format: properties on experiments and test cases", () => {
  const files = [...alignFiles(path.join(repoRoot, "experiments")), ...alignFiles(path.join(repoRoot, "test/cases"))];
  const clean = files.filter((f) => parseClean(readSource(f)) !== undefined);
  test(`found ${clean.length} parseable file(s) of ${files.length}`, () => {
    assert.ok(clean.length <= files.length);
  });
  for (const file of clean) {
    test(path.relative(repoRoot, file), () => {
      checkProperties(readSource(file));
    });
  }
});

describe("format: golden outputs", () => {
  for (const name of goldens) {
    test(name, () => {
      const input = readSource(path.join(fixtureDir, `${name}.align`));
      const expected = readFileSync(path.join(fixtureDir, `${name}${GOLDEN_SUFFIX}`), "utf8");
      const result = formatSource(input);
      assert.equal(result.text, expected);
    });
  }
});

describe("format: formatSource", () => {
  test("a syntax error gives diagnostics and no text", () => {
    const result = formatSource(sourceOf("align 1\nmodel m = tinyvlm { size: }\n"));
    assert.equal(result.text, undefined);
    assert.ok(result.diagnostics.length > 0);
    assert.ok(result.diagnostics.some((d) => d.severity === "error"));
  });

  test("an unclosed bracket gives diagnostics and no text", () => {
    const result = formatSource(sourceOf("align 1\nmodel m = tinyvlm {\n"));
    assert.equal(result.text, undefined);
    assert.ok(result.diagnostics.length > 0);
  });

  test("a missing version line is an error too", () => {
    const result = formatSource(sourceOf("model m = tinyvlm\n"));
    assert.equal(result.text, undefined);
    assert.ok(result.diagnostics.some((d) => d.severity === "error"));
  });

  test("a clean file gives text and no diagnostics", () => {
    const result = formatSource(sourceOf("align 1\nmodel m = tinyvlm{size:nano}"));
    assert.deepEqual(result, { text: "align 1\n\nmodel m = tinyvlm { size: nano }\n", diagnostics: [] });
  });

  test("formatAst refuses a tree with error nodes", () => {
    const parsed = parseSource(sourceOf("align 1\nmodel m = \n"));
    assert.ok(parsed.ast);
    assert.throws(() => formatAst(parsed.ast as AlignFile), /error node/);
  });
});

describe("format: layout rules", () => {
  test("spacing around operators, colons, commas and ranges", () => {
    assert.equal(
      fmt("align 1\ndataset d=f(a,b){x:1+2*3,y:a..b,z:[1,2],w:-x,v:not  y,u:(a)}"),
      "align 1\n\ndataset d = f(a, b) { x: 1 + 2 * 3, y: a..b, z: [1, 2], w: -x, v: not y, u: (a) }\n",
    );
  });

  test("param declarations", () => {
    assert.equal(
      fmt("align 1\nparam  a:float in(0,1]=0.1\nparam b:x|y|z=x\nparam c:int in{8,16}\nparam d:int in 0..12"),
      "align 1\n\nparam a: float in (0, 1] = 0.1\nparam b: x | y | z = x\nparam c: int in {8, 16}\nparam d: int in 0..12\n",
    );
  });

  test("blank lines: one between statements, same kinds on adjacent lines stay together", () => {
    const input = "align 1\nparam a: int\nparam b: int\n\n\n\nparam c: int\nmodel m = x\nmodel n = y\ndataset d = z\n\n\n";
    assert.equal(fmt(input), "align 1\n\nparam a: int\nparam b: int\n\nparam c: int\n\nmodel m = x\nmodel n = y\n\ndataset d = z\n");
  });

  test("different declaration keywords are different kinds", () => {
    assert.equal(fmt("align 1\nmodel m = x\ndataset d = y\nrater r = z"), "align 1\n\nmodel m = x\n\ndataset d = y\n\nrater r = z\n");
  });

  test("a block that fits at 100 columns stays on one line; one column more breaks it", () => {
    const fitting = `model m = f { a: "${"x".repeat(100 - 'model m = f { a: "" }'.length)}" }`;
    assert.equal(fitting.length, MAX_LINE_WIDTH);
    assert.equal(fmt(`align 1\n${fitting}`), `align 1\n\n${fitting}\n`);
    const tooLong = fitting.replace('"x', '"xx');
    assert.equal(fmt(`align 1\n${tooLong}`), `align 1\n\nmodel m = f {\n  a: "${"x".repeat(tooLong.length - 'model m = f { a: "" }'.length)}"\n}\n`);
  });

  test("multi-line lists put a comma after every item but the last", () => {
    const items = Array.from({ length: 12 }, (_, i) => `item_number_${i}`);
    const out = fmt(`align 1\nevaluate e { models: [${items.join(", ")}] }`);
    assert.equal(out, `align 1\n\nevaluate e {\n  models: [\n${items.map((i) => `    ${i}`).join(",\n")}\n  ]\n}\n`);
  });

  test("a short multi-line block is joined", () => {
    assert.equal(fmt("align 1\nmodel m = f {\n  a: 1\n  b: 2\n}\n"), "align 1\n\nmodel m = f { a: 1, b: 2 }\n");
  });

  test("empty brackets", () => {
    assert.equal(fmt("align 1\nmodel m = f( ) {  }\nmodel n = g { a: [ ], b: {} }"), "align 1\n\nmodel m = f() {}\nmodel n = g { a: [], b: {} }\n");
  });

  test("strings and numbers keep their raw text", () => {
    const input = `align 1\nmodel m = f("a\\"b\\\\c\${x}\\\${y}") { a: 1.5E+3, b: 250ms, c: 12.5%, d: 0.10 }\n`;
    assert.equal(fmt(input), input.replace("align 1\n", "align 1\n\n"));
  });

  test("double minus keeps a space", () => {
    assert.equal(fmt("align 1\nmodel m = f { a: - -1, b: -(-1) }"), "align 1\n\nmodel m = f { a: - -1, b: -(-1) }\n");
  });

  test("CRLF input and a byte-order mark", () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("align 1\r\n// c  \r\nmodel m = x // t\r\n")]);
    const read = decodeSource(path.join(repoRoot, "crlf.align"), bytes);
    assert.ok(read.ok);
    assert.equal(formatSource(read.file).text, "align 1\n\n// c\nmodel m = x // t\n");
  });
});

describe("format: comments", () => {
  test("a trailing comment stays on its line", () => {
    assert.equal(fmt("align 1\nmodel m = f { a: 1, // one\n b: 2 }"), "align 1\n\nmodel m = f {\n  a: 1 // one\n  b: 2\n}\n");
  });

  test("a trailing comment in a list keeps the comma before it", () => {
    assert.equal(fmt("align 1\nmodel m = [1 // one\n, 2]"), "align 1\n\nmodel m = [\n  1, // one\n  2\n]\n");
  });

  test("own-line comments are indented to their level, before the next entry or the closing bracket", () => {
    assert.equal(
      fmt("align 1\nmodel m = f {\n// first\na: {\n        // inner\n  b: 1\n    // end of inner\n  }\n      // end\n}"),
      "align 1\n\nmodel m = f {\n  // first\n  a: {\n    // inner\n    b: 1\n    // end of inner\n  }\n  // end\n}\n",
    );
  });

  test("a block holding a comment is always multi-line", () => {
    assert.equal(fmt("align 1\nmodel m = f { a: 1 /* c */ }"), "align 1\n\nmodel m = f {\n  a: 1 /* c */\n}\n");
    assert.equal(fmt("align 1\nmodel m = [/* c */]"), "align 1\n\nmodel m = [ /* c */\n]\n");
  });

  test("a comment where no line break can go moves to the end of the line", () => {
    assert.equal(fmt("align 1\nmodel m = f { a: 1 + /* c */ 2, b: 3 }"), "align 1\n\nmodel m = f {\n  a: 1 + 2 /* c */\n  b: 3\n}\n");
    assert.equal(fmt("align 1\nmodel m = a + /* c */ b\nmodel n = x"), "align 1\n\nmodel m = a + b /* c */\nmodel n = x\n");
  });

  test("comments at the start and end of the file", () => {
    assert.equal(fmt("// top\n\n\nalign 1 // v\nmodel m = x\n\n\n// bottom\n"), "// top\n\nalign 1 // v\n\nmodel m = x\n\n// bottom\n");
    assert.equal(fmt("/* top */ align 1\nmodel m = x\n// bottom"), "/* top */ align 1\n\nmodel m = x\n// bottom\n");
  });

  test("a comment between two adjacent statements of one kind keeps them together", () => {
    assert.equal(fmt("align 1\nparam a: int\n// about b\nparam b: int\n"), "align 1\n\nparam a: int\n// about b\nparam b: int\n");
  });

  test("a blank line between a comment and its statement is kept", () => {
    assert.equal(fmt("align 1\nmodel a = x\n\n// section\n\n\nmodel b = y\n"), "align 1\n\nmodel a = x\n\n// section\n\nmodel b = y\n");
  });

  test("block comments keep their inner lines verbatim", () => {
    const input = "align 1\n\nmodel m = f {\n  /* one\n       two */\n  a: 1\n}\n";
    assert.equal(fmt(input), input);
  });

  test("nothing follows a line comment on its line", () => {
    assert.equal(fmt("align 1\nmodel m = x + // c\n  y /* d */\n"), "align 1\n\nmodel m = x + y // c\n/* d */\n");
    assert.equal(fmt("align 1\ndataset u = s\n// a\n{ /* b */ k: 1 }"), "align 1\n\ndataset u = s { // a\n  /* b */ k: 1\n}\n");
    assert.equal(fmt("align 1\nmodel m = x + // a\n // b\n [1]"), "align 1\n\nmodel m = x + [ // a\n  // b\n  1\n]\n");
  });

  test("line comments lose trailing blanks only", () => {
    assert.equal(fmt("align 1\nmodel m = x //   spaced   \n"), "align 1\n\nmodel m = x //   spaced\n");
  });
});

describe("format: comments inserted anywhere (seeded)", () => {
  // Comments and line breaks dropped between random tokens of the fixtures: every result must keep the four
  // properties. Deterministic, so a failure reproduces.
  const inserts = [" // L\n", " /* B */ ", "\n/* O */\n", "\n// O\n", "\n\n\n", "\n", " /* M\n  m */ ", "\n/* J */ ", "// Y\n"];
  const inputs = alignFiles(fixtureDir).filter((f) => !f.endsWith(GOLDEN_SUFFIX));
  let seed = 20240601;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  for (let round = 0; round < 40; round++) {
    const file = inputs[random(inputs.length)] as string;
    const text = readFileSync(file, "utf8");
    const offsets = [...alignLexer.tokenize(text).tokens.map((t) => t.startOffset), text.length];
    const at = [...new Set(Array.from({ length: 1 + random(12) }, () => offsets[random(offsets.length)] as number))].sort((a, b) => b - a);
    let mutated = text;
    at.forEach((offset, k) => {
      const insert = (inserts[random(inserts.length)] as string).replace(/[LBOMJY]/, (m) => `${m}${k}`);
      mutated = mutated.slice(0, offset) + insert + mutated.slice(offset);
    });
    test(`round ${round}: ${path.basename(file)} with ${at.length} insertion(s)`, () => {
      const source = sourceOf(mutated, `fuzz-${round}.align`);
      assert.deepEqual(parseSource(source).diagnostics, [], mutated);
      checkProperties(source);
    });
  }
});
