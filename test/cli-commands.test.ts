// The command registry (src/cli/commands.ts) and what each command loads. Commands are imported only when asked for,
// so `alignc --help` loads no command, and `alignc check` loads the compiler and nothing of the runtime: not ONNX
// Runtime, not ts-morph (unless the file has a TypeScript rater), not tsx's loader, pngjs, the tokenizer, ajv, execa,
// yaml or protobuf. Checked on the modules the sources load, not on time (docs/performance.md has the timings).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { commands } from "../src/cli/commands.ts";
import type { Command } from "../src/cli/common/command.ts";
import { runTracingLoads } from "./tools/load-trace.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const main = path.join(repoRoot, "src/cli/main.ts");
const dir = mkdtempSync(path.join(tmpdir(), "alignc-cli-commands-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Packages only some commands need, as they appear in a loaded module's path. */
const HEAVY = [
  "onnxruntime-node",
  "ts-morph",
  "typescript",
  "tsx/dist/esm/api",
  "pngjs",
  "@huggingface/tokenizers",
  "ajv",
  "execa",
  "yaml",
  "@bufbuild/protobuf",
  "onnx-buf",
  "playwright-core",
];

/** The sources' CLI with tsx, as `npm test` runs it; what it printed and the repository-relative paths it loaded. */
function traced(args: string[], cwd = repoRoot) {
  const r = runTracingLoads(["--import", import.meta.resolve("tsx"), main, ...args], { cwd });
  const files = r.loaded.filter((u) => u.startsWith("file:")).map((u) => path.relative(repoRoot, fileURLToPath(u)).split(path.sep).join("/"));
  const heavy = HEAVY.filter((p) => files.some((f) => f.startsWith(`node_modules/${p}/`)));
  return { ...r, files, heavy, commandModules: files.filter((f) => f.startsWith("src/cli/commands/")) };
}

describe("the command registry", () => {
  test("every module under src/cli/commands/ is registered, under its own name and summary", async () => {
    const modules = readdirSync(path.join(repoRoot, "src/cli/commands")).filter((f) => f.endsWith(".ts"));
    const exported: Command[] = [];
    for (const f of modules) {
      const mod = (await import(pathToFileURL(path.join(repoRoot, "src/cli/commands", f)).href)) as Record<string, unknown>;
      for (const v of Object.values(mod)) if (v && typeof v === "object" && "name" in v && "summary" in v && "run" in v) exported.push(v as Command);
    }
    assert.deepEqual(exported.map((c) => c.name).sort(), commands.map((c) => c.name).sort());
    for (const entry of commands) {
      const command = await entry.load();
      assert.equal(command.name, entry.name);
      assert.equal(entry.summary, command.summary, `commands.ts has the summary of ${entry.name} that its module has`);
    }
  });

  test("alignc --help lists every command and loads none", () => {
    const r = traced(["--help"]);
    assert.equal(r.status, 0, r.stderr);
    for (const c of commands) assert.ok(r.stdout.includes(`  ${c.name.padEnd(9)} ${c.summary}`), c.name);
    assert.deepEqual(r.commandModules, []);
    assert.deepEqual(r.heavy, []);
    assert.deepEqual(
      r.files.filter((f) => f.startsWith("src/runtime/") || f.startsWith("grammar/")),
      [],
    );
  });

  test("alignc check loads the compiler and check's module, nothing of the runtime and no heavy package", () => {
    const r = traced(["check", "experiments/li2024/li2024.align"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no problems found/);
    assert.deepEqual(r.commandModules, ["src/cli/commands/check.ts"]);
    assert.deepEqual(r.heavy, []);
    assert.deepEqual(
      r.files.filter((f) => f.startsWith("src/runtime/")),
      [],
    );
    assert.ok(r.files.includes("grammar/parser.ts"), "the check did parse");
  });

  test("alignc check loads ts-morph when the file has a TypeScript rater (the trace sees it when it is loaded)", () => {
    writeFileSync(
      path.join(dir, "rater.ts"),
      "export function rate(request: { responses: string[]; aspects: string[] }) {\n  return { scores: request.responses.map(() => Object.fromEntries(request.aspects.map((a) => [a, 1]))) };\n}\n",
    );
    writeFileSync(
      path.join(dir, "ts-rater.align"),
      'align 1\n\nmodel base = tinyvlm { size: nano }\ndataset train = shapes { split: train, count: 10 }\nrater judge = typescript("./rater.ts") { export: "rate", aspects: [helpfulness], scale: 0..4 }\ndataset samples = sample(base, train) { n: 2 }\ndataset rated = rate(samples, judge)\ndataset pairs = pair(rated) { score: helpfulness, margin: 1 }\nphase aligned = dpo(base, pairs)\n',
    );
    const r = traced(["check", "ts-rater.align", "--format", "json"], dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(r.heavy.includes("ts-morph"), `loaded: ${r.heavy.join(", ")}`);
    assert.ok(!r.heavy.includes("onnxruntime-node"));
  });
});
