// Regenerates the generated regions of docs/language.md from the compiler's own tables:
//   <!-- BEGIN/END GENERATED CONSTRUCTORS -->  the constructor catalog (src/compiler/docs/reference.ts)
//   <!-- BEGIN/END GENERATED DIAGNOSTICS -->   the message table (src/compiler/docs/diagnostics-reference.ts)
// The grammar region is written by scripts/gen-grammar-docs.ts (npm run docs:grammar).
// Usage: npm run docs:language             rewrite the regions
//        npm run docs:language -- --check  write nothing; exit 1 when docs/language.md is out of date
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { diagnosticsReferenceMarkdown } from "../src/compiler/docs/diagnostics-reference.ts";
import { constructorReferenceMarkdown, replaceMarkedRegion } from "../src/compiler/docs/reference.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const path = join(root, "docs", "language.md");
const name = relative(root, path);
const check = process.argv.includes("--check");

if (!existsSync(path)) {
  console.error(`${name}: not there`);
  process.exit(1);
}
const current = readFileSync(path, "utf8");
let text = current;
try {
  text = replaceMarkedRegion(text, "CONSTRUCTORS", constructorReferenceMarkdown());
  text = replaceMarkedRegion(text, "DIAGNOSTICS", diagnosticsReferenceMarkdown());
} catch (error) {
  console.error(`${name}: ${(error as Error).message}`);
  process.exit(1);
}
if (text === current) console.log(`${name}: up to date`);
else if (check) {
  console.error(`${name}: out of date: run npm run docs:language`);
  process.exitCode = 1;
} else {
  writeFileSync(path, text);
  console.log(`${name}: written`);
}
