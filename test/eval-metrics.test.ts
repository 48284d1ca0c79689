// The evaluation metrics on hand-made examples whose figures are worked out by hand in the comments.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { importFile } from "../src/runtime/data/formats/index.ts";
import { chairMetrics, evaluateWorld, exactMatch, normalizeAnswer, parseYesNo, popeMetrics } from "../src/runtime/eval/index.ts";
import { DEFAULT_QUALITY_RATING, defaultQualityRater, qualityReport } from "../src/runtime/eval/quality.ts";
import { renderEvaluation } from "../src/runtime/eval/table.ts";
import { RaterUnavailable } from "../src/runtime/raters/protocol.ts";
import type { RaterRequest, RaterRuntime } from "../src/runtime/raters/types.ts";
import { createTypeScriptRater } from "../src/runtime/raters/typescript.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { mentions } from "../src/runtime/world/mentions.ts";
import type { Scene, SceneObject } from "../src/runtime/world/scene.ts";
import { obj } from "./support/scenes.ts";

const scene = (...objects: SceneObject[]): Scene => ({ objects });

describe("reading answers", () => {
  test("yes/no: the first word, any case, after leading punctuation; anything else is unparseable", () => {
    const cases: [string, "yes" | "no" | null][] = [
      ["Yes.", "yes"],
      ["  yes, there is a red circle", "yes"],
      ['"NO"', "no"],
      ["No, there is none.", "no"],
      ["Yesterday I saw one.", null],
      ["There is no square.", null],
      ["maybe", null],
      ["", null],
    ];
    for (const [text, expected] of cases) assert.equal(parseYesNo(text), expected, text);
  });

  test("normal form: case, punctuation, numerals, a leading article", () => {
    assert.equal(normalizeAnswer(" Seven. "), "seven");
    assert.equal(normalizeAnswer("7"), "seven");
    assert.equal(normalizeAnswer("A circle!"), "circle");
    assert.equal(normalizeAnswer("In the top  left."), "in the top left");
    assert.equal(normalizeAnswer("Blue, circle; red."), "blue circle red");
    assert.equal(normalizeAnswer("42"), "42");
  });

  test("mentions: plurals, synonyms, colour and size words, negation", () => {
    const ms = mentions("Two large red circles, a tiny violet box, no big blue discs, and it is not a crescent. Without a star.");
    assert.deepEqual(
      ms.map((m) => [m.shape, m.size ?? "-", m.color ?? "-", m.negated]),
      [
        ["circle", "large", "red", false],
        ["square", "small", "purple", false],
        ["circle", "large", "blue", true],
        ["moon", "-", "-", true],
        ["star", "-", "-", true],
      ],
    );
  });
});

describe("POPE", () => {
  test("per split and overall, with an unparseable answer", () => {
    const r = popeMetrics([
      // random: TP, FN, TN, FP, and an unparseable answer to a "no" item
      { negative: "random", answer: "Yes.", prediction: "Yes" },
      { negative: "random", answer: "Yes.", prediction: "no" },
      { negative: "random", answer: "No.", prediction: "No, there is none" },
      { negative: "random", answer: "No.", prediction: "yes." },
      { negative: "random", answer: "No.", prediction: "maybe" },
      // adversarial: TP, FP, FP
      { negative: "adversarial", answer: "Yes.", prediction: "YES" },
      { negative: "adversarial", answer: "No.", prediction: "yes" },
      { negative: "adversarial", answer: "No.", prediction: "Yes, a square." },
    ]);
    // random: accuracy 2/5; precision 1/2; recall 1/2; F1 1/2; yes-ratio 2/5.
    assert.deepEqual(r.splits.random, { n: 5, tp: 1, fp: 1, tn: 1, fn: 1, unparseable: 1, accuracy: 0.4, precision: 0.5, recall: 0.5, f1: 0.5, yesRatio: 0.4 });
    // adversarial: accuracy 1/3; precision 1/3; recall 1; F1 = 2·(1/3)·1 / (4/3) = 1/2; yes-ratio 1.
    const adv = r.splits.adversarial;
    assert.ok(adv);
    assert.deepEqual([adv.n, adv.tp, adv.fp, adv.tn, adv.fn, adv.unparseable, adv.recall, adv.yesRatio], [3, 1, 2, 0, 0, 0, 1, 1]);
    assert.ok(Math.abs(adv.accuracy - 1 / 3) < 1e-12 && Math.abs(adv.precision - 1 / 3) < 1e-12 && Math.abs(adv.f1 - 0.5) < 1e-12);
    assert.equal(r.splits.popular, undefined);
    // all: accuracy 3/8; precision 2/5; recall 2/3; F1 = 2·0.4·(2/3) / (0.4 + 2/3) = 1/2; yes-ratio 5/8.
    assert.equal(r.all.accuracy, 3 / 8);
    assert.equal(r.all.precision, 0.4);
    assert.ok(Math.abs(r.all.recall - 2 / 3) < 1e-12 && Math.abs(r.all.f1 - 0.5) < 1e-12);
    assert.equal(r.all.yesRatio, 5 / 8);
    assert.equal(r.all.unparseable, 1);
  });

  test("a model that always says no has precision and F1 0, not NaN", () => {
    const r = popeMetrics([
      { negative: "popular", answer: "Yes.", prediction: "No." },
      { negative: "popular", answer: "No.", prediction: "No." },
    ]).all;
    assert.deepEqual([r.accuracy, r.precision, r.recall, r.f1, r.yesRatio], [0.5, 0, 0, 0, 0]);
  });

  test("a reference answer that is not yes/no is a bug in the data", () => {
    assert.throws(() => popeMetrics([{ negative: "random", answer: "Maybe.", prediction: "yes" }]), /reference answer "Maybe\." does not start with yes or no/);
  });
});

describe("CHAIR", () => {
  test("CHAIR_i, CHAIR_s, object recall, colour errors and the most hallucinated objects", () => {
    const r = chairMetrics([
      // mentions circle, triangle, star (3); triangle and star are absent (2); covers circle of {circle, square};
      // "blue circle" names a present shape in a colour it does not have (1 colour error of 1).
      { scene: scene(obj("large", "red", "circle"), obj("small", "blue", "square")), prediction: "A blue circle and a green triangle. Two stars." },
      // mentions star (1), the moon is negated; covers star of {star}; "yellow star" is right.
      { scene: scene(obj("small", "yellow", "star")), prediction: "There is a big yellow star and no moon." },
      // mentions cross and circle ("disc") (2); circle is absent (1); covers cross of {cross, heart}.
      { scene: scene(obj("small", "white", "cross"), obj("large", "white", "cross"), obj("small", "green", "heart")), prediction: "Three crosses and a disc." },
      // mentions circle and star (2); star is absent (1); covers circle of {circle}; "blue circle" is right.
      { scene: scene(obj("small", "blue", "circle")), prediction: "A blue circle and a yellow star." },
    ]);
    assert.equal(r.descriptions, 4);
    assert.equal(r.mentioned, 8);
    assert.equal(r.hallucinated, 4);
    assert.equal(r.chairI, 0.5);
    assert.equal(r.chairS, 0.75);
    assert.equal(r.objects, 6);
    assert.equal(r.covered, 4);
    assert.ok(Math.abs(r.recall - 4 / 6) < 1e-12);
    assert.deepEqual([r.colorMentions, r.colorErrors], [3, 1]);
    assert.deepEqual(r.topHallucinated, [
      { shape: "star", count: 2 },
      { shape: "circle", count: 1 },
      { shape: "triangle", count: 1 },
    ]);
  });

  test("a category counts once per description; an empty description mentions nothing", () => {
    const r = chairMetrics([
      { scene: scene(obj("small", "red", "circle")), prediction: "A square. Another square. Squares everywhere." },
      { scene: scene(obj("small", "red", "circle")), prediction: "" },
    ]);
    assert.deepEqual([r.mentioned, r.hallucinated, r.chairI, r.chairS, r.recall], [1, 1, 1, 0.5, 0]);
  });
});

describe("exact match and the whole report", () => {
  test("accuracy overall and per kind", () => {
    const r = exactMatch([
      { kind: "arithmetic", answer: "Seven.", prediction: "7" },
      { kind: "arithmetic", answer: "Three.", prediction: "four" },
      { kind: "mix", answer: "Orange.", prediction: "orange" },
      { kind: "reverse", answer: "Blue circle red.", prediction: "blue circle red" },
    ]);
    assert.equal(r.accuracy, 0.75);
    assert.deepEqual(r.byKind, {
      arithmetic: { n: 2, correct: 1, accuracy: 0.5 },
      mix: { n: 1, correct: 1, accuracy: 1 },
      reverse: { n: 1, correct: 1, accuracy: 1 },
    });
  });

  test("evaluateWorld scores each task by its metric and counts missing predictions", () => {
    const s = scene(obj("large", "red", "circle"));
    const base = { split: "test" as const, image: "images/x.png", scene: s, negative: null };
    const items: WorldItem[] = [
      { ...base, id: "a", task: "pope", kind: "pope", prompt: "Is there a red circle in the image?", answer: "Yes.", negative: "random" },
      { ...base, id: "b", task: "pope", kind: "pope", prompt: "Is there a blue cross in the image?", answer: "No.", negative: "adversarial" },
      { ...base, id: "c", task: "describe", kind: "describe", prompt: "Describe the image in detail.", answer: "There is one object." },
      { ...base, id: "d", task: "count", kind: "count_all", prompt: "How many objects are there?", answer: "One." },
      { ...base, id: "e", task: "text", kind: "arithmetic", prompt: "What is one plus one?", answer: "Two.", image: null, scene: null },
    ];
    const r = evaluateWorld(
      items,
      new Map([
        ["a", "Yes."],
        ["b", "Yes, there is."],
        ["c", "A red circle and a cross."],
        ["d", "1"],
      ]),
    );
    assert.equal(r.missing, 1);
    assert.equal(r.pope?.splits.random?.accuracy, 1);
    assert.equal(r.pope?.splits.adversarial?.fp, 1);
    assert.deepEqual([r.describe?.chairI, r.describe?.chairS, r.describe?.recall], [0.5, 1, 1]);
    assert.deepEqual(r.describe?.topHallucinated, [{ shape: "cross", count: 1 }]);
    assert.equal(r.count?.accuracy, 1);
    assert.equal(r.text?.accuracy, 0);
    assert.equal(r.attribute, undefined);
  });
});

describe("quality: a rater's scores of the answers", () => {
  const s = scene(obj("large", "red", "circle"));
  const base = { split: "test" as const, image: "images/x.png", scene: s, negative: null };
  const pope: WorldItem = { ...base, id: "a", task: "pope", kind: "pope", prompt: "Is there a red circle in the image?", answer: "Yes.", negative: "random" };
  const described: WorldItem = {
    ...base,
    id: "c",
    task: "describe",
    kind: "describe",
    prompt: "Describe the image in detail.",
    answer: "There is a large red circle.",
  };
  const blind: WorldItem = { ...described, id: "b", image: null, scene: null };
  const text: WorldItem = { ...base, id: "e", task: "text", kind: "arithmetic", prompt: "What is one plus one?", answer: "Two.", image: null, scene: null };
  const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/raters");

  test("means per aspect over all items and per task, with a typescript rater; a missing answer is rated as empty", async () => {
    // The fixture scores every aspect as the answer's length % 10, clamped to 0..4.
    const rater = createTypeScriptRater({
      info: { rater: "judge", kind: "typescript", aspects: ["helpfulness", "verbosity"], scale: { min: 0, max: 4 } },
      module: path.join(fixtures, "sync-rater.ts"),
    });
    const items = [pope, described, { ...described, id: "d" }, text];
    // "Yes." → 4, "A red circle." → 13 % 10 = 3, the missing answer to d → 0, "Two." → 4.
    const q = await qualityReport(
      items,
      new Map([
        ["a", "Yes."],
        ["c", "A red circle."],
        ["e", "Two."],
      ]),
      rater,
    );
    assert.deepEqual(q, {
      rater: "judge",
      kind: "typescript",
      aspects: ["helpfulness", "verbosity"],
      scale: { min: 0, max: 4 },
      all: { n: 4, means: { helpfulness: 2.75, verbosity: 2.75 } },
      byTask: {
        describe: { n: 2, means: { helpfulness: 1.5, verbosity: 1.5 } },
        pope: { n: 1, means: { helpfulness: 4, verbosity: 4 } },
        text: { n: 1, means: { helpfulness: 4, verbosity: 4 } },
      },
      failed: 0,
      failures: [],
    });
  });

  test("the default is the built-in grounded rater on its five aspects, 0..4; items without ground truth are counted, not fatal", async () => {
    assert.deepEqual(DEFAULT_QUALITY_RATING, {
      rater: "grounded",
      kind: "grounded",
      aspects: ["helpfulness", "correctness", "coherence", "complexity", "verbosity"],
      scale: { min: 0, max: 4 },
    });
    const q = await qualityReport(
      [pope, blind, described],
      new Map([
        // right, one fact, as long as the reference: 4 4 4 1 2
        ["a", "Yes."],
        ["b", "A red circle."],
        // names the one object (helpfulness 4) but hallucinates a star (correctness 4 − 2); two facts (complexity 2);
        // 8 words for the reference's 6 (r = 1.33, verbosity 3)
        ["c", "A large red circle and a blue star."],
      ]),
      defaultQualityRater(),
    );
    assert.deepEqual(q.all, { n: 2, means: { helpfulness: 4, correctness: 3, coherence: 4, complexity: 1.5, verbosity: 2.5 } });
    assert.deepEqual(q.byTask.describe, { n: 1, means: { helpfulness: 4, correctness: 2, coherence: 4, complexity: 2, verbosity: 3 } });
    assert.deepEqual(q.byTask.pope, { n: 1, means: { helpfulness: 4, correctness: 4, coherence: 4, complexity: 1, verbosity: 2 } });
    assert.equal(q.failed, 1);
    assert.equal(q.failures[0]?.itemId, "b");
    assert.match(q.failures[0]?.message ?? "", /describe item without a scene graph/);
  });

  test("one rate() call per model with one answer per request, the item as ground truth and the image's absolute path", async () => {
    const calls: RaterRequest[][] = [];
    const rater: RaterRuntime = {
      info: { rater: "stub", kind: "command", aspects: ["overall"], scale: { min: 1, max: 10 } },
      async rate(requests, hooks) {
        calls.push([...requests]);
        hooks.onReply("a", { scores: [{ overall: 7 }] });
        const failure = { itemId: "e", message: 'item "e": the program refused it' };
        hooks.onFailure?.(failure);
        return [failure];
      },
    };
    const done: number[] = [];
    const q = await qualityReport([pope, text], new Map([["a", "Yes."]]), rater, { imageDir: "/data/test", onProgress: (n) => done.push(n) });
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0], [
      {
        itemId: "a",
        prompt: pope.prompt,
        imagePath: "/data/test/images/x.png",
        responses: ["Yes."],
        aspects: ["overall"],
        scale: { min: 1, max: 10 },
        groundTruth: pope,
      },
      { itemId: "e", prompt: text.prompt, imagePath: null, responses: [""], aspects: ["overall"], scale: { min: 1, max: 10 }, groundTruth: text },
    ]);
    assert.deepEqual(done, [1, 2]);
    // A failure reported both through the hook and in the result counts once.
    assert.deepEqual([q.all, q.failed, q.failures], [{ n: 1, means: { overall: 7 } }, 1, [{ itemId: "e", message: "the program refused it" }]]);
    assert.deepEqual(q.byTask, { pope: { n: 1, means: { overall: 7 } } });
  });

  test("a rater that cannot run at all rejects (the evaluate node turns it into its error)", async () => {
    const rater = createTypeScriptRater({ info: DEFAULT_QUALITY_RATING, module: path.join(fixtures, "missing-export-rater.ts"), exportName: "nope" });
    await assert.rejects(qualityReport([pope], new Map(), rater), RaterUnavailable);
  });

  test("the table: a row per model for describe items and for all, a column per aspect, then the failures", async () => {
    const items = [pope, blind, described];
    const answers = (c: string) =>
      new Map([
        ["a", "Yes."],
        ["b", "A circle."],
        ["c", c],
      ]);
    const reports = [];
    for (const [model, c] of [
      ["vit", "A large red circle and a blue star."],
      ["dpo", "There is a large red circle."],
    ] as const) {
      const report = evaluateWorld(items, answers(c));
      report.quality = await qualityReport(items, answers(c), defaultQualityRater());
      reports.push({ model, report });
    }
    const md = renderEvaluation("eval on test", reports, ["pope", "quality"]);
    const quality = md.slice(md.indexOf("Quality"), md.indexOf("POPE, vit"));
    assert.equal(
      quality,
      [
        "Quality (rater: grounded, scale 0..4; mean score per answer; verbosity: higher is longer, not better):",
        "",
        "| model | answers | helpfulness | correctness | coherence | complexity | verbosity |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| vit, describe | 1 | 4.00 | 2.00 | 4.00 | 2.00 | 3.00 |",
        "| vit, all | 2 | 4.00 | 3.00 | 4.00 | 1.50 | 2.50 |",
        "| dpo, describe | 1 | 4.00 | 4.00 | 4.00 | 1.00 | 2.00 |",
        "| dpo, all | 2 | 4.00 | 4.00 | 4.00 | 1.00 | 2.00 |",
        "",
        "Items the rater failed on (left out of the means):",
        "",
        "- vit: 1 — b: a describe item without a scene graph: the grounded rater checks descriptions against the scene",
        "- dpo: 1 — b: a describe item without a scene graph: the grounded rater checks descriptions against the scene",
        "",
        "",
      ].join("\n"),
    );
    // Without quality among the metrics the table is what it was.
    assert.ok(!renderEvaluation("eval on test", reports, ["pope"]).includes("Quality"));
    // Quality alone: no empty comparison table above its own.
    const alone = renderEvaluation("eval on test", reports, ["quality"]);
    assert.ok(!alone.includes("| metric |") && alone.includes("| vit, all | 2 |"));
  });
});

describe("the evaluation table says what was evaluated and why a metric is absent", () => {
  const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/formats");

  test("imported prompts (trl): their count and kinds, and why POPE and CHAIR have no value", () => {
    // A TRL prompts file: one row with an image (a describe item without a scene graph), one text-only row.
    const { dataset, problems } = importFile({ file: path.join(fixtures, "trl-prompts.jsonl"), kind: "prompts", format: "trl" });
    assert.deepEqual(problems, []);
    const items = dataset.records as WorldItem[];
    assert.deepEqual(
      items.map((it) => [it.kind, it.task, it.scene]),
      [
        ["imported", "describe", null],
        ["imported", "text", null],
      ],
    );
    const report = evaluateWorld(items, new Map(items.map((it) => [it.id, "A red square."])));
    assert.deepEqual(report.items, { total: 2, tasks: { describe: 1, text: 1 }, imported: 2, withoutScene: 1 });
    const md = renderEvaluation("e on asked", [{ model: "base", report }], ["pope", "chair", "recall"]);
    assert.match(md, /\| POPE accuracy, all \| – \|\n/);
    assert.match(md, /\| CHAIR_i \(lower is better\) \| – \|\n/);
    assert.match(
      md,
      /\nNot measured \(–\): POPE needs POPE items; this test set has none\. CHAIR and object recall need scene graphs; imported items have none\.\n/,
    );
    assert.match(md, /\nItems \(2, all imported from a file\): 1 image prompt without a scene graph, 1 text-only task\.\n/);
    assert.doesNotMatch(md, /Items: \./, "never an empty item list");
    // No descriptions were scored: no list of hallucinated objects that says "none" as if there were.
    assert.doesNotMatch(md, /Most hallucinated objects/);
    // Only CHAIR asked for: its own sentence.
    assert.match(renderEvaluation("e", [{ model: "base", report }], ["chair"]), /Not measured \(–\): CHAIR needs scene graphs; imported items have none\./);
  });

  test("world items: every asked metric measured, nothing said to be missing; a task the set lacks is named", () => {
    const s = scene(obj("large", "red", "circle"));
    const base = { split: "test" as const, image: "images/x.png", scene: s, negative: null };
    const items: WorldItem[] = [
      { ...base, id: "a", task: "pope", kind: "pope", prompt: "Is there a red circle in the image?", answer: "Yes.", negative: "random" },
      { ...base, id: "c", task: "describe", kind: "describe", prompt: "Describe the image in detail.", answer: "There is a large red circle." },
    ];
    const report = evaluateWorld(items, new Map([["a", "Yes."]]));
    const md = renderEvaluation("e", [{ model: "m", report }], ["pope", "chair", "text_accuracy"]);
    assert.match(md, /\nItems \(2\): 1 POPE question, 1 description\.\n/);
    assert.match(md, /\nNot measured \(–\): text-only accuracy needs text-only items; this test set has none\.\n/);
    assert.doesNotMatch(md, /POPE needs|CHAIR needs/);
    // An evaluation stored before items were recorded: the items line from what was scored, no reasons invented.
    const { items: _, ...old } = report;
    assert.match(renderEvaluation("e", [{ model: "m", report: old }], ["pope"]), /\nItems: 1 POPE question, 1 description\.\n/);
  });
});
