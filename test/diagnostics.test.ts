// Diagnostic codes that no committed baseline can show (test/baselines.test.ts exempts them and names this file):
// an import that is a symbolic link to itself (a loop in a committed tree trips every tool that walks it), more than
// 100 diagnostics in one file, and run-time input problems whose inputs are too large or too odd to build as a case.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { compileSync } from "../src/compiler/compile.ts";
import { refusalProblem, renderInputProblem } from "../src/diagnostics/input-problems.ts";
import { renderDiagnostics } from "../src/diagnostics/render-terminal.ts";
import { readUntrusted } from "../src/util/untrusted-file.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-diagnostics-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const BASE = "model base = tinyvlm { size: nano, seed: 1 }\ndataset train = shapes { split: train, count: 10 }\nphase vit = sft(base, train)\n";

test("ALN0003: an import that cannot be read (a symbolic link to itself) is reported at the import", () => {
  symlinkSync("loop.align", path.join(dir, "loop.align"));
  const main = path.join(dir, "imports-loop.align");
  writeFileSync(main, `align 1\nimport "loop.align"\n${BASE}`);
  const result = compileSync(main);
  const codes = result.diagnostics.map((d) => d.code);
  assert.deepEqual(codes, ["ALN0003"]);
  const text = renderDiagnostics(result.diagnostics, result.sources, { color: false });
  assert.match(text, /imports-loop\.align:2:8: error\[ALN0003\]: cannot read '.*loop\.align': too many levels of symbolic links/);
});

test("ALN9001: after 100 diagnostics in a file the rest are counted, not listed", () => {
  const file = path.join(dir, "many.align");
  const lines = Array.from({ length: 150 }, (_, i) => `dataset d${i} = shapes { split: train, count: 10, nope${i}: 1 }`);
  writeFileSync(file, `align 1\n${BASE}${lines.join("\n")}\n`);
  const result = compileSync(file);
  const last = result.diagnostics.at(-1);
  assert.equal(last?.code, "ALN9001");
  assert.match(last?.message ?? "", /^\d+ more diagnostics in .*many\.align were not shown$/);
  assert.ok(result.diagnostics.length <= 101, `${result.diagnostics.length} diagnostics`);
});

test("ALN6004: an input over its size cap is refused with both sizes", () => {
  const file = path.join(dir, "big.jsonl");
  writeFileSync(file, "x".repeat(3000));
  const r = readUntrusted(file, { maxBytes: 2048 });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = renderInputProblem(refusalProblem(r, "data file", 2048, { shown: "big.jsonl" }));
  assert.ok(text.startsWith("error[ALN6004]: data file big.jsonl is 2.9 KiB; alignc reads data files up to 2 KiB"), text);
});

test("ALN6011: an input the operating system refuses to read names the reason", () => {
  const file = path.join(dir, "circular.jsonl");
  symlinkSync("circular.jsonl", file);
  const r = readUntrusted(file, { maxBytes: 2048 });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = renderInputProblem(refusalProblem(r, "data file", 2048, { shown: "circular.jsonl" }));
  assert.match(text, /^error\[ALN6011\]: data file circular\.jsonl cannot be read: .*(ELOOP|symbolic links)/);
});
