// Regenerates the grammar documentation from grammar/parser.ts:
//   docs/grammar.ebnf   the grammar as EBNF
//   docs/grammar.html   railroad diagrams, self-contained (opens offline)
//   docs/language.md    only the region between <!-- BEGIN GENERATED GRAMMAR --> and <!-- END GENERATED GRAMMAR -->,
//                       and only when the file exists with both markers; the file is never created here.
// Usage: npm run docs:grammar             write the files
//        npm run docs:grammar -- --check  write nothing; exit 1 when a file is out of date
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { grammarDiagramsHtml, grammarEbnf, hasGeneratedRegion, replaceGeneratedRegion } from "../src/compiler/grammar-docs/ebnf.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const docs = join(root, "docs");
const check = process.argv.includes("--check");

const ebnf = grammarEbnf();
const outputs: Array<{ path: string; text: string }> = [
  { path: join(docs, "grammar.ebnf"), text: ebnf },
  { path: join(docs, "grammar.html"), text: grammarDiagramsHtml() },
];

const languageMd = join(docs, "language.md");
if (existsSync(languageMd)) {
  const md = readFileSync(languageMd, "utf8");
  if (hasGeneratedRegion(md)) outputs.push({ path: languageMd, text: replaceGeneratedRegion(md, ebnf) });
  else console.log(`${relative(root, languageMd)}: no generated-grammar markers; left as it is`);
} else {
  console.log(`${relative(root, languageMd)}: not there; the EBNF is in docs/grammar.ebnf`);
}

let stale = 0;
for (const { path, text } of outputs) {
  const name = relative(root, path);
  const current = existsSync(path) ? readFileSync(path, "utf8") : undefined;
  if (current === text) {
    console.log(`${name}: up to date`);
    continue;
  }
  if (check) {
    console.log(`${name}: out of date`);
    stale++;
    continue;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`${name}: written`);
}
if (stale > 0) {
  console.error(`${stale} file(s) out of date: run npm run docs:grammar`);
  process.exitCode = 1;
}
