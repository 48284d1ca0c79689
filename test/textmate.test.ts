// The editor grammar (grammar/align.tmLanguage.json) run for real through vscode-textmate + vscode-oniguruma,
// the engine VS Code uses, on a sample covering every construct of the language. Also keeps the grammar's
// keyword lists equal to keywordTokens in grammar/lexer.ts, so a new keyword fails here until it is added.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import oniguruma from "vscode-oniguruma";
import textmate from "vscode-textmate";
import { alignLexer, declarationKeywords, Evaluate, keywordTokens, Param } from "../grammar/lexer.ts";
import { alignParser } from "../grammar/parser.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const grammarPath = join(root, "grammar", "align.tmLanguage.json");
const grammarText = readFileSync(grammarPath, "utf8");

interface RawPattern {
  match?: string;
  name?: string;
  patterns?: RawPattern[];
}
interface RawGrammar {
  scopeName: string;
  fileTypes: string[];
  repository: Record<string, RawPattern>;
}
const raw = JSON.parse(grammarText) as RawGrammar;

/** The words of a pattern like `(?<![\w.])(a|b|c)\b`. */
function wordsOf(match: string | undefined): string[] {
  const m = /\(((?:[a-z_]+\|)*[a-z_]+)\)/.exec(match ?? "");
  assert.ok(m, `no (word|word) group in ${match}`);
  return (m[1] ?? "").split("|");
}

const keywordWords = keywordTokens.map((t) => t.name.replace(/^Kw_/, ""));

const sample = [
  "// A sample experiment covering every construct",
  "align 1",
  'import "common/base.align" as common',
  "/* a block comment",
  "   spanning lines */",
  "param beta: float in (0, 1] = 0.1",
  "param loss: sigmoid | ipo | hinge = sigmoid",
  "param batch: int in {8, 16, 32} = 16",
  "param warmup: duration in 0s..10m = 30s",
  'model base = tinyvlm { size: "nano-${loss}\\t", path: "a\\"b\\${x}" }',
  "dataset train = shapes { split: train, count: 200, seed: 1, bias: 80%, in: true }",
  "rater judge = common.judge(base) { timeout: 1500ms }",
  "similarity sim = cosine",
  "dataset pairs = pair(train, judge) { score: helpfulness + 2 * correctness - 1, margin: 2.5e-1 }",
  "phase dpo = dpo(base, pairs) {",
  "  objective: { beta: ${beta}, loss: ${loss} } // nested block",
  "  optimizer: adamw { lr: 5e-5 }",
  "  enabled: not false and (batch >= 16 or batch != 8)",
  "  epochs: 0..4",
  "}",
  "sweep s = grid { over: { beta: [0.1, 0.2], dpo.objective.beta: [1] } }",
  "evaluate final { models: [base, dpo], on: train, metrics: [judge.score / 2] }",
  "",
].join("\n");

interface Tok {
  line: number;
  start: number;
  end: number;
  text: string;
  scopes: string[];
}

type Grammar = NonNullable<Awaited<ReturnType<textmate.Registry["loadGrammar"]>>>;
let grammar: Grammar;

async function loadGrammar(): Promise<Grammar> {
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(join(dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName: string) => (scopeName === "source.align" ? textmate.parseRawGrammar(grammarText, grammarPath) : null),
  });
  const g = await registry.loadGrammar("source.align");
  assert.ok(g, "the grammar did not load");
  return g;
}

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let state = textmate.INITIAL;
  text.split("\n").forEach((line, i) => {
    const r = grammar.tokenizeLine(line, state);
    for (const t of r.tokens) {
      out.push({ line: i, start: t.startIndex, end: Math.min(t.endIndex, line.length), text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = r.ruleStack;
  });
  return out;
}

let tokens: Tok[];
const lines = sample.split("\n");

/** The `nth` token whose text is `text` on the first line containing `lineMarker`. */
function tok(lineMarker: string, text: string, nth = 0): Tok {
  const line = lines.findIndex((l) => l.includes(lineMarker));
  assert.ok(line >= 0, `no line contains ${lineMarker}`);
  const found = tokens.filter((t) => t.line === line && t.text === text);
  const t = found[nth];
  assert.ok(t, `no token ${JSON.stringify(text)} (#${nth}) on line ${line + 1}: ${lines[line]}\n${dump(line)}`);
  return t;
}

function dump(line: number): string {
  return tokens
    .filter((t) => t.line === line)
    .map((t) => `  ${JSON.stringify(t.text)} ${t.scopes.join(" ")}`)
    .join("\n");
}

function assertScope(t: Tok, scope: string): void {
  assert.ok(t.scopes.includes(scope), `${JSON.stringify(t.text)} on line ${t.line + 1} has ${t.scopes.join(" ")}, not ${scope}`);
}

function assertNoScopePrefix(t: Tok, prefix: string): void {
  const hit = t.scopes.find((s) => s.startsWith(prefix));
  assert.equal(hit, undefined, `${JSON.stringify(t.text)} on line ${t.line + 1} has ${hit}`);
}

describe("TextMate grammar", () => {
  before(async () => {
    grammar = await loadGrammar();
    tokens = tokenize(sample);
  });

  test("the sample is a valid .align file", () => {
    const lexed = alignLexer.tokenize(sample);
    assert.deepEqual(lexed.errors, []);
    alignParser.input = lexed.tokens;
    alignParser.file();
    assert.deepEqual(
      alignParser.errors.map((e) => e.message),
      [],
    );
  });

  test("header: scope name and file types", () => {
    assert.equal(raw.scopeName, "source.align");
    assert.deepEqual(raw.fileTypes, ["align"]);
    for (const t of tokens) assert.equal(t.scopes[0], "source.align");
  });

  test("keywords", () => {
    assertScope(tok("align 1", "align"), "keyword.control.directive.align");
    assertScope(tok("import", "import"), "keyword.control.import.align");
    assertScope(tok("import", "as"), "keyword.control.import.align");
    assertScope(tok("param beta", "in"), "keyword.operator.in.align");
    assertScope(tok("enabled:", "not"), "keyword.operator.logical.align");
    assertScope(tok("enabled:", "and"), "keyword.operator.logical.align");
    assertScope(tok("enabled:", "or"), "keyword.operator.logical.align");
    assertScope(tok("enabled:", "false"), "constant.language.boolean.align");
    assertScope(tok("dataset train", "true"), "constant.language.boolean.align");
    for (const [marker, kw] of [
      ["param beta", "param"],
      ["model base", "model"],
      ["dataset train", "dataset"],
      ["rater judge", "rater"],
      ["similarity sim", "similarity"],
      ["phase dpo", "phase"],
      ["sweep s", "sweep"],
      ["evaluate final", "evaluate"],
    ] as const) {
      assertScope(tok(marker, kw), "storage.type.declaration.align");
    }
  });

  test("declaration names, parameter names and types, import alias", () => {
    assertScope(tok("model base", "base"), "entity.name.type.align");
    assertScope(tok("dataset train", "train"), "entity.name.type.align");
    assertScope(tok("rater judge", "judge"), "entity.name.type.align");
    assertScope(tok("similarity sim", "sim"), "entity.name.type.align");
    assertScope(tok("phase dpo", "dpo"), "entity.name.type.align");
    assertScope(tok("sweep s", "s"), "entity.name.type.align");
    assertScope(tok("evaluate final", "final"), "entity.name.type.align");
    assertScope(tok("param beta", "beta"), "variable.parameter.align");
    assertScope(tok("param beta", ":"), "punctuation.separator.type.align");
    assertScope(tok("param beta", "float"), "support.type.primitive.align");
    assertScope(tok("param loss", "sigmoid"), "constant.other.symbol.align");
    assertScope(tok("param loss", "|"), "keyword.operator.union.align");
    assertScope(tok("param loss", "hinge"), "constant.other.symbol.align");
    assertScope(tok("import", "common"), "entity.name.namespace.align");
  });

  test("strings, escapes and interpolation inside strings", () => {
    const line = "model base";
    assertScope(tok(line, '"'), "punctuation.definition.string.begin.align");
    assertScope(tok(line, "nano-"), "string.quoted.double.align");
    const open = tok(line, "${");
    assertScope(open, "punctuation.definition.interpolation.begin.align");
    assertScope(open, "string.quoted.double.align");
    const name = tok(line, "loss");
    assertScope(name, "variable.parameter.interpolation.align");
    assertScope(name, "meta.interpolation.align");
    assertScope(name, "string.quoted.double.align");
    assertScope(tok(line, "\\t"), "constant.character.escape.align");
    assertScope(tok(line, '\\"'), "constant.character.escape.align");
    // An escaped \${ is text, not an interpolation.
    assertScope(tok(line, "\\$"), "constant.character.escape.align");
    assert.ok(!tokens.some((t) => t.text === "x" && t.scopes.includes("meta.interpolation.align")));
    assertScope(tok("import", '"common/base.align"'.slice(1, -1)), "string.quoted.double.align");
    // The string ends: what follows is a key again.
    assertScope(tok(line, "path"), "support.type.property-name.align");
  });

  test("interpolation outside strings", () => {
    const t = tok("objective:", "beta", 1);
    assertScope(t, "variable.parameter.interpolation.align");
    assertNoScopePrefix(t, "string");
    assertScope(tok("objective:", "${"), "punctuation.definition.interpolation.begin.align");
    assertScope(tok("objective:", "}", 0), "punctuation.definition.interpolation.end.align");
  });

  test("numbers, durations and percentages", () => {
    const d = tok("param warmup", "30");
    assertScope(d, "constant.numeric.duration.align");
    assertScope(tok("param warmup", "s", 1), "keyword.other.unit.duration.align");
    assertScope(tok("param warmup", "0"), "constant.numeric.duration.align");
    assertScope(tok("param warmup", "10"), "constant.numeric.duration.align");
    assertScope(tok("param warmup", "m"), "keyword.other.unit.duration.align");
    assertScope(tok("param warmup", ".."), "keyword.operator.range.align");
    assertScope(tok("timeout", "1500"), "constant.numeric.duration.align");
    assertScope(tok("timeout", "ms"), "keyword.other.unit.duration.align");
    assertScope(tok("bias", "80"), "constant.numeric.percentage.align");
    assertScope(tok("bias", "%"), "keyword.other.unit.percent.align");
    assertScope(tok("param beta", "0.1"), "constant.numeric.float.align");
    assertScope(tok("margin", "2.5e-1"), "constant.numeric.float.align");
    assertScope(tok("lr:", "5e-5"), "constant.numeric.float.align");
    assertScope(tok("count", "200"), "constant.numeric.integer.align");
    assertScope(tok("align 1", "1"), "constant.numeric.integer.align");
    assertScope(tok("epochs", "0"), "constant.numeric.integer.align");
    assertScope(tok("epochs", ".."), "keyword.operator.range.align");
    assertScope(tok("epochs", "4"), "constant.numeric.integer.align");
  });

  test("comments, line and block", () => {
    assertScope(tok("// A sample", "//"), "punctuation.definition.comment.align");
    assertScope(tok("// A sample", " A sample experiment covering every construct"), "comment.line.double-slash.align");
    assertScope(tok("/* a block", "/*"), "comment.block.align");
    assertScope(tok("spanning lines", "   spanning lines "), "comment.block.align");
    assertScope(tok("spanning lines", "*/"), "punctuation.definition.comment.end.align");
    assertScope(tok("objective:", " nested block"), "comment.line.double-slash.align");
    // After the block comment, highlighting is back to normal.
    assertScope(tok("param beta", "param"), "storage.type.declaration.align");
  });

  test("keys before ':' in blocks, including keyword keys and dotted keys", () => {
    const size = tok("model base", "size");
    assertScope(size, "support.type.property-name.align");
    assertScope(size, "meta.block.align");
    assertScope(tok("model base", ":"), "punctuation.separator.key-value.align");
    const inKey = tok("dataset train", "in");
    assertScope(inKey, "support.type.property-name.align");
    assertNoScopePrefix(inKey, "keyword");
    // Keys on their own lines inside a block that spans lines.
    assertScope(tok("optimizer:", "optimizer"), "support.type.property-name.align");
    assertScope(tok("epochs:", "epochs"), "support.type.property-name.align");
    assertScope(tok("enabled:", "enabled"), "support.type.property-name.align");
    // dpo.objective.beta: [1]
    const sweep = "sweep s";
    assertScope(tok(sweep, "dpo"), "support.type.property-name.align");
    assertScope(tok(sweep, "objective"), "support.type.property-name.align");
    assertScope(tok(sweep, "."), "punctuation.accessor.align");
    assertScope(tok(sweep, "over"), "support.type.property-name.align");
    // The block closes at the right brace, so the next line starts fresh.
    assertNoScopePrefix(tok("sweep s", "sweep"), "meta.block");
    assertNoScopePrefix(tok("evaluate final", "evaluate"), "meta.block");
  });

  test("function-call names before '(' or '{', member access, plain references", () => {
    assertScope(tok("model base", "tinyvlm"), "entity.name.function.align");
    assertScope(tok("dataset train", "shapes"), "entity.name.function.align");
    assertScope(tok("dataset pairs", "pair"), "entity.name.function.align");
    assertScope(tok("phase dpo", "dpo", 1), "entity.name.function.align");
    assertScope(tok("optimizer:", "adamw"), "entity.name.function.align");
    assertScope(tok("sweep s", "grid"), "entity.name.function.align");
    assertScope(tok("rater judge", "common"), "variable.other.readwrite.align");
    assertScope(tok("rater judge", "judge", 1), "entity.name.function.align");
    assertScope(tok("metrics", "score"), "variable.other.property.align");
    assertScope(tok("similarity sim", "cosine"), "variable.other.readwrite.align");
    assertScope(tok("dataset pairs", "helpfulness"), "variable.other.readwrite.align");
  });

  test("operators and punctuation", () => {
    assertScope(tok("model base", "="), "keyword.operator.assignment.align");
    assertScope(tok("enabled:", ">="), "keyword.operator.comparison.align");
    assertScope(tok("enabled:", "!="), "keyword.operator.comparison.align");
    assertScope(tok("dataset pairs", "+"), "keyword.operator.arithmetic.align");
    assertScope(tok("dataset pairs", "*"), "keyword.operator.arithmetic.align");
    assertScope(tok("dataset pairs", "-"), "keyword.operator.arithmetic.align");
    assertScope(tok("metrics", "/"), "keyword.operator.arithmetic.align");
    assertScope(tok("param beta", "("), "punctuation.section.parens.begin.align");
    assertScope(tok("param beta", "]"), "punctuation.section.brackets.end.align");
    assertScope(tok("param batch", "{"), "punctuation.section.block.begin.align");
    assertScope(tok("evaluate final", ","), "punctuation.separator.comma.align");
  });

  test("every lexer token gets a scope of its kind", () => {
    // Cross-check against the real lexer: at the start of each token, the TextMate scope must agree.
    const lexed = alignLexer.tokenize(sample);
    const all = [...lexed.tokens, ...(lexed.groups.comments ?? [])];
    const keys = new Set(all.filter((t, i) => all[i + 1]?.image === ":" && t.tokenType !== Param).map((t) => t.startOffset));
    for (const t of all) {
      const line = (t.startLine ?? 1) - 1;
      const col = (t.startColumn ?? 1) - 1;
      const tm = tokens.find((x) => x.line === line && x.start <= col && col < x.end);
      assert.ok(tm, `no TextMate token at ${line + 1}:${col + 1}`);
      const name = t.tokenType.name;
      const has = (prefix: string) => tm.scopes.some((s) => s.startsWith(prefix));
      const where = `${t.image} (${name}) at ${line + 1}:${col + 1}: ${tm.scopes.join(" ")}`;
      if (name === "LineComment" || name === "BlockComment") assert.ok(has("comment."), where);
      else if (name === "StringLiteral") assert.ok(has("string.quoted.double"), where);
      else if (name === "Interpolation") assert.ok(has("meta.interpolation"), where);
      else if (/^(Int|Float|Duration|Percent)Literal$/.test(name)) assert.ok(has("constant.numeric."), where);
      else if (name.startsWith("Kw_")) {
        if (keys.has(t.startOffset)) assert.ok(has("support.type.property-name"), where);
        else assert.ok(has("keyword.") || has("storage.type.") || has("constant.language."), where);
      } else if (name === "Identifier") assert.ok(!has("keyword.") && !has("storage.") && !has("comment.") && !has("string."), where);
    }
  });
});

describe("TextMate keywords follow grammar/lexer.ts", () => {
  before(async () => {
    grammar ??= await loadGrammar();
  });

  test("the keyword set of the grammar equals keywordTokens", () => {
    const patterns = raw.repository.keywords?.patterns ?? [];
    const words = patterns.flatMap((p) => wordsOf(p.match));
    assert.equal(new Set(words).size, words.length, `a keyword is listed twice: ${words.join(", ")}`);
    assert.deepEqual(
      [...words].sort(),
      [...keywordWords].sort(),
      "grammar/align.tmLanguage.json (repository.keywords) must list exactly the keywordTokens of grammar/lexer.ts",
    );
  });

  test("declaration names follow exactly the declaration keywords", () => {
    const declared = wordsOf(raw.repository.declaration?.match);
    const expected = [...declarationKeywords, Evaluate].map((t) => t.name.replace(/^Kw_/, ""));
    assert.deepEqual([...declared].sort(), [...expected].sort());
    assert.deepEqual(wordsOf(raw.repository["param-declaration"]?.match), [Param.name.replace(/^Kw_/, "")]);
  });

  test("each keyword alone is highlighted as a keyword, and a longer word is not", () => {
    for (const word of keywordWords) {
      const [t] = tokenize(word);
      assert.ok(t && t.text === word, `${word} is not one token`);
      assert.ok(
        t.scopes.some((s) => s.startsWith("keyword.") || s.startsWith("storage.type.") || s.startsWith("constant.language.")),
        `${word}: ${t.scopes.join(" ")}`,
      );
      const [longer] = tokenize(`${word}_x`);
      assert.ok(longer && longer.text === `${word}_x`, `${word}_x is split`);
      assert.deepEqual(longer.scopes, ["source.align", "variable.other.readwrite.align"]);
    }
  });
});
