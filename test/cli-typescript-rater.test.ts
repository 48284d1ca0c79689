// `alignc check` end to end for a TypeScript rater: the CLI is spawned in a temporary directory, as a user
// runs it. A module whose export does not match the Rater type (src/api/rater.ts) is an error at the
// .align line that names the module, with a label at the TypeScript declaration; a matching module
// checks clean. (test/typescript-rater.test.ts covers the checker itself, without the CLI.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/alignc.js", import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), "alignc-cli-rater-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): void {
  writeFileSync(path.join(dir, name), text);
}

/** Runs `alignc check FILE --format json` in the temporary directory. */
function check(file: string): { status: number | null; diagnostics: JsonDiagnostic[]; text: string } {
  const json = spawnSync(process.execPath, [bin, "check", file, "--format", "json"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  const text = spawnSync(process.execPath, [bin, "check", file, "--no-color"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  assert.equal(json.status, text.status, "both output formats give the same exit code");
  return { status: json.status, diagnostics: parseJson(json.stdout), text: text.stdout + text.stderr };
}

interface JsonDiagnostic {
  code: string;
  message: string;
  span?: { file: string; line: number; column: number };
  labels?: { span: { file: string; line: number; column: number }; message: string }[];
}

function parseJson(stdout: string): JsonDiagnostic[] {
  const parsed = JSON.parse(stdout) as { diagnostics?: JsonDiagnostic[] } | JsonDiagnostic[];
  return Array.isArray(parsed) ? parsed : (parsed.diagnostics ?? []);
}

/** A pipeline that uses the rater, so nothing else is reported. The rater is on line 5. */
const pipeline = (module: string) => `align 1

model base = tinyvlm { size: nano }
dataset train = shapes { split: train, count: 10 }
rater judge = typescript("${module}") { export: "rate", aspects: [helpfulness], scale: 0..4 }
dataset samples = sample(base, train) { n: 2 }
dataset rated = rate(samples, judge)
dataset pairs = pair(rated) { score: helpfulness, margin: 1 }
phase aligned = dpo(base, pairs)
`;

describe("alignc check with a TypeScript rater", () => {
  test("an export that does not match Rater: exit 1, an error at the .align line naming the declaration", () => {
    write(
      "wrong.ts",
      [
        "// Returns a number instead of a RaterReply.",
        "export function rate(request: { responses: string[] }): number {",
        "  return request.responses.length;",
        "}",
        "",
      ].join("\n"),
    );
    write("wrong.align", pipeline("./wrong.ts"));
    const { status, diagnostics, text } = check("wrong.align");
    assert.equal(status, 1, text);
    assert.deepEqual(
      diagnostics.map((d) => d.code),
      ["ALN5003"],
      text,
    );
    const [d] = diagnostics as [JsonDiagnostic];
    assert.equal(d.message, "export 'rate' does not match alignc's Rater type");
    assert.deepEqual(d.span && { file: d.span.file, line: d.span.line, column: d.span.column }, { file: "wrong.align", line: 5, column: 26 });
    const label = d.labels?.[0];
    assert.equal(label?.message, "the TypeScript declaration of 'rate'");
    assert.deepEqual(label && { file: label.span.file, line: label.span.line, column: label.span.column }, { file: "wrong.ts", line: 2, column: 17 });
    // People read the same in the terminal: where, what, and TypeScript's reason.
    assert.match(text, /^wrong\.align:5:26: error\[ALN5003\]: export 'rate' does not match alignc's Rater type$/m);
    assert.match(text, /wrong\.ts:2:17/);
    assert.match(text, /Type 'number' is not assignable to type 'RaterReply \| Promise<RaterReply>'/);
  });

  test("a matching export: exit 0 and no diagnostics", () => {
    write(
      "good.ts",
      [
        "export function rate(request: { responses: string[]; aspects: string[] }) {",
        "  return { scores: request.responses.map(() => Object.fromEntries(request.aspects.map((a) => [a, 1]))) };",
        "}",
        "",
      ].join("\n"),
    );
    write("good.align", pipeline("./good.ts"));
    const { status, diagnostics, text } = check("good.align");
    assert.equal(status, 0, text);
    assert.deepEqual(diagnostics, []);
  });
});
