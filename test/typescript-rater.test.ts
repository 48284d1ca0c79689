import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { TypescriptRaterCheck, TypescriptRaterProblem } from "../src/compiler/hooks/typescript-rater.ts";

const fixtures = fileURLToPath(new URL("./fixtures/raters/", import.meta.url));
const fixture = (name: string): string => path.join(fixtures, name);

type Check = (modulePath: string, exportName: string) => TypescriptRaterCheck;
type Failure = Extract<TypescriptRaterCheck, { ok: false }>;

// Callers load the checker lazily (ts-morph is slow to load); the tests do the same.
let check: Check;
before(async () => {
  ({ checkTypescriptRater: check } = await import("../src/compiler/hooks/typescript-rater.ts"));
});

function expectOk(result: TypescriptRaterCheck): Extract<TypescriptRaterCheck, { ok: true }> {
  assert.equal(result.ok, true, `expected ok, got ${JSON.stringify(result, null, 2)}`);
  return result as Extract<TypescriptRaterCheck, { ok: true }>;
}

function expectProblem(result: TypescriptRaterCheck, problem: TypescriptRaterProblem): Failure {
  assert.equal(result.ok, false, `expected ${problem}, got ok`);
  const failure = result as Failure;
  assert.equal(failure.problem, problem, JSON.stringify(failure, null, 2));
  assert.ok(!failure.message.includes("\n"), "message is one line");
  return failure;
}

describe("checkTypescriptRater: accepted raters", () => {
  test("sync function export", () => {
    const result = expectOk(check(fixture("sync-rater.ts"), "rate"));
    assert.deepEqual(result.declaration, { file: fixture("sync-rater.ts"), line: 3, column: 17 });
  });

  test("async function export", () => {
    const result = expectOk(check(fixture("async-rater.ts"), "rate"));
    assert.deepEqual(result.declaration, { file: fixture("async-rater.ts"), line: 3, column: 23 });
  });

  test("default export", () => {
    const result = expectOk(check(fixture("async-rater.ts"), "default"));
    assert.equal(result.declaration.file, fixture("async-rater.ts"));
  });

  test("const arrow export annotated with Rater", () => {
    const result = expectOk(check(fixture("const-arrow-rater.ts"), "rate"));
    assert.deepEqual(result.declaration, { file: fixture("const-arrow-rater.ts"), line: 3, column: 14 });
  });

  test("structurally compatible arrow without the Rater annotation", () => {
    expectOk(check(fixture("const-arrow-rater.ts"), "lenient"));
  });

  test("re-export under another name points at the original declaration", () => {
    const result = expectOk(check(fixture("reexport-rater.ts"), "judge"));
    assert.deepEqual(result.declaration, { file: fixture("sync-rater.ts"), line: 3, column: 17 });
  });

  test("relative module paths resolve against the working directory", () => {
    expectOk(check(path.relative(process.cwd(), fixture("sync-rater.ts")), "rate"));
  });
});

describe("checkTypescriptRater: rejected raters", () => {
  test("missing file", () => {
    const failure = expectProblem(check(fixture("does-not-exist.ts"), "rate"), "missing-file");
    assert.match(failure.message, /does-not-exist\.ts/);
    assert.deepEqual(failure.details, [fixture("does-not-exist.ts")]);
  });

  test("a directory is not a module", () => {
    expectProblem(check(fixtures, "rate"), "missing-file");
  });

  test("missing export lists the value exports that exist", () => {
    const failure = expectProblem(check(fixture("sync-rater.ts"), "rat"), "missing-export");
    assert.match(failure.message, /no export named 'rat'/);
    assert.deepEqual(failure.details, ["rate", "version"]);
    assert.equal(failure.declaration, undefined);
  });

  test("an export that is only a type is a missing export; types are not listed", () => {
    const failure = expectProblem(check(fixture("missing-export-rater.ts"), "rate"), "missing-export");
    assert.match(failure.message, /only as a type/);
    assert.deepEqual(failure.details, ["helper", "score"]);
    assert.equal(failure.declaration?.line, 13);
  });

  test("missing default export", () => {
    const failure = expectProblem(check(fixture("sync-rater.ts"), "default"), "missing-export");
    assert.match(failure.message, /no default export/);
    assert.deepEqual(failure.details, ["rate", "version"]);
  });

  test("wrong return type", () => {
    const failure = expectProblem(check(fixture("wrong-return-rater.ts"), "rate"), "type-mismatch");
    assert.deepEqual(failure.declaration, { file: fixture("wrong-return-rater.ts"), line: 3, column: 17 });
    assert.match(failure.message, /export 'rate'/);
    assert.match(failure.message, /Type 'number' is not assignable to type 'RaterReply \| Promise<RaterReply>'/);
    assert.match(failure.details[0] ?? "", /is not assignable to type 'Rater'/);
  });

  test("wrong shape of a reply property names the property", () => {
    const failure = expectProblem(check(fixture("wrong-return-rater.ts"), "flatScores"), "type-mismatch");
    assert.equal(failure.declaration?.line, 8);
    assert.ok(
      failure.details.some((line) => line.includes("Types of property 'scores' are incompatible")),
      failure.details.join("\n"),
    );
    assert.ok(failure.details.some((line) => line.includes("Record<string, number>")));
  });

  test("wrong parameter type", () => {
    const failure = expectProblem(check(fixture("wrong-param-rater.ts"), "rate"), "type-mismatch");
    assert.ok(
      failure.details.some((line) => line.includes("Types of parameters 'x' and 'request' are incompatible")),
      failure.details.join("\n"),
    );
    assert.ok(failure.details.some((line) => line.includes("Type 'RaterRequest' is not assignable to type 'string'")));
  });

  test("syntax error", () => {
    const failure = expectProblem(check(fixture("syntax-error-rater.ts"), "rate"), "syntax");
    assert.deepEqual(failure.declaration, { file: fixture("syntax-error-rater.ts"), line: 4, column: 62 });
    assert.deepEqual(failure.details, ["4:62 ',' expected."]);
  });
});

describe("checkTypescriptRater: cached project", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "alignc-rater-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("sees edits to the module and to its imports between calls", () => {
    const rater = path.join(dir, "rater.ts");
    const types = path.join(dir, "types.ts");
    writeFileSync(types, "export type Score = Record<string, number>;\n");
    writeFileSync(
      rater,
      [
        'import type { Score } from "./types.ts";',
        "export function rate(request: { responses: string[] }): { scores: Score[] } {",
        "  return { scores: request.responses.map(() => ({ overall: 1 })) };",
        "}",
        "",
      ].join("\n"),
    );
    expectOk(check(rater, "rate"));

    // Changing only the imported module must be noticed.
    writeFileSync(types, "export type Score = string;\n");
    const mismatch = expectProblem(check(rater, "rate"), "type-mismatch");
    assert.ok(
      mismatch.details.some((line) => line.includes("'string'")),
      mismatch.details.join("\n"),
    );

    writeFileSync(types, "export type Score = Record<string, number>;\n");
    expectOk(check(rater, "rate"));

    writeFileSync(rater, "export function rate(request {}\n");
    expectProblem(check(rater, "rate"), "syntax");

    writeFileSync(rater, "export const score = () => ({ scores: [] });\n");
    assert.deepEqual(expectProblem(check(rater, "rate"), "missing-export").details, ["score"]);

    rmSync(rater);
    expectProblem(check(rater, "rate"), "missing-file");
  });
});
