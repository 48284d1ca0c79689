// Syntax error messages say what was expected in words ("expected ':'", "expected a name", "found end
// of file"), never in Chevrotain's own terms (token names such as Identifier or EOF, "something else");
// and one bracket or string problem is one diagnostic, not a cascade.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { alternativesPhrase, tokenPhrase } from "../grammar/expected.ts";
import * as T from "../grammar/lexer.ts";
import { parseSource, parseValueText } from "../src/compiler/parse/parse.ts";
import { SourceFile } from "../src/diagnostics/source-file.ts";

function messages(text: string): string[] {
  return parseSource(new SourceFile("/virtual/x.align", "x.align", text)).diagnostics.map((d) => `${d.code} ${d.message}`);
}

describe("syntax error messages", () => {
  const cases: [string, string][] = [
    ["align 1\nmodel m tinyvlm {}\n", "ALN1004 expected '=', found 'tinyvlm'"],
    ["align 1\nmodel m = tinyvlm { size nano }\n", "ALN1004 expected ':', found 'nano'"],
    ["align 1\nmodel = tinyvlm {}\n", "ALN1004 expected a name, found '='"],
    ["align 1\nmodel m = ", "ALN1004 expected a value, found end of file"],
    [
      "align 1\nmodel m = tinyvlm {}\nfoo\n",
      "ALN1004 expected a declaration (model, dataset, rater, similarity, phase, sweep, evaluate, param or import), found 'foo'",
    ],
    ["align 1\nparam p: int in {1, } = 1\n", "ALN1004 expected a value, found '}'"],
  ];
  for (const [text, expected] of cases) {
    test(JSON.stringify(text), () => {
      assert.deepEqual(messages(text), [expected]);
    });
  }

  test("no message leaks a token name or Chevrotain's wording", () => {
    const inputs = [
      "align 1\nmodel m tinyvlm {}",
      "align 1\nmodel = x",
      "align 1\nmodel m = ",
      "align 1\nmodel m = x(1,",
      "align 1\nparam p: int in (0 1]",
      "align 1\nevaluate { models: [a] }",
      "align 1\nimport as x",
    ];
    for (const input of inputs) {
      for (const m of messages(input)) assert.doesNotMatch(m, /Identifier|EOF|something else|-->|Expecting|Token sequences/, `${input}: ${m}`);
    }
  });

  test("a --set value expects its end, not a declaration", () => {
    const parsed = parseValueText(new SourceFile("/virtual/--set x", "--set x", "0.1 0.2"));
    assert.deepEqual(
      parsed.diagnostics.map((d) => d.message),
      ["expected the end of the value, found '0.2'"],
    );
  });

  test("phrases for tokens and alternatives", () => {
    assert.equal(tokenPhrase(T.Identifier), "a name");
    assert.equal(tokenPhrase(T.Colon), "':'");
    assert.equal(tokenPhrase(T.Model), "'model'");
    assert.equal(alternativesPhrase([T.Minus, T.IntLiteral, T.FloatLiteral, T.PercentLiteral, T.DurationLiteral]), "a number");
    assert.equal(alternativesPhrase([T.Comma, T.RBracket]), "',' or ']'");
    assert.equal(alternativesPhrase([T.Identifier, T.IntLiteral, T.StringLiteral, T.LBrace]), "a value");
  });
});

describe("no cascades after a bracket or string problem", () => {
  const one: [string, string, string][] = [
    ["an unterminated string", 'align 1\nmodel m = checkpoint("runs/x)\ndataset d = shapes { split: train }\n', "ALN1002"],
    ["a string that swallows a block", 'align 1\nmodel m = checkpoint("runs/x) {\n  seed: 1\n}\ndataset d = shapes { split: train }\n', "ALN1002"],
    ["a missing } before the next declaration", "align 1\nmodel m = tinyvlm { size: nano\nphase p = sft(m, d) { epochs: 1 }\n", "ALN1005"],
    ["a missing } at the end of the file", "align 1\nphase p = sft(m, d) {\n  optimizer: adamw { lr: 1e-3 }\n", "ALN1005"],
    ["a list closed with }", "align 1\nrater r = grounded { aspects: [a, b}, scale: 0..4 }\n", "ALN1012"],
    ["a stray )", "align 1\nphase p = sft(m, d)) { epochs: 1 }\n", "ALN1009"],
  ];
  test("the forgotten } is found by the indentation of the one that is there", () => {
    const text = "align 1\nphase p = sft(m, d) {\n  epochs: 1\n  optimizer: adamw { lr: 1e-3\n}\nmodel m = tinyvlm {}\n";
    const diagnostics = parseSource(new SourceFile("/virtual/x.align", "x.align", text)).diagnostics;
    assert.deepEqual(
      diagnostics.map((d) => `${d.code} ${d.span?.line}:${d.span?.column}`),
      ["ALN1005 4:20"],
    );
  });

  for (const [name, text, code] of one) {
    test(name, () => {
      assert.deepEqual(
        messages(text).map((m) => m.slice(0, 7)),
        [code],
      );
    });
  }
});
