// The README and docs/ stay true to a clone of the repository:
// - nothing points outside it (no `../shared/…`, `/work/shared/…`: papers are cited by name and arXiv id), and neither
//   do the messages alignc prints (`alignc doctor`'s hints) or the comments in its sources, scripts and benches;
// - relative links in README.md and docs/*.md lead to files that exist, and #anchors to headings that do;
// - the README's command table lists every command;
// - what the docs say about `precision` on CPU matches the code (fp16 trains, bf16 is refused; test/online-run.test.ts
//   and test/dpo-run.test.ts train and refuse them).
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

const read = (f: string) => readFileSync(f, "utf8");
const docs = readdirSync("docs")
  .filter((f) => f.endsWith(".md"))
  .map((f) => path.join("docs", f));

/** Every file under `dir` whose name ends in one of `exts` (node_modules and dot-folders left out). */
function filesUnder(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
const withoutCode = (md: string) => md.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, "");

describe("documentation", () => {
  test("nothing points outside the repository (../shared, /work/shared)", () => {
    const outside = /(\.\.\/)+shared\/|\/work\/shared|\bshared\/(papers|platform|device|hooks)\b|shared\/device\/(pack|unpack)\.sh/;
    const files = [
      "README.md",
      ...docs,
      ...filesUnder("src", [".ts", ".json"]),
      ...filesUnder("scripts", [".ts", ".sh"]),
      ...filesUnder("bench", [".ts"]),
      ...filesUnder("test", [".ts"]).filter((f) => f !== path.join("test", "docs.test.ts")),
    ];
    assert.ok(files.length > 100, `${files.length} files`);
    const found = files.flatMap((f) =>
      read(f)
        .split("\n")
        .flatMap((line, i) => (outside.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
    );
    assert.deepEqual(found, []);
  });

  test("relative links lead to files that exist, and #anchors to headings", () => {
    const anchorsOf = new Map<string, Set<string>>();
    const anchors = (file: string) => {
      let set = anchorsOf.get(file);
      if (!set) {
        const md = read(file);
        set = new Set([...withoutCode(md).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] ?? "")));
        for (const m of md.matchAll(/<a id="([^"]+)"><\/a>/g)) set.add(m[1] ?? "");
        anchorsOf.set(file, set);
      }
      return set;
    };
    const broken: string[] = [];
    for (const file of ["README.md", ...docs])
      for (const m of withoutCode(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] ?? "";
        if (/^[a-z]+:/i.test(target)) continue;
        const [rel, anchor] = target.split("#");
        const to = rel ? path.normalize(path.join(path.dirname(file), rel)) : file;
        if (!existsSync(to)) broken.push(`${file}: ${target} (no such file)`);
        else if (anchor && to.endsWith(".md") && !anchors(to).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
      }
    assert.deepEqual(broken, []);
  });

  test("the README's command table lists every command", () => {
    const names = readdirSync("src/cli/commands")
      .filter((f) => f.endsWith(".ts"))
      .map((f) => /\bname: "([a-z]+)"/.exec(read(path.join("src/cli/commands", f)))?.[1])
      .filter((n): n is string => n !== undefined);
    assert.ok(names.length >= 13 && names.includes("sweep"), names.join(", "));
    const readme = read("README.md");
    const table = readme.slice(readme.indexOf("## Commands"), readme.indexOf("\n## ", readme.indexOf("## Commands") + 1));
    const listed = new Set([...table.matchAll(/^\| `alignc ([a-z]+)/gm)].map((m) => m[1]));
    assert.deepEqual(
      names.filter((n) => !listed.has(n)),
      [],
      "commands missing from the README's table",
    );
  });

  test("precision on CPU: the docs say fp16 trains and bf16 is refused, as the code does", () => {
    const refusal = /precision` other than fp32 (is refused|\.)|`precision` other than fp32$/m;
    for (const f of ["docs/preference-training.md", "docs/online-dpo.md", "docs/gpu.md"]) assert.doesNotMatch(read(f), refusal, f);
    assert.match(read("docs/online-dpo.md"), /`precision: fp16` trains .* on CPU and on\nCUDA; `precision: bf16` needs CUDA/);
    assert.match(read("docs/preference-training.md"), /fp16 trains on CPU and on CUDA/);
    // The code the docs describe: only bf16 is refused on a device other than CUDA.
    const settings = read("src/runtime/pipeline/executors/training-settings.ts");
    assert.match(settings, /mixedPrecision\?\.compute === "bfloat16" && runtime\.options\.provider !== "cuda"/);
    assert.doesNotMatch(settings, /compute === "float16" && runtime\.options\.provider !== "cuda"/);
  });
});
