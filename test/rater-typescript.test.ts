// The typescript rater: the user's module imported in process (through tsx, as in the CLI), called per request in
// each mode, with replies checked against the scale and thrown errors reported per item.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { RatingInfo } from "../src/runtime/data/prefdata/records.ts";
import type { RaterMode } from "../src/runtime/raters/protocol.ts";
import { RaterUnavailable } from "../src/runtime/raters/protocol.ts";
import type { ItemFailure, RaterReply, RaterRequest } from "../src/runtime/raters/types.ts";
import { createTypeScriptRater, type TypeScriptRaterOptions } from "../src/runtime/raters/typescript.ts";
import * as fixture from "./fixtures/command-raters/ts-raters.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const raters = path.join(here, "fixtures/raters");
const tsRaters = path.join(here, "fixtures/command-raters/ts-raters.ts");
const info: RatingInfo = { rater: "custom", kind: "typescript", aspects: ["helpfulness", "verbosity"], scale: { min: 0, max: 4 } };

function item(itemId: string, prompt: string, responses: string[], extra: Partial<RaterRequest> = {}): RaterRequest {
  return { itemId, prompt, imagePath: null, responses, aspects: info.aspects, scale: info.scale, ...extra };
}

const both = (score: number) => ({ helpfulness: score, verbosity: score });

async function rate(
  exportName: string,
  requests: RaterRequest[],
  options: Partial<TypeScriptRaterOptions> = {},
): Promise<{ replies: Map<string, RaterReply>; failures: ItemFailure[]; reported: ItemFailure[] }> {
  const rater = createTypeScriptRater({ info, module: tsRaters, exportName, ...options });
  assert.equal(rater.info, info);
  const replies = new Map<string, RaterReply>();
  const reported: ItemFailure[] = [];
  const failures = await rater.rate(requests, { onReply: (id, reply) => replies.set(id, reply), onFailure: (f) => reported.push(f) });
  assert.deepEqual(reported, failures);
  return { replies, failures, reported };
}

describe("typescript rater", () => {
  test("a module in a folder without package.json loads as an ES module", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "alignc-ts-rater-"));
    try {
      const file = path.join(dir, "plain.ts");
      writeFileSync(
        file,
        "export const rate = (r: { responses: string[] }) => ({ scores: r.responses.map((t) => ({ helpfulness: t.length % 5, verbosity: 0 })) });\n",
      );
      const rater = createTypeScriptRater({ info, module: file });
      const replies = new Map<string, RaterReply>();
      assert.deepEqual(await rater.rate([item("p", "q", ["abc", "abcdefg"])], { onReply: (id, r) => replies.set(id, r) }), []);
      assert.deepEqual(replies.get("p")?.scores, [
        { helpfulness: 3, verbosity: 0 },
        { helpfulness: 2, verbosity: 0 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a sync rater from the compile-time fixtures, module relative to the .align directory", async () => {
    const rater = createTypeScriptRater({ info, module: "sync-rater.ts", cwd: raters, exportName: "rate" });
    const replies = new Map<string, RaterReply>();
    const failures = await rater.rate([item("a", "q", ["abc", "abcdefgh"])], { onReply: (id, r) => replies.set(id, r) });
    assert.deepEqual(failures, []);
    // length % 10, clamped to 0..4
    assert.deepEqual(replies.get("a"), { scores: [both(3), both(4)], rationale: "length-based toy rater" });
  });

  test("an async rater; a reply missing an aspect is a failure of that item", async () => {
    const rater = createTypeScriptRater({ info: { ...info, aspects: ["overall"] }, module: path.join(raters, "async-rater.ts") });
    const replies = new Map<string, RaterReply>();
    const ok = await rater.rate([item("a", "q", ["x", "y"], { aspects: ["overall"] })], { onReply: (id, r) => replies.set(id, r) });
    assert.deepEqual(ok, []);
    assert.deepEqual(replies.get("a")?.scores, [{ overall: 4 }, { overall: 4 }]);
    const failures = await rater.rate([item("b", "q", ["x"])], { onReply: () => assert.fail("not valid") });
    assert.equal(failures.length, 1);
    assert.match(failures[0]?.message ?? "", /^item "b": replied with invalid scores: scores\[0\] has no score for aspect 'helpfulness'$/);
  });

  for (const mode of ["listwise", "pointwise", "pairwise"] as RaterMode[]) {
    test(`${mode}: requests and combined scores`, async () => {
      const before = fixture.calls.length;
      const responses = mode === "pairwise" ? ["aaa", "a", "aa"] : ["1 x", "3 y", "no digit"];
      const { replies, failures } = await rate("rate", [item(mode === "pairwise" ? "pair" : "it", "q", responses)], { mode });
      assert.deepEqual(failures, []);
      const calls = fixture.calls.slice(before);
      const reply = [...replies.values()][0];
      if (mode === "listwise") {
        assert.equal(calls.length, 1);
        assert.deepEqual(reply, { scores: [both(1), both(3), both(0)], rationale: "rated it" });
      } else if (mode === "pointwise") {
        assert.deepEqual(
          calls.map((c) => c.responses),
          [["1 x"], ["3 y"], ["no digit"]],
        );
        assert.deepEqual(reply?.scores, [both(1), both(3), both(0)]);
        assert.equal(reply?.rationale, "[response 1] rated it\n[response 2] rated it\n[response 3] rated it");
      } else {
        assert.deepEqual(
          calls.map((c) => c.responses),
          [
            ["aaa", "a"],
            ["aaa", "aa"],
            ["a", "aa"],
          ],
        );
        assert.deepEqual(reply?.scores, [both(4), both(0), both(2)]);
      }
      // The rater gets the public request shape.
      assert.deepEqual(Object.keys(calls[0] ?? {}).sort(), ["aspects", "imagePath", "itemId", "prompt", "responses", "scale"]);
    });
  }

  test("ground truth and image path reach the rater", async () => {
    const before = fixture.calls.length;
    await rate("rate", [item("g", "q", ["1"], { imagePath: "/abs/img.png", groundTruth: { count: 2 } })]);
    const call = fixture.calls[before];
    assert.equal(call?.imagePath, "/abs/img.png");
    assert.deepEqual(call?.groundTruth, { count: 2 });
  });

  test("a thrown error fails its item only", async () => {
    const { replies, failures } = await rate("throwing", [item("a", "fine", ["x"]), item("b", "boom", ["x"]), item("c", "fine", ["y"])]);
    assert.deepEqual([...replies.keys()].sort(), ["a", "c"]);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.itemId, "b");
    assert.match(failures[0]?.message ?? "", /^item "b": throwing in .*ts-raters\.ts threw: no rubric for this prompt$/);
  });

  test("replies are checked: off the scale, or not an object", async () => {
    const { replies, failures } = await rate("invalid", [item("ok", "fine", ["x"]), item("hi", "high", ["x"]), item("none", "nothing", ["x"])]);
    assert.deepEqual([...replies.keys()], ["ok"]);
    const byId = new Map(failures.map((f) => [f.itemId, f.message]));
    assert.match(byId.get("hi") ?? "", /scores\[0\]\.helpfulness = 5 is outside the scale 0\.\.4/);
    assert.match(byId.get("none") ?? "", /expected an object \{ scores, rationale\? \}, got undefined/);
  });

  test("concurrency limits overlapping async calls", async () => {
    const requests = Array.from({ length: 12 }, (_, i) => item(`i${i}`, "q", [`${i % 5}`]));
    const { replies, failures } = await rate("slow", requests, { concurrency: 3 });
    assert.deepEqual(failures, []);
    assert.equal(replies.size, 12);
    assert.equal(fixture.maxInFlight(), 3);
  });

  test("retries, when asked for", async () => {
    const without = await rate("flaky", [item("f1", "q", ["x"])]);
    assert.match(without.failures[0]?.message ?? "", /threw: transient$/);
    const withRetry = await rate("flaky", [item("f2", "q", ["x"])], { retries: 1, backoffBaseMs: 1 });
    assert.deepEqual(withRetry.failures, []);
    assert.deepEqual(withRetry.replies.get("f2")?.scores, [both(4)]);
  });

  test("a missing export or a module that does not load stops the rating with what to do", async () => {
    await assert.rejects(
      createTypeScriptRater({ info, module: tsRaters, exportName: "notAFunction" }).rate([item("a", "q", ["x"])], { onReply: () => {} }),
      (error: Error) => {
        assert.ok(error instanceof RaterUnavailable);
        assert.match(error.message, /has no function export named "notAFunction" \(its functions are: .*throwing.*\); set the rater's export setting/);
        return true;
      },
    );
    await assert.rejects(
      createTypeScriptRater({ info, module: path.join(raters, "syntax-error-rater.ts") }).rate([item("a", "q", ["x"])], { onReply: () => {} }),
      /could not load the TypeScript rater .*syntax-error-rater\.ts: .*alignc check/,
    );
    await assert.rejects(
      createTypeScriptRater({ info, module: path.join(raters, "no-such-rater.ts") }).rate([item("a", "q", ["x"])], { onReply: () => {} }),
      /could not load the TypeScript rater .*no-such-rater\.ts/,
    );
  });
});
