// docs/language.md stays true: its generated regions (constructor reference, diagnostics) equal what
// `npm run docs:language` would write now, every ```align example that starts with `align 1` compiles
// without errors (```align-error examples must fail), and its relative links and anchors resolve.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { allCtors } from "../src/compiler/checker/catalog/index.ts";
import { compile } from "../src/compiler/compile.ts";
import { diagnosticsReferenceMarkdown } from "../src/compiler/docs/diagnostics-reference.ts";
import { constructorReferenceMarkdown, extractMarkedRegion, markers, replaceMarkedRegion } from "../src/compiler/docs/reference.ts";
import type { Diagnostic } from "../src/diagnostics/diagnostic.ts";
import { messages } from "../src/diagnostics/messages.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const docsDir = join(root, "docs");
const languageMd = join(docsDir, "language.md");
const md = existsSync(languageMd) ? readFileSync(languageMd, "utf8") : "";
const stale = "is out of date: run `npm run docs:language` and commit the result";

interface Block {
  info: string;
  text: string;
  /** 1-based line of the opening fence in docs/language.md. */
  line: number;
  /** A name given by a `<!-- file: NAME -->` line just above the fence, for examples that import each other. */
  file?: string;
}

/** Fenced code blocks of a markdown text, with their info strings. */
function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*([^`\s]*)\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const fence = open[1] ?? "```";
    let j = i + 1;
    while (j < lines.length && !(lines[j]?.startsWith(fence) && (lines[j] ?? "").trim() === fence)) j++;
    let k = i - 1;
    while (k >= 0 && (lines[k] ?? "").trim() === "") k--;
    const named = /^<!--\s*file:\s*(\S+)\s*-->$/.exec((lines[k] ?? "").trim());
    blocks.push({ info: open[2] ?? "", text: lines.slice(i + 1, j).join("\n"), line: i + 1, ...(named?.[1] ? { file: named[1] } : {}) });
    i = j;
  }
  return blocks;
}

function show(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .map((d) => `  ${d.span ? `${d.span.line}:${d.span.column}: ` : ""}${d.severity}[${d.code}] ${d.message}${d.help ? ` (help: ${d.help})` : ""}`)
    .join("\n");
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const blocks = codeBlocks(md);
const work = mkdtempSync(join(tmpdir(), "alignc-language-docs-"));
after(() => rmSync(work, { recursive: true, force: true }));

describe("docs/language.md", () => {
  test("exists and has every generated region", () => {
    assert.ok(md !== "", "docs/language.md is missing");
    for (const name of ["CONSTRUCTORS", "DIAGNOSTICS", "GRAMMAR"]) {
      const { begin, end } = markers(name);
      assert.ok(extractMarkedRegion(md, name) !== undefined, `docs/language.md lacks the lines ${begin} … ${end}`);
    }
  });

  test("the constructor reference is generated from the catalog and up to date", () => {
    assert.equal(replaceMarkedRegion(md, "CONSTRUCTORS", constructorReferenceMarkdown()), md, `the constructor reference ${stale}`);
    const region = extractMarkedRegion(md, "CONSTRUCTORS") ?? "";
    for (const c of allCtors) assert.match(region, new RegExp(`#### \`${c.name}\` \\(${c.category}\\)`), `${c.category} ${c.name} is not documented`);
  });

  test("the diagnostics reference is generated from the message table and up to date", () => {
    assert.equal(replaceMarkedRegion(md, "DIAGNOSTICS", diagnosticsReferenceMarkdown()), md, `the diagnostics reference ${stale}`);
    const region = extractMarkedRegion(md, "DIAGNOSTICS") ?? "";
    for (const m of Object.values(messages)) assert.ok(region.includes(`\`${m.code}\``), `${m.code} is not documented`);
  });

  test("the generators are deterministic and leave text outside their region alone", () => {
    assert.equal(constructorReferenceMarkdown(), constructorReferenceMarkdown());
    assert.equal(diagnosticsReferenceMarkdown(), diagnosticsReferenceMarkdown());
    const doc = ["# T", "before", markers("X").begin, "old", markers("X").end, "after", ""].join("\n");
    const out = replaceMarkedRegion(doc, "X", "new\n");
    assert.equal(out, ["# T", "before", markers("X").begin, "", "new", "", markers("X").end, "after", ""].join("\n"));
    assert.equal(replaceMarkedRegion(out, "X", "new\n"), out);
    assert.equal(extractMarkedRegion(out, "X"), "\nnew\n");
    assert.throws(() => replaceMarkedRegion("# none\n", "X", "new"), /lacks the lines/);
  });

  test("has complete examples to check", () => {
    const full = blocks.filter((b) => b.info === "align" && b.text.startsWith("align 1"));
    assert.ok(full.length >= 3, `only ${full.length} \`\`\`align blocks start with \`align 1\``);
    assert.ok(
      blocks.some((b) => b.info === "align-error"),
      "no ```align-error example",
    );
  });

  // All examples are written first, so that one can import another by the name given in `<!-- file: NAME -->`.
  const examples = blocks
    .filter((b) => (b.info === "align" || b.info === "align-error") && b.text.startsWith("align 1"))
    .map((b, i) => ({ ...b, path: join(work, b.file ?? `example-${i + 1}-line-${b.line}.align`) }));
  for (const ex of examples) {
    mkdirSync(dirname(ex.path), { recursive: true });
    writeFileSync(ex.path, `${ex.text}\n`);
  }
  for (const ex of examples) {
    if (ex.info === "align") {
      test(`the example at line ${ex.line} compiles without errors`, async () => {
        const result = await compile(ex.path);
        const errors = result.diagnostics.filter((d) => d.severity === "error");
        assert.equal(errors.length, 0, `docs/language.md:${ex.line}:\n${show(errors)}`);
      });
    } else {
      test(`the error example at line ${ex.line} does fail`, async () => {
        const result = await compile(ex.path);
        assert.ok(
          result.diagnostics.some((d) => d.severity === "error"),
          `docs/language.md:${ex.line}: the \`\`\`align-error example compiles; fence it as \`\`\`align`,
        );
      });
    }
  }

  test("relative links point at files that exist, and #anchors at headings or ids", () => {
    const withoutCode = md.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, "");
    const anchors = new Set<string>();
    for (const m of withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)) anchors.add(slug(m[1] ?? ""));
    for (const m of md.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(m[1] ?? "");
    for (const m of withoutCode.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] ?? "";
      if (/^[a-z]+:/i.test(target)) continue;
      const [path, anchor] = target.split("#");
      if (path) assert.ok(existsSync(join(docsDir, path)), `docs/language.md links to ${target}, which does not exist`);
      else if (anchor) assert.ok(anchors.has(anchor), `docs/language.md links to #${anchor}, which no heading or id defines`);
    }
  });
});
