// The evaluation metrics on hand-made examples whose figures are worked out by hand in the comments.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chairMetrics, evaluateWorld, exactMatch, normalizeAnswer, parseYesNo, popeMetrics } from "../src/runtime/eval/index.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { mentions } from "../src/runtime/world/mentions.ts";
import type { Scene, SceneObject } from "../src/runtime/world/scene.ts";

const obj = (size: SceneObject["size"], color: SceneObject["color"], shape: SceneObject["shape"]): SceneObject => ({
  shape,
  color,
  size,
  position: "center",
  x: 0.5,
  y: 0.5,
  r: 0.1,
});
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
