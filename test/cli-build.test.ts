// The bundle `npm ci` builds (scripts/build.ts → dist/, run by bin/alignc.js) against the sources it was built from.
// It is built in a copy of the repository (its own src/, grammar/, bin/, scripts/build.ts; node_modules linked), so
// this test never touches the working tree's dist/. Then:
//  • the same commands through bin/alignc.js with ALIGNC_FROM_SOURCE=0 (the bundle) and =1 (the sources through
//    tsx) print the same and exit the same — diagnostics (a TypeScript rater's too: ts-morph, and src/api/rater.ts
//    found from the bundle), execution graphs, help, a generated world (pngjs, bundled CommonJS), and a small run
//    (ajv, yaml, and align.lock's digest of the sources, found through the import.meta.url rewriting);
//  • bin/alignc.js on its own runs the bundle while it is current, also after a source file is touched but not
//    changed, and runs the sources with a note (or, with ALIGNC_FROM_SOURCE=0, refuses) once one is changed or the
//    bundle is gone.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runTracingLoads } from "./tools/load-trace.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), "alignc-build-"));
after(() => rmSync(root, { recursive: true, force: true }));

for (const p of [
  "src",
  "grammar",
  "bin",
  "scripts/build.ts",
  "package.json",
  "experiments/li2024",
  "experiments/common",
  "experiments/vit.align",
  "experiments/quickstart.align",
])
  cpSync(path.join(repoRoot, p), path.join(root, p), { recursive: true });
cpSync(path.join(repoRoot, "test/cases/semantic-errors.align"), path.join(root, "cases/semantic-errors.align"));
symlinkSync(path.join(repoRoot, "node_modules"), path.join(root, "node_modules"), "dir");
// A TypeScript rater whose export does not match Rater: the check loads ts-morph and src/api/rater.ts from the bundle.
writeFileSync(
  path.join(root, "cases/wrong-rater.ts"),
  "export function rate(request: { responses: string[] }): number {\n  return request.responses.length;\n}\n",
);
writeFileSync(
  path.join(root, "cases/typescript-rater.align"),
  'align 1\n\nmodel base = tinyvlm { size: nano }\ndataset train = shapes { split: train, count: 10 }\nrater judge = typescript("./wrong-rater.ts") { export: "rate", aspects: [helpfulness], scale: 0..4 }\ndataset samples = sample(base, train) { n: 2 }\ndataset rated = rate(samples, judge)\ndataset pairs = pair(rated) { score: helpfulness, margin: 1 }\nphase aligned = dpo(base, pairs)\n',
);

const bin = path.join(root, "bin/alignc.js");

/** This process's environment without node:test's marker, which makes bin/alignc.js run the sources. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = process.env;
  return { ...rest, NO_COLOR: "1", ...extra };
}

function alignc(from: "0" | "1", args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env: env({ ALIGNC_FROM_SOURCE: from }), encoding: "utf8", timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** bin/alignc.js as a user runs it (no ALIGNC_FROM_SOURCE): what it printed, and which entry it loaded. */
function auto(args: string[], extra: Record<string, string> = {}) {
  const r = runTracingLoads([bin, ...args], { cwd: root, env: env(extra) });
  const ran = r.loaded.some((u) => u.endsWith("/dist/alignc.js")) ? "dist" : r.loaded.some((u) => u.endsWith("/src/cli/main.ts")) ? "sources" : "neither";
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ran };
}

/** Every file under `dir`, by relative path, with its bytes. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile()) out[path.relative(dir, path.join(f.parentPath, f.name))] = readFileSync(path.join(f.parentPath, f.name)).toString("base64");
  return out;
}

before(() => {
  const r = spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), "scripts/build.ts"], { cwd: root, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^alignc build: dist\/ \(\d+ files\) from \d+ sources and \d+ bundled packages in /m);
});

describe("the bundle in dist/ and the sources agree", () => {
  const cases: [string, string[]][] = [
    ["alignc --help", ["--help"]],
    ["alignc --version", ["--version"]],
    ["alignc with an unknown command", ["frobnicate"]],
    ["alignc check on a study with imports", ["check", "experiments/li2024/li2024.align"]],
    ["alignc check on a file with errors", ["check", "cases/semantic-errors.align"]],
    ["alignc check --format json on a file with errors", ["check", "cases/semantic-errors.align", "--format", "json"]],
    ["alignc check on a TypeScript rater that does not match Rater", ["check", "cases/typescript-rater.align"]],
    ["alignc plan --format json", ["plan", "experiments/quickstart.align", "--format", "json"]],
    ["alignc explain", ["explain", "ALN2003"]],
  ];
  for (const [name, args] of cases)
    test(name, () => {
      const built = alignc("0", args);
      const sources = alignc("1", args);
      assert.ok(built.status === 0 || built.status === 1, built.stderr);
      assert.deepEqual(built, sources);
    });

  test("alignc world generate writes the same files (PNG images through the bundled pngjs)", () => {
    const args = (out: string) => ["world", "generate", "--out", out, "--count", "3", "--seed", "2"];
    const built = alignc("0", args("world-dist"));
    const sources = alignc("1", args("world-src"));
    assert.equal(built.status, 0, built.stderr);
    assert.equal(sources.status, 0, sources.stderr);
    const a = tree(path.join(root, "world-dist"));
    assert.ok(Object.keys(a).some((f) => f.endsWith(".png")));
    assert.deepEqual(a, tree(path.join(root, "world-src")));
  });

  test("alignc run of an import and an export: the same exported rows, store keys and digest of alignc's sources", () => {
    const row = (prompt: string, chosen: string, rejected: string) => JSON.stringify({ prompt, chosen, rejected });
    const results: { lock: string; exported: string }[] = [];
    for (const from of ["0", "1"] as const) {
      const dir = path.join(root, `run-${from}`);
      mkdirSync(dir);
      writeFileSync(path.join(dir, "rows.jsonl"), `${row("Which shape is red?", "The circle.", "The square.")}\n${row("How many?", "Two.", "Three.")}\n`);
      writeFileSync(
        path.join(dir, "tiny.align"),
        'align 1\n\ndataset prefs = file("rows.jsonl") { kind: pairs, format: trl }\ndataset out = export(prefs) { path: "exports/p.jsonl" }\n',
      );
      const r = alignc(from, ["run", "tiny.align"], dir);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const lock = readFileSync(path.join(dir, "runs/tiny/align.lock"), "utf8");
      results.push({
        lock: lock
          .split("\n")
          .filter((l) => /^(alignc|code_sha256|entry_sha256):|^\s+(key|hash|external_sha256|status):/.test(l))
          .join("\n"),
        exported: readFileSync(path.join(dir, "runs/tiny/exports/p.jsonl"), "utf8"),
      });
    }
    const [built, sources] = results as [(typeof results)[0], (typeof results)[0]];
    assert.match(built.lock, /^code_sha256: [0-9a-f]{64}$/m);
    assert.equal(built.lock.match(/^\s+key: [0-9a-f]{64}$/gm)?.length, 2, built.lock);
    assert.deepEqual(built, sources);
  });
});

describe("bin/alignc.js runs dist/ only while it is current", () => {
  const version = path.join(root, "src/version.ts");

  test("current: the bundle runs, without a note", () => {
    const r = auto(["--version"]);
    assert.deepEqual(r, { status: 0, stdout: "alignc 0.1.0\n", stderr: "", ran: "dist" });
  });

  test("a source touched but not changed: still the bundle", () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(version, later, later);
    assert.equal(auto(["--version"]).ran, "dist");
  });

  test("a source changed: the sources run, with a note; ALIGNC_FROM_SOURCE=0 refuses", () => {
    writeFileSync(version, readFileSync(version, "utf8").replace(/"0\.1\.0"/, '"0.1.0-changed"'));
    const r = auto(["--version"]);
    assert.equal(r.ran, "sources");
    assert.equal(r.status, 0);
    assert.equal(r.stdout, "alignc 0.1.0-changed\n");
    assert.equal(
      r.stderr,
      "alignc: src/version.ts changed since dist/ was built; running the TypeScript sources through tsx, slower to start (`npm run build` builds dist/)\n",
    );
    const refused = auto(["--version"], { ALIGNC_FROM_SOURCE: "0" });
    assert.equal(refused.status, 2);
    assert.equal(refused.ran, "neither");
    assert.match(refused.stderr, /^alignc: ALIGNC_FROM_SOURCE=0, but src\/version\.ts changed since dist\/ was built; run `npm run build`\n$/);
  });

  test("no bundle: the sources run, with a note", () => {
    renameSync(path.join(root, "dist"), path.join(root, "dist-away"));
    const r = auto(["--version"]);
    assert.equal(r.ran, "sources");
    assert.match(r.stderr, /^alignc: dist\/ is not built; running the TypeScript sources through tsx/);
  });
});
