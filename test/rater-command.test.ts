// The command rater against real programs (test/fixtures/command-raters/*.mjs, run with this Node): the protocol's
// lines, the three modes, concurrency, timeouts, garbage, crashes, retries with backoff, and that no process outlives
// a rating.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { RatingInfo } from "../src/runtime/data/prefdata/records.ts";
import { type CommandRaterOptions, createCommandRater } from "../src/runtime/raters/command.ts";
import { requestSchemaErrors, type WireRequest } from "../src/runtime/raters/protocol.ts";
import type { ItemFailure, RaterReply, RaterRequest } from "../src/runtime/raters/types.ts";

const fixtures = fileURLToPath(new URL("./fixtures/command-raters/", import.meta.url));
const info: RatingInfo = { rater: "judge", kind: "command", aspects: ["helpfulness", "correctness"], scale: { min: 0, max: 4 } };

function item(itemId: string, prompt: string, responses: string[], extra: Partial<RaterRequest> = {}): RaterRequest {
  return { itemId, prompt, imagePath: null, responses, aspects: info.aspects, scale: info.scale, ...extra };
}

interface Event {
  pid: number;
  event: string;
  id?: string;
  count?: number;
  request?: WireRequest;
}

interface Outcome {
  replies: Map<string, RaterReply>;
  failures: ItemFailure[];
  /** Failures as passed to hooks.onFailure. */
  reported: ItemFailure[];
  events: Event[];
  /** Request ids in the order the programs received them. */
  received: string[];
  pids: Set<number>;
  ms: number;
}

let logDir = "";
afterEach(() => {
  if (logDir) rmSync(logDir, { recursive: true, force: true });
  logDir = "";
});

function readEvents(): Event[] {
  const file = path.join(logDir, "events.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Event);
}

/** Rates `requests` with the fixture program `script`, with small timeouts and backoff unless `options` says otherwise. */
async function rate(script: string, requests: RaterRequest[], options: Partial<CommandRaterOptions> = {}, env: Record<string, string> = {}): Promise<Outcome> {
  logDir = mkdtempSync(path.join(tmpdir(), "alignc-rater-"));
  const rater = createCommandRater({
    info,
    argv: [process.execPath, script],
    cwd: fixtures,
    timeoutSeconds: 2,
    retries: 0,
    concurrency: 2,
    backoffBaseMs: 10,
    killGraceMs: 200,
    ...options,
    env: { RATER_LOG_DIR: logDir, ...env, ...options.env },
  });
  assert.equal(rater.info, info);
  const replies = new Map<string, RaterReply>();
  const reported: ItemFailure[] = [];
  const start = Date.now();
  const failures = await rater.rate(requests, {
    onReply: (id, reply) => {
      assert.ok(!replies.has(id), `onReply called twice for ${id}`);
      replies.set(id, reply);
    },
    onFailure: (f) => reported.push(f),
  });
  const ms = Date.now() - start;
  const events = readEvents();
  const received = events.filter((e) => e.event === "request").map((e) => e.id as string);
  return { replies, failures, reported, events, received, pids: new Set(events.map((e) => e.pid)), ms };
}

function assertAllExited(pids: Iterable<number>): void {
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `process ${pid} is still running`);
}

function failureOf(outcome: Outcome, itemId: string): ItemFailure {
  const failure = outcome.failures.find((f) => f.itemId === itemId);
  assert.ok(failure, `no failure for ${itemId}; failures: ${JSON.stringify(outcome.failures)}`);
  assert.ok(failure.message.includes(`item "${itemId}"`), `the message names the item: ${failure.message}`);
  return failure;
}

const count = (list: string[], id: string): number => list.filter((x) => x === id).length;
const both = (score: number) => ({ helpfulness: score, correctness: score });

describe("command rater: modes and protocol", () => {
  test("listwise: one request per item, through long-lived processes, with env and cwd", async () => {
    const requests = [
      item("a", "describe the image", ["3 red circles", "1 blue", "no idea"], { imagePath: "/data/images/a.png", groundTruth: { objects: 3 } }),
      item("b", "count", ["2", "4"]),
      item("c", "count", ["9 squares"]),
      item("d", "count", ["0"]),
    ];
    const out = await rate("good.mjs", requests, { concurrency: 2, env: { JUDGE_NAME: "tester" } });
    assert.deepEqual(out.failures, []);
    assert.deepEqual(out.reported, []);
    assert.deepEqual(out.replies.get("a"), { scores: [both(3), both(1), both(0)], rationale: "tester in command-raters" });
    assert.deepEqual(out.replies.get("b")?.scores, [both(2), both(4)]);
    assert.deepEqual(out.replies.get("c")?.scores, [both(4)], "9 is clamped to the scale by the program");
    assert.equal(out.replies.size, 4);

    const wire = out.events.filter((e) => e.event === "request").map((e) => e.request as WireRequest);
    for (const w of wire) assert.equal(requestSchemaErrors(w), undefined, JSON.stringify(w));
    const a = wire.find((w) => w.item_id === "a");
    assert.deepEqual(a, {
      protocol: "alignc-rater/1",
      id: "a",
      item_id: "a",
      prompt: "describe the image",
      image: "/data/images/a.png",
      responses: ["3 red circles", "1 blue", "no idea"],
      indices: [0, 1, 2],
      aspects: ["helpfulness", "correctness"],
      scale: { min: 0, max: 4 },
      mode: "listwise",
      ground_truth: { objects: 3 },
    });
    assert.equal(wire.find((w) => w.item_id === "b")?.ground_truth, undefined);
    assert.ok(out.pids.size <= 2, `at most concurrency processes, got ${out.pids.size}`);
    assert.ok(out.pids.size < wire.length, "a process answers more than one request");
    assertAllExited(out.pids);
  });

  test("pointwise: one request per response", async () => {
    const out = await rate("good.mjs", [item("p", "q", ["1 a", "2 b", "4 c"])], { mode: "pointwise" });
    assert.deepEqual(out.failures, []);
    assert.deepEqual(out.replies.get("p")?.scores, [both(1), both(2), both(4)]);
    assert.deepEqual(out.received.sort(), ["p/0", "p/1", "p/2"]);
    const wire = out.events.filter((e) => e.event === "request").map((e) => e.request as WireRequest);
    assert.ok(wire.every((w) => w.mode === "pointwise" && w.responses.length === 1 && w.indices.length === 1));
    assert.deepEqual(out.replies.get("p")?.rationale?.split("\n").length, 3, "one rationale line per request");
  });

  test("pairwise: one request per pair, a response's score is its mean over its comparisons", async () => {
    const out = await rate("good.mjs", [item("x", "q", ["aaa", "a", "aa"]), item("one", "q", ["3 alone"]), item("none", "q", [])], { mode: "pairwise" });
    assert.deepEqual(out.failures, []);
    // (0,1): 0 wins; (0,2): 0 wins; (1,2): 2 wins. Winner 4, loser 0, averaged.
    assert.deepEqual(out.replies.get("x")?.scores, [both(4), both(0), both(2)]);
    assert.deepEqual(out.received.filter((id) => id.startsWith("x/")).sort(), ["x/0-1", "x/0-2", "x/1-2"]);
    const pair = out.events.find((e) => e.id === "x/0-2")?.request as WireRequest;
    assert.deepEqual([pair.mode, pair.responses, pair.indices], ["pairwise", ["aaa", "aa"], [0, 2]]);
    // A lone response has nothing to be compared with: it is asked pointwise.
    assert.deepEqual(out.replies.get("one")?.scores, [both(3)]);
    assert.equal(out.events.find((e) => e.id === "one/0")?.request?.mode, "pointwise");
    // No responses, nothing to ask.
    assert.deepEqual(out.replies.get("none"), { scores: [] });
    assert.ok(!out.received.some((id) => id.startsWith("none")));
  });

  test("concurrency: never more requests in flight than the setting", async () => {
    const requests = Array.from({ length: 12 }, (_, i) => item(`i${i}`, "q", [`${i % 5}`]));
    const out = await rate("good.mjs", requests, { concurrency: 3 }, { GOOD_DELAY_MS: "60" });
    assert.deepEqual(out.failures, []);
    assert.equal(out.replies.size, 12);
    const counts = out.events.filter((e) => e.event === "inflight").map((e) => e.count as number);
    assert.equal(counts.length, 12);
    const max = Math.max(...counts);
    assert.ok(max <= 3, `at most 3 in flight, saw ${max}`);
    assert.ok(max >= 2, `requests run in parallel, saw at most ${max} at once`);
    assert.ok(out.pids.size <= 3);
    assertAllExited(out.pids);
  });
});

describe("command rater: failures", () => {
  test("timeout: the request fails after its retries, the process is killed, other items are rated", async () => {
    const requests = [item("a", "fast", ["1"]), item("b", "slow please", ["2"]), item("c", "fast", ["3"])];
    const out = await rate("slow.mjs", requests, { timeoutSeconds: 0.5, retries: 1, concurrency: 1 });
    assert.deepEqual([...out.replies.keys()].sort(), ["a", "c"]);
    assert.equal(out.failures.length, 1);
    const b = failureOf(out, "b");
    assert.match(b.message, /timed out after 0\.5s/);
    assert.match(b.message, /after 2 attempts/);
    assert.match(b.stderr ?? "", /thinking hard about b/);
    assert.deepEqual(out.reported, out.failures);
    assert.equal(out.events.filter((e) => e.event === "sleeping").length, 2, "asked twice: once plus one retry");
    assert.ok(out.ms < 5000, `took ${out.ms} ms`);
    assertAllExited(out.pids);
  });

  test("garbage output: the request fails with the offending line quoted; valid replies are kept", async () => {
    const bad = ["not-json", "bad-schema", "wrong-id", "off-scale"];
    const requests = [...bad.map((p) => item(p, p, ["1", "2"])), item("fine", "ok", ["2", "3"]), item("refuse", "refuse", ["1"])];
    const out = await rate("garbage.mjs", requests, { retries: 1 });
    assert.deepEqual([...out.replies.keys()], ["fine"]);
    assert.deepEqual(out.replies.get("fine")?.scores, [both(2), both(3)]);
    assert.match(failureOf(out, "not-json").message, /not JSON: "Loading judge model\.\.\. done".*write logs to stderr/);
    assert.match(failureOf(out, "bad-schema").message, /does not follow alignc-rater\/1 \(reply\/scores must be array\)/);
    assert.match(failureOf(out, "wrong-id").message, /replied to request "wrong-id-other" while request "wrong-id" was waiting/);
    assert.match(failureOf(out, "off-scale").message, /invalid scores: scores\[0\]\.helpfulness = 9 is outside the scale 0\.\.4/);
    for (const id of bad) {
      assert.match(failureOf(out, id).message, /after 2 attempts/);
      assert.equal(count(out.received, id), 2, `${id} is retried once`);
    }
    // A refusal is the program's considered answer: not retried unless it says "retry": true.
    assert.match(failureOf(out, "refuse").message, /refused it: this judge does not rate images$/);
    assert.equal(count(out.received, "refuse"), 1);
    assert.equal(out.failures.length, 5);
    assertAllExited(out.pids);
  });

  test("non-zero exit: the message has the exit code and stderr's last line; stderr keeps the tail", async () => {
    const out = await rate("crash.mjs", [item("a", "q", ["1"]), item("b", "q", ["2"])], { retries: 1 });
    assert.equal(out.replies.size, 0);
    assert.equal(out.failures.length, 2);
    for (const id of ["a", "b"]) {
      const f = failureOf(out, id);
      assert.match(f.message, /the rater program exited with code 3 before answering/);
      assert.match(f.message, /stderr ends: "crash\.mjs: JUDGE_API_KEY is not set; export it before running alignc"/);
      assert.match(f.message, /after 2 attempts/);
      assert.match(f.stderr ?? "", /starting up\n.*JUDGE_API_KEY is not set/);
      assert.equal(count(out.received, id), 2);
    }
    assert.equal(out.reported.length, 2);
    assertAllExited(out.pids);
  });

  test("a program that keeps crashing is given up on: rate rejects, the failures so far are reported", async () => {
    logDir = mkdtempSync(path.join(tmpdir(), "alignc-rater-"));
    const rater = createCommandRater({
      info,
      argv: [process.execPath, "crash.mjs"],
      cwd: fixtures,
      concurrency: 1,
      retries: 0,
      maxConsecutiveCrashes: 3,
      env: { RATER_LOG_DIR: logDir },
    });
    const reported: ItemFailure[] = [];
    const requests = Array.from({ length: 8 }, (_, i) => item(`i${i}`, "q", ["1"]));
    await assert.rejects(
      rater.rate(requests, { onReply: () => assert.fail("no replies expected"), onFailure: (f) => reported.push(f) }),
      /exited 3 times in a row without answering \(last: exited with code 3: crash\.mjs: JUDGE_API_KEY is not set/,
    );
    assert.deepEqual(
      reported.map((f) => f.itemId),
      ["i0", "i1", "i2"],
    );
    assert.equal(readEvents().filter((e) => e.event === "request").length, 3, "nothing is sent once it is given up on");
  });

  test("a program that cannot start stops the rating with what to check", async () => {
    const rater = createCommandRater({ info, argv: ["/nonexistent/alignc-judge", "--fast"], cwd: fixtures });
    await assert.rejects(rater.rate([item("a", "q", ["1"])], { onReply: () => {} }), (e: Error & { code?: string }) => {
      assert.match(e.message, /could not start the rater program "\/nonexistent\/alignc-judge".*ENOENT.*PATH/);
      assert.equal(e.code, "ALN7023");
      return true;
    });
  });

  test("dies half-way without retries: the failures are reported, the earlier successes kept", async () => {
    const requests = Array.from({ length: 6 }, (_, i) => item(`i${i}`, "q", [`${i}`]));
    const out = await rate("dies.mjs", requests, { concurrency: 1, retries: 0 }, { DIE_AFTER: "2" });
    assert.deepEqual([...out.replies.keys()].sort(), ["i0", "i1", "i3", "i4"]);
    assert.deepEqual(out.replies.get("i4")?.scores, [both(4)]);
    assert.deepEqual(
      out.failures.map((f) => f.itemId),
      ["i2", "i5"],
    );
    for (const f of out.failures) {
      assert.match(f.message, /exited with code 1 before answering; its stderr ends: "dies\.mjs: out of memory after 2 replies"/);
      assert.doesNotMatch(f.message, /attempts/);
    }
    assert.equal(out.pids.size, 2, "a fresh process after the first one died");
    assertAllExited(out.pids);
  });

  test("dies half-way with retries: a fresh process rates the rest, the in-flight request is retried", async () => {
    const requests = Array.from({ length: 6 }, (_, i) => item(`i${i}`, "q", [`${i % 5}`]));
    const out = await rate("dies.mjs", requests, { concurrency: 1, retries: 1 }, { DIE_AFTER: "2" });
    assert.deepEqual(out.failures, []);
    assert.equal(out.replies.size, 6);
    // Process 1 answers i0 and i1 and dies on i2; i2 is asked again, after i3..i5 that were waiting (in process 2 or 3).
    assert.deepEqual(out.received.slice(0, 3), ["i0", "i1", "i2"]);
    assert.equal(out.received.length, 8, "6 items and 2 requests asked again");
    assert.equal(count(out.received, "i2"), 2);
    assert.equal(out.pids.size, 3);
    assertAllExited(out.pids);
  });
});

describe("command rater: retries", () => {
  for (const how of ["error", "exit", "garbage"]) {
    test(`a flaky program (${how}) succeeds on retry`, async () => {
      const flakyDir = path.join(tmpdir(), `alignc-flaky-${process.pid}-${how}-${Date.now()}`);
      try {
        const requests = [item("a", "q", ["1"]), item("b", "q", ["2", "3"])];
        const out = await rate("flaky.mjs", requests, { retries: 2, backoffBaseMs: 100 }, { FLAKY_DIR: flakyDir, FLAKY_HOW: how });
        assert.deepEqual(out.failures, []);
        assert.deepEqual(out.replies.get("b")?.scores, [both(2), both(3)]);
        assert.equal(count(out.received, "a"), 2);
        assert.equal(count(out.received, "b"), 2);
        assert.ok(out.ms >= 100, `waits the backoff before retrying (took ${out.ms} ms)`);
        assertAllExited(out.pids);
      } finally {
        rmSync(flakyDir, { recursive: true, force: true });
      }
    });
  }

  test("backoff doubles: base · 2^k before retry k", async () => {
    const flakyDir = path.join(tmpdir(), `alignc-flaky-${process.pid}-backoff-${Date.now()}`);
    try {
      // Two failed attempts, so waits of 100 ms and 200 ms before the second and third.
      const out = await rate("flaky.mjs", [item("a", "q", ["1"])], { retries: 2, backoffBaseMs: 100 }, { FLAKY_DIR: flakyDir, FLAKY_FAILS: "2" });
      assert.deepEqual(out.failures, []);
      assert.equal(count(out.received, "a"), 3);
      assert.ok(out.ms >= 300, `took ${out.ms} ms`);
    } finally {
      rmSync(flakyDir, { recursive: true, force: true });
    }
  });

  test("a refusal without retry is final", async () => {
    const flakyDir = path.join(tmpdir(), `alignc-flaky-${process.pid}-refuse-${Date.now()}`);
    try {
      const out = await rate("flaky.mjs", [item("a", "q", ["1"])], { retries: 3 }, { FLAKY_DIR: flakyDir, FLAKY_HOW: "refuse" });
      assert.equal(out.replies.size, 0);
      assert.match(failureOf(out, "a").message, /^item "a": the rater refused it: content policy$/);
      assert.equal(count(out.received, "a"), 1);
    } finally {
      rmSync(flakyDir, { recursive: true, force: true });
    }
  });

  test("one failed request fails its item once, and its sibling requests are not sent", async () => {
    const out = await rate("garbage.mjs", [item("x", "not-json", ["1", "2", "3", "4"]), item("ok", "fine", ["1"])], {
      mode: "pointwise",
      concurrency: 1,
    });
    assert.equal(out.failures.length, 1);
    assert.match(failureOf(out, "x").message, /^item "x" \(request "x\/0"\): the rater printed a line that is not JSON/);
    assert.deepEqual(out.received, ["x/0", "ok/0"]);
    assert.deepEqual(out.replies.get("ok")?.scores, [both(1)]);
  });

  test("a hook that throws stops the rating, and every process is cleaned up", async () => {
    logDir = mkdtempSync(path.join(tmpdir(), "alignc-rater-"));
    const rater = createCommandRater({
      info,
      argv: [process.execPath, "good.mjs"],
      cwd: fixtures,
      concurrency: 2,
      killGraceMs: 200,
      env: { RATER_LOG_DIR: logDir },
    });
    const requests = Array.from({ length: 20 }, (_, i) => item(`i${i}`, "q", ["1"]));
    await assert.rejects(
      rater.rate(requests, {
        onReply: () => {
          throw new Error("disk full");
        },
      }),
      /disk full/,
    );
    const events = readEvents();
    assert.ok(events.filter((e) => e.event === "request").length < 20, "stops sending");
    assertAllExited(new Set(events.map((e) => e.pid)));
  });
});

describe("command rater: the examples in experiments/raters", () => {
  const examples = fileURLToPath(new URL("../experiments/raters/", import.meta.url));
  const five = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"];

  test("keyword-judge.mjs speaks the protocol, in every mode", async () => {
    const rater = createCommandRater({ info: { ...info, aspects: five }, argv: [process.execPath, "keyword-judge.mjs"], cwd: examples, concurrency: 2 });
    for (const mode of ["listwise", "pairwise", "pointwise"] as const) {
      const replies = new Map<string, RaterReply>();
      const requests = [
        item("a", "How many red circles are there?", ["There are 3 red circles.", "blue blue blue blue"], { aspects: five, groundTruth: "3 red circles" }),
        item("b", "Describe the image.", ["A green square above a small yellow triangle."], { aspects: five }),
      ];
      const failures = await rater.rate(requests, { onReply: (id, r) => replies.set(id, r) });
      assert.deepEqual(failures, [], mode);
      const a = replies.get("a")?.scores ?? [];
      assert.ok((a[0]?.helpfulness ?? 0) > (a[1]?.helpfulness ?? 0), `${mode}: mentioning the prompt helps`);
      assert.ok((a[0]?.correctness ?? 0) > (a[1]?.correctness ?? 0), `${mode}: matching the ground truth helps`);
    }
    const refused = await rater.rate([item("c", "q", ["x"], { aspects: ["style"] })], { onReply: () => assert.fail("refused") });
    assert.match(refused[0]?.message ?? "", /refused it: keyword-judge does not know the aspect\(s\) style/);
  });

  const python = spawnSync("python3", ["--version"]).status === 0;
  test("hosted-judge.py is valid Python and says what is missing without a model", { skip: python ? false : "python3 is not installed" }, async () => {
    const parse = spawnSync("python3", ["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", "hosted-judge.py"], {
      cwd: examples,
      encoding: "utf8",
    });
    assert.equal(parse.status, 0, parse.stderr);
    const rater = createCommandRater({ info, argv: ["python3", "hosted-judge.py"], cwd: examples, retries: 0, env: { JUDGE_MODEL: "" } });
    const failures = await rater.rate([item("a", "q", ["x"])], { onReply: () => assert.fail("no model, no reply") });
    assert.match(
      failures[0]?.message ?? "",
      /exited with code 2 before answering; its stderr ends: "hosted-judge: JUDGE_MODEL is not set; add it to the rater's env setting"/,
    );
  });
});
