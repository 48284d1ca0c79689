// Diagnostics the checker reports exactly once: a reference cycle, an invalid param value (no extra
// "unknown param" at its uses), and identical diagnostics collected twice (DiagnosticBag).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { loadProgram } from "../src/compiler/binder/load.ts";
import { bind } from "../src/compiler/binder/scope.ts";
import { check } from "../src/compiler/checker/check.ts";
import { compileSync } from "../src/compiler/compile.ts";
import { type Diagnostic, DiagnosticBag, diagnostic } from "../src/diagnostics/diagnostic.ts";
import { withArticle } from "../src/diagnostics/messages.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-checker-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The checker's own diagnostics, before the compile pipeline's DiagnosticBag removes duplicates. */
function checkerDiagnostics(file: string, set?: string[]): Diagnostic[] {
  const program = loadProgram(file);
  return check(program, bind(program), set ? { set } : {}).diagnostics;
}

const HEAD = "align 1\nmodel base = tinyvlm { size: nano }\ndataset train = shapes { split: train, count: 10 }\n";

describe("checker: reported once", () => {
  test("a reference cycle through constructor arguments", () => {
    const file = write("cycle.align", `${HEAD}phase a = sft(b, train)\nphase b = sft(a, train)\ndataset loop = shuffle(loop)\n`);
    const cycles = checkerDiagnostics(file).filter((d) => d.code === "ALN2011");
    assert.deepEqual(
      cycles.map((d) => `${d.span?.line}:${d.span?.column} ${d.message}`),
      ["5:15 declarations depend on each other in a cycle: a → b → a", "6:24 declarations depend on each other in a cycle: loop → loop"],
    );
  });

  test("an invalid --set value or default is the only error about its param", () => {
    const file = write(
      "params.align",
      `${HEAD}param beta: float in (0, 1] = 0.1\nparam rank: int in {8, 16} = 12\ndataset pairs = corrupt(train)\nphase p = dpo(base, pairs) { objective: { beta: \${beta} }, lora: { rank: \${rank} } }\n`,
    );
    const diagnostics = checkerDiagnostics(file, ["beta=2"]);
    assert.deepEqual(diagnostics.map((d) => `${d.code} ${d.message}`).sort(), [
      "ALN3002 beta must be in (0, 1], got 2",
      "ALN3002 rank must be one of {8, 16}, got 12",
    ]);
  });

  test("a param of an unknown type is reported at its type only", () => {
    const file = write("ptype.align", `${HEAD}param flag: boolean = true\nmodel m = tinyvlm { seed: \${flag} }\nevaluate e { models: [base, m], on: train }\n`);
    const result = compileSync(file);
    assert.deepEqual(
      result.diagnostics.map((d) => `${d.code} ${d.help ?? ""}`),
      ["ALN4004 did you mean 'bool'?"],
    );
  });

  test("a declaration with an error gets no unused warning", () => {
    const file = write("unused.align", `${HEAD}model lonely = tinyvlm { size: huge }\nmodel fine = tinyvlm {}\nevaluate e { models: [base], on: train }\n`);
    const result = compileSync(file);
    assert.deepEqual(
      result.diagnostics.map((d) => d.code),
      ["ALN3003", "ALN3017"],
    );
    assert.match(result.diagnostics[1]?.message ?? "", /'fine'/);
  });
});

describe("checker: long chains", () => {
  // d0 uses d1, d1 uses d2, …: deeper than the checker recurses (check.ts checks the rest of such a chain
  // dependencies first), so these pin down that the results are those of plain recursion.
  const chain = (n: number, last: string) => {
    let text = "align 1\nmodel m = tinyvlm {}\nevaluate e { models: [m], on: d0 }\n";
    for (let i = 0; i < n; i++) text += `dataset d${i} = ${i === n - 1 ? last : `shuffle(d${i + 1})`}\n`;
    return text;
  };

  test("a chain of 40 declarations is planned each after what it uses", () => {
    const result = compileSync(write("chain40.align", chain(40, "shapes { split: train, count: 10 }")));
    assert.deepEqual(result.diagnostics, []);
    const expected = ["m", ...Array.from({ length: 40 }, (_, i) => `d${39 - i}`), "e.answers.m", "e"];
    assert.deepEqual(
      result.graph?.nodes.map((n) => n.id),
      expected,
    );
  });

  test("a cycle through 40 declarations is reported once, where it closes, the links not shown as …", () => {
    const diagnostics = checkerDiagnostics(write("cycle40.align", chain(40, "shuffle(d0)"))).filter((d) => d.code === "ALN2011");
    assert.equal(diagnostics.length, 1);
    assert.equal(diagnostics[0]?.span?.line, 43, "at the reference that closes the cycle (d39's use of d0)");
    assert.match(diagnostics[0]?.message ?? "", /^declarations depend on each other in a cycle: d0 → d1 → .* → … → .*d0$/);
  });

  test("names met through several plain imports: one entry is no clash, two are", () => {
    write("shared.align", "align 1\ndataset train = shapes { split: train, count: 10 }\n");
    write("left.align", 'align 1\nimport "shared.align"\nmodel base = tinyvlm {}\n');
    write("right.align", 'align 1\nimport "shared.align"\nmodel base = tinyvlm { size: small }\n');
    const file = write("diamond.align", 'align 1\nimport "left.align"\nimport "right.align"\nevaluate e { models: [base], on: train }\n');
    const result = compileSync(file);
    assert.deepEqual(
      result.diagnostics.map((d) => `${d.code} ${d.span?.file.endsWith("diamond.align") ? "diamond" : d.span?.file}:${d.span?.line} ${d.message}`),
      ["ALN2002 diamond:3 'base' is declared more than once"],
    );
    assert.deepEqual(result.checked?.decls.get("e")?.evaluate?.settings.models, { k: "list", items: [{ k: "ref", target: "base", category: "model" }] });
  });
});

describe("DiagnosticBag", () => {
  const at = (start: number) => ({ file: "f.align", start, end: start + 1, line: 1, column: start + 1, endLine: 1, endColumn: start + 2 });

  test("drops a diagnostic identical in code, span and message to one already collected", () => {
    const bag = new DiagnosticBag();
    const d = diagnostic("unknownAspect", { aspect: "x", rater: "r", aspects: "a, b" }, at(3));
    bag.add(d);
    bag.add({ ...d });
    bag.add(diagnostic("unknownAspect", { aspect: "y", rater: "r", aspects: "a, b" }, at(3)));
    bag.add(diagnostic("unknownAspect", { aspect: "x", rater: "r", aspects: "a, b" }, at(5)));
    assert.deepEqual(
      bag.finish().map((x) => `${x.span?.start} ${x.message}`),
      [
        "3 aspect 'x' is not scored by rater 'r' (it scores a, b)",
        "3 aspect 'y' is not scored by rater 'r' (it scores a, b)",
        "5 aspect 'x' is not scored by rater 'r' (it scores a, b)",
      ],
    );
  });
});

describe("message wording", () => {
  test("ranges read naturally", () => {
    assert.equal(diagnostic("outOfRange", { what: "beta", value: "0", range: "> 0" }).message, "beta must be > 0, got 0");
    assert.equal(diagnostic("outOfRange", { what: "rho", value: "2", range: "in [0, 1]" }).message, "rho must be in [0, 1], got 2");
  });

  test("articles agree with the next word", () => {
    assert.equal(withArticle("evaluate"), "an evaluate");
    assert.equal(withArticle("model"), "a model");
    assert.equal(
      diagnostic("wrongDeclarationKind", { name: "final", expected: "model", found: "evaluate" }).message,
      "'final' is an evaluate, but a model is needed here",
    );
  });
});
