// The checked-in grammar docs (docs/grammar.ebnf, docs/grammar.html, the generated region of docs/language.md)
// must equal what scripts/gen-grammar-docs.ts would write from grammar/parser.ts now.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import {
  extractGeneratedEbnf,
  grammarDiagramsHtml,
  grammarEbnf,
  grammarRuleNames,
  hasGeneratedRegion,
  replaceGeneratedRegion,
  serializedGrammar,
} from "../src/compiler/grammar-docs/ebnf.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const docs = join(root, "docs");
const regenerate = "out of date: run `npm run docs:grammar` and commit the result";

function read(name: string): string | undefined {
  const path = join(docs, name);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

describe("grammar docs", () => {
  test("docs/grammar.ebnf equals the EBNF generated from the parser", () => {
    const onDisk = read("grammar.ebnf");
    assert.ok(onDisk !== undefined, `docs/grammar.ebnf is missing: run \`npm run docs:grammar\``);
    assert.equal(onDisk, grammarEbnf(), `docs/grammar.ebnf is ${regenerate}`);
  });

  test("the generated grammar in docs/language.md, when it has the markers, equals the EBNF", (t) => {
    const md = read("language.md");
    if (md === undefined || !hasGeneratedRegion(md)) {
      t.skip("docs/language.md has no <!-- BEGIN/END GENERATED GRAMMAR --> markers");
      return;
    }
    const inMd = extractGeneratedEbnf(md);
    assert.ok(inMd !== undefined, `docs/language.md: no \`\`\`ebnf block between the markers; ${regenerate}`);
    assert.equal(inMd, grammarEbnf(), `the grammar in docs/language.md is ${regenerate}`);
  });

  test("docs/grammar.html equals the generated page and loads nothing from the network", () => {
    const onDisk = read("grammar.html");
    assert.ok(onDisk !== undefined, `docs/grammar.html is missing: run \`npm run docs:grammar\``);
    assert.equal(onDisk, grammarDiagramsHtml(), `docs/grammar.html is ${regenerate}`);
    const remote = onDisk.match(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\/[^"'\s>]*/gi);
    assert.equal(remote, null, `docs/grammar.html refers to remote resources: ${remote?.join(", ")}`);
    assert.doesNotMatch(onDisk, /<script[^>]*\ssrc\s*=/i, "every script must be inline");
    assert.doesNotMatch(onDisk, /<link[^>]*stylesheet/i, "the stylesheet must be inline");
  });

  test("the inlined scripts of docs/grammar.html draw one diagram per rule", () => {
    // No browser here: run the page's scripts in a bare context with just enough of a DOM stub.
    const html = grammarDiagramsHtml();
    const scripts = [...html.matchAll(/<script>\n?([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? "");
    assert.ok(scripts.length >= 5, `expected the inlined scripts, found ${scripts.length}`);
    const target = { innerHTML: "" };
    const document = {
      getElementById: (id: string) => (id === "diagrams" ? target : null),
      getElementsByClassName: () => [],
      getElementsByTagName: () => [],
    };
    const context = vm.createContext({ document, console });
    vm.runInContext("var window = this;", context);
    for (const code of scripts) vm.runInContext(code, context);
    const names = grammarRuleNames();
    const headers = [...target.innerHTML.matchAll(/<h2 class="diagramHeader">([^<]*)<\/h2>/g)].map((m) => m[1]);
    assert.deepEqual(headers, names);
    assert.equal((target.innerHTML.match(/<svg /g) ?? []).length, names.length);
  });

  test("every parser rule is defined in the EBNF, and every name used there is defined", () => {
    const ebnf = grammarEbnf();
    const names = grammarRuleNames();
    assert.equal(names.length, serializedGrammar().length);
    for (const name of names) assert.match(ebnf, new RegExp(`^${name}\\s+::= `, "m"), `rule ${name} is not in the EBNF`);
    const defined = new Set([...ebnf.matchAll(/^([A-Za-z_]\w*)\s+::= /gm)].map((m) => m[1]));
    const grammarPart = ebnf
      .split("\n")
      .filter((l) => !l.startsWith("/*") && !/^[A-Z_]+\s+::= \//.test(l))
      .join("\n")
      .replace(/"[^"]*"|'[^']*'|\/\*.*?\*\//g, " ");
    for (const [used] of grammarPart.matchAll(/[A-Za-z_]\w*/g)) assert.ok(defined.has(used), `${used} is used in the EBNF but not defined`);
  });

  test("the EBNF is deterministic and renders every kind of grammar node", () => {
    const ebnf = grammarEbnf();
    assert.equal(grammarEbnf(), ebnf);
    assert.match(ebnf, /^callArguments\s+::= "\(" \( expression \( "," expression \)\* \)\? "\)"$/m, "MANY_SEP");
    assert.match(
      ebnf,
      /^valueSet\s+::= "\{" \( bound \| STRING \| "true" \| "false" \| IDENTIFIER \) \( "," \( bound \| STRING \| "true" \| "false" \| IDENTIFIER \) \)\* "\}"$/m,
      "AT_LEAST_ONE_SEP",
    );
    assert.match(ebnf, /^file\s+::= versionLine\? statement\*$/m, "OPTION, MANY");
    assert.match(ebnf, /^bound\s+::= "-"\? \( INT \| FLOAT \| PERCENT \| DURATION \)$/m, "nested OR");
    for (const tok of ["IDENTIFIER", "STRING", "INT", "FLOAT", "DURATION", "PERCENT", "INTERPOLATION"]) {
      assert.match(ebnf, new RegExp(`^${tok}\\s+::= /.+/$`, "m"), `token ${tok} has no regex line`);
    }
  });

  test("the generated region of a markdown file is replaced in place and read back", () => {
    const md = ["# Language", "", "Intro.", "<!-- BEGIN GENERATED GRAMMAR -->", "old", "<!-- END GENERATED GRAMMAR -->", "", "After.", ""].join("\n");
    const ebnf = "a ::= b\n";
    const out = replaceGeneratedRegion(md, ebnf);
    assert.equal(
      out,
      ["# Language", "", "Intro.", "<!-- BEGIN GENERATED GRAMMAR -->", "```ebnf", "a ::= b", "```", "<!-- END GENERATED GRAMMAR -->", "", "After.", ""].join(
        "\n",
      ),
    );
    assert.equal(extractGeneratedEbnf(out), ebnf);
    assert.equal(replaceGeneratedRegion(out, ebnf), out);
    assert.equal(hasGeneratedRegion("# no markers\n"), false);
    assert.equal(hasGeneratedRegion("<!-- END GENERATED GRAMMAR -->\n<!-- BEGIN GENERATED GRAMMAR -->\n"), false);
  });
});
