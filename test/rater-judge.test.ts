// The `judge` rater (src/runtime/raters/judge.ts, docs/raters.md "Model judges"), a likelihood judge: the rank rule
// (max/min/linear between, ties share their mean rank, a lone response the middle), pairwise scores averaged per
// response; on a random nano model a response the model finds likely (its own greedy answer) outranks random text;
// responses too long for the context are cut, not failed; temperature ≠ 0 is refused; and through alignc run,
// `rate(samples, j)` with `rater j = judge(base) { … }` completes (with the rater.judge executor added).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { resizeRgb } from "../src/formats/image/resample.ts";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { readDataset } from "../src/runtime/data/prefdata/records.ts";
import { answerAll } from "../src/runtime/models/tinyvlm/answer.ts";
import type { VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { raterJudge } from "../src/runtime/pipeline/executors/rater-judge.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import type { NodeExecutor } from "../src/runtime/pipeline/node-executor.ts";
import { runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { createJudgeRater, rankScores } from "../src/runtime/raters/judge.ts";
import { RaterUnavailable } from "../src/runtime/raters/protocol.ts";
import type { RaterReply, RaterRequest } from "../src/runtime/raters/types.ts";
import { encodePng } from "../src/runtime/world/png.ts";
import { Rng } from "../src/util/random.ts";
import { TEST_DEVICE, testRuntime } from "./support/device.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-judge-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SCALE = { min: 0, max: 4 };

describe("the rank rule", () => {
  test("the likeliest response gets max, the least likely min, linear in rank between", () => {
    assert.deepEqual(rankScores([-3, -1, -2], SCALE), [0, 4, 2]);
    assert.deepEqual(rankScores([-1, -2, -3, -4, -5], SCALE), [4, 3, 2, 1, 0]);
    assert.deepEqual(rankScores([-2, -1], { min: 1, max: 5 }), [1, 5]);
  });

  test("ties share their mean rank; a lone response gets the middle; none gets nothing", () => {
    assert.deepEqual(rankScores([-1, -1], SCALE), [2, 2]);
    assert.deepEqual(rankScores([-1, -2, -1], SCALE), [3, 0, 3]);
    assert.deepEqual(rankScores([-0.5], SCALE), [2]);
    assert.deepEqual(rankScores([-0.5], { min: 0, max: 3 }), [1.5]);
    assert.deepEqual(rankScores([], SCALE), []);
  });
});

// ── on a random nano model ─────────────────────────────────────────────────

const tok = Tokenizer.train(
  [
    "Describe the image in detail.",
    "There are two objects. A small red cube is on the left. A big blue ball is on the right.",
    "Is there a red cube in the image?",
    "Yes. No. What color is the ball? Blue. How many circles are there? Three.",
  ],
  { vocabSize: 96 },
);
const config = tinyVlmConfig("nano", tok.vocabSize);
const model: VlmModel = { config, tokenizer: tok, params: new Map(initTinyVlm(config, new Rng(7)).map((p) => [p.name, p.data])) };
const runtime = testRuntime();
const imageRng = new Rng(11);
const rgb = Uint8Array.from({ length: config.imageSize * config.imageSize * 3 }, () => Math.floor(imageRng.uniform() * 256));
const imagePath = path.join(dir, "image.png");
writeFileSync(imagePath, encodePng(rgb, config.imageSize, config.imageSize));

const PROMPT = "Describe the image in detail.";
const RANDOM = ["qz xv jk wq zx", "bqqx kkv zzj", "vvv jjq xxb zq"];

function request(itemId: string, responses: string[], o: Partial<RaterRequest> = {}): RaterRequest {
  return { itemId, prompt: PROMPT, imagePath, responses, aspects: ["helpfulness", "correctness"], scale: SCALE, ...o };
}

async function rate(requests: RaterRequest[], mode: "listwise" | "pairwise" | "pointwise", temperature = 0) {
  const rater = createJudgeRater({
    info: { rater: "j", kind: "judge", aspects: ["helpfulness", "correctness"], scale: SCALE },
    model: { family: "tinyvlm", model },
    modelName: "base",
    runtime,
    mode,
    temperature,
  });
  const replies = new Map<string, RaterReply>();
  const failures = await rater.rate(requests, { onReply: (id, reply) => replies.set(id, reply) });
  return { replies, failures };
}

describe("judge rater on nano", () => {
  test("the model's own greedy answer outranks random text, in every mode", async () => {
    const run = await answerAll(runtime, model, [{ id: "g", prompt: PROMPT, answer: "", rgb }], { maxTokens: 10, temperature: 0, seed: 0 });
    const greedy = run.answers.get("g")?.text ?? "";
    for (const mode of ["listwise", "pairwise", "pointwise"] as const) {
      const { replies, failures } = await rate([request("a", [RANDOM[0] as string, greedy, RANDOM[1] as string, RANDOM[2] as string])], mode);
      assert.deepEqual(failures, []);
      const reply = replies.get("a") as RaterReply;
      assert.equal(reply.scores[1]?.helpfulness, 4, `${mode}: greedy ${JSON.stringify(greedy)}: ${reply.rationale}`);
      for (const s of reply.scores) assert.equal(s.helpfulness, s.correctness, "every aspect gets the same score");
      // The scores are the ranks, whatever the mode: a permutation of 0, 4/3, 8/3, 4.
      const sorted = reply.scores.map((s) => s.helpfulness as number).sort((x, y) => x - y);
      for (const [i, v] of sorted.entries()) assert.ok(Math.abs(v - (4 * i) / 3) < 1e-9, `${mode}: ${sorted}`);
      assert.match(reply.rationale ?? "", /^(\[responses 1 vs 2\] )?judge j \(base\): mean log-prob -?\d+\.\d{3}/);
      if (mode === "pairwise") assert.equal((reply.rationale ?? "").split("\n").length, 6, "one line per pair");
    }
  });

  test("pairwise: the likelier of two gets max, the other min; identical responses tie in the middle; a lone response gets the middle", async () => {
    const { replies } = await rate(
      [request("two", ["qz xv jk wq zx", "A red cube."]), request("same", ["Blue.", "Blue."]), request("one", ["Yes."]), request("none", [])],
      "pairwise",
    );
    const two = (replies.get("two") as RaterReply).scores.map((s) => s.helpfulness);
    assert.deepEqual([...two].sort(), [0, 4]);
    assert.deepEqual(
      (replies.get("same") as RaterReply).scores.map((s) => s.helpfulness),
      [2, 2],
    );
    assert.deepEqual((replies.get("one") as RaterReply).scores, [{ helpfulness: 2, correctness: 2 }]);
    assert.match((replies.get("one") as RaterReply).rationale ?? "", /alone: the middle of the scale/);
    assert.deepEqual((replies.get("none") as RaterReply).scores, []);
  });

  test("text-only items are scored; a response longer than the context is cut and says so; an unreadable image fails its item only", async () => {
    const long = Array.from({ length: 400 }, () => "red cube").join(" ");
    const { replies, failures } = await rate(
      [
        request("text", ["Blue.", "qz xv"], { imagePath: null, prompt: "What color is the ball?" }),
        request("long", [long, "Yes."]),
        request("missing", ["Yes."], { imagePath: path.join(dir, "nope.png") }),
      ],
      "listwise",
    );
    assert.ok(replies.has("text"));
    assert.match((replies.get("long") as RaterReply).rationale ?? "", /response 1 scored on its first \d+ of \d+ tokens/);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.itemId, "missing");
    assert.match(failures[0]?.message ?? "", /could not read the image/);
  });

  test("an image of another size is resized to the judge's (as TinyVLM reads every image): the same scores as the image resized beforehand", async () => {
    const big = path.join(dir, "big.png");
    const side = config.imageSize + 13;
    const bigRgb = Uint8Array.from({ length: side * side * 3 }, (_, i) => (i * 37) % 256);
    writeFileSync(big, encodePng(bigRgb, side, side));
    const fitted = path.join(dir, "fitted.png");
    writeFileSync(
      fitted,
      encodePng(resizeRgb({ width: side, height: side, rgb: bigRgb }, config.imageSize, config.imageSize, "bicubic").rgb, config.imageSize, config.imageSize),
    );
    const responses = ["A red cube.", "qz xv", "Blue."];
    const a = await rate([request("a", responses, { imagePath: big })], "listwise");
    const b = await rate([request("a", responses, { imagePath: fitted })], "listwise");
    assert.deepEqual(a.failures, []);
    assert.deepEqual(a.replies.get("a")?.scores, b.replies.get("a")?.scores);
    assert.equal(a.replies.get("a")?.rationale, b.replies.get("a")?.rationale);
  });

  test("temperature ≠ 0 is refused", async () => {
    await assert.rejects(
      rate([request("a", ["Yes."])], "pairwise", 0.7),
      (e: unknown) => e instanceof RaterUnavailable && /temperature 0\.7 is not used by a likelihood judge/.test(e.message),
    );
  });
});

// ── through alignc run ──────────────────────────────────────────────────────

const executors: ReadonlyMap<string, NodeExecutor> = new Map([...EXECUTORS, [raterJudge.kind, raterJudge]]);

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

async function runFile(file: string, runDir: string) {
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const outcomes = await runGraph(result.graph, { layout: new RunLayout(runDir), entryAbsPath: path.resolve(file), device: TEST_DEVICE, log, executors });
  return { outcomes, log: lines.join("") };
}

const PIPELINE = (settings: string) => `align 1
model base = tinyvlm { size: nano, seed: 1 }
dataset pool = shapes { split: train, count: 4, seed: 1 }
dataset samples = sample(base, pool) { n: 3, max_tokens: 8, seed: 3 }
rater j = judge(base) { aspects: [helpfulness], scale: 0..4${settings} }
dataset rated = rate(samples, j)
`;

describe("judge through alignc run", () => {
  test("rate(samples, j) completes: every response scored on the scale, ranked per item, with the judge's rationale", async () => {
    const runDir = path.join(dir, "runs", "rate");
    const r = await runFile(write("rate.align", PIPELINE("")), runDir);
    assert.ok(
      r.outcomes.every((o) => o.status === "ran"),
      r.log,
    );
    const rated = readDataset(path.join(runDir, "outputs", "rated"));
    assert.equal(rated.kind, "rated");
    if (rated.kind !== "rated") return;
    assert.deepEqual(rated.rating, { rater: "j", kind: "judge", aspects: ["helpfulness"], scale: SCALE });
    assert.equal(rated.records.length, 4);
    for (const record of rated.records) {
      assert.equal(record.scores.length, 3);
      const sum = record.scores.reduce((s, x) => s + (x.helpfulness as number), 0);
      assert.ok(Math.abs(sum - 6) < 1e-9, "ranks of 3 responses on 0..4 sum to 0 + 2 + 4 (ties included)");
      assert.match(record.rationale ?? "", /^\[responses 1 vs 2\] judge j \(base\): mean log-prob/);
    }
    const again = await runFile(path.join(dir, "rate.align"), runDir);
    assert.ok(again.outcomes.every((o) => o.status === "cached"));
  });

  test("temperature ≠ 0 is refused at run time, at the rater", async () => {
    await assert.rejects(
      runFile(write("hot.align", PIPELINE(", temperature: 0.5")), path.join(dir, "runs", "hot")),
      (e: unknown) => e instanceof Error && /j \(rater\.judge\) failed: j: temperature 0\.5 is not used by a likelihood judge/.test(e.message),
    );
  });
});
