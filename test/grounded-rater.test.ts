// The built-in grounded rater: hand-graded responses per task, the scale mapping, failures for items without ground
// truth, and determinism.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { assessResponse, createGroundedRater, GROUNDED_ASPECTS, gradeResponse, isBroken, positionsIn, toScale } from "../src/runtime/raters/grounded.ts";
import { checkReply, type ItemFailure, type RaterReply, type RaterRequest } from "../src/runtime/raters/types.ts";
import { worldCorpus } from "../src/runtime/world/corpus.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { generateItems } from "../src/runtime/world/generate.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { obj } from "./support/scenes.ts";

// Scene: a large green circle (top right), a small orange circle (left), a large purple star (right), a small red heart (bottom).
const scene = {
  objects: [
    obj("large", "green", "circle", "top_right"),
    obj("small", "orange", "circle", "left"),
    obj("large", "purple", "star", "right"),
    obj("small", "red", "heart", "bottom"),
  ],
};
const CAPTION =
  "There are four objects. A large green circle is in the top right. A small orange circle is on the left. A large purple star is on the right. A small red heart is at the bottom.";

const item = (task: WorldItem["task"], kind: string, prompt: string, answer: string, withScene = task !== "text"): WorldItem => ({
  id: `${task}-${kind}`,
  split: "train",
  task,
  kind,
  prompt,
  answer,
  image: withScene ? "images/x.png" : null,
  scene: withScene ? scene : null,
  negative: task === "pope" ? "random" : null,
});

const describeItem = item("describe", "describe", "Describe the image in detail.", CAPTION);
const grade = (it: WorldItem, response: string) => gradeResponse(it, response);

describe("describe", () => {
  test("the reference caption is correct, helpful and coherent", () => {
    assert.deepEqual(grade(describeItem, CAPTION), { helpfulness: 4, correctness: 4, coherence: 4, complexity: 4, verbosity: 2 });
  });

  test("a hallucinated object costs 2 correctness, a wrong colour, size, count or position 1", () => {
    assert.equal(grade(describeItem, `${CAPTION} A small blue moon is on the left.`).correctness, 2);
    assert.equal(grade(describeItem, `${CAPTION} A small blue moon is on the left. There is a cross.`).correctness, 0);
    assert.equal(grade(describeItem, CAPTION.replace("large purple star", "large yellow star")).correctness, 3);
    assert.equal(grade(describeItem, CAPTION.replace("small red heart", "large red heart")).correctness, 3);
    assert.equal(grade(describeItem, CAPTION.replace("four objects", "five objects")).correctness, 3);
    assert.equal(grade(describeItem, CAPTION.replace("4", "5").replace("four objects", "5 objects")).correctness, 3);
    assert.equal(grade(describeItem, CAPTION.replace("star is on the right", "star is in the center")).correctness, 3);
    assert.equal(grade(describeItem, "There are two circles. There are three stars.").correctness, 3);
  });

  test("the same false claim counts once; negated mentions are no claims", () => {
    assert.equal(grade(describeItem, "A blue moon is on the left. A blue moon is on the left.").correctness, 2);
    assert.equal(grade(describeItem, "There is no moon. There are no crosses. A large purple star is on the right.").correctness, 4);
    assert.equal(grade(describeItem, "There are zero hearts.").correctness, 3);
  });

  test("helpfulness is the share of the scene's objects named", () => {
    assert.equal(grade(describeItem, "A large green circle is in the top right.").helpfulness, 1);
    assert.equal(grade(describeItem, "There are two circles and a star.").helpfulness, 3);
    assert.equal(grade(describeItem, "A large green circle is in the top right. A small red heart is at the bottom.").helpfulness, 2);
    // A wrong colour still names the object (correctness pays for the colour).
    const wrongColour = grade(describeItem, CAPTION.replace("small red heart", "small blue heart"));
    assert.equal(wrongColour.helpfulness, 4);
    assert.equal(wrongColour.correctness, 3);
    // Hallucinations name nothing that is there.
    assert.equal(grade(describeItem, "A large blue moon is in the center.").helpfulness, 0);
  });

  test("a text that says nothing about the scene: correctness 1, helpfulness 0", () => {
    const g = grade(describeItem, "The image shows some things.");
    assert.equal(g.correctness, 1);
    assert.equal(g.helpfulness, 0);
    assert.equal(g.coherence, 4);
  });
});

describe("coherence", () => {
  test("a repeated sentence or phrase lowers it, one point each, at most 3", () => {
    assert.equal(grade(describeItem, "A large green circle is in the top right. A large green circle is in the top right.").coherence, 3);
    assert.equal(grade(describeItem, "A large green green circle is in the top right.").coherence, 3);
    assert.equal(grade(describeItem, "A red heart red heart is at the bottom.").coherence, 3);
    const loop = "A small red heart is at the bottom. ".repeat(6).trim();
    assert.equal(grade(describeItem, loop).coherence, 1);
  });

  test("no full stop at the end and broken words lower it", () => {
    assert.equal(grade(describeItem, "A large green circle is in the top right").coherence, 3);
    assert.equal(grade(describeItem, "A large green circle is in the top right. A small ci").coherence, 2);
    assert.equal(grade(describeItem, "A large green circlele is in the top ri.").coherence, 2);
  });

  test("a fragment glued to a vocabulary word is a broken word: 'in theou bottom right'", () => {
    const glued = assessResponse(describeItem, "A small red heart is in theou bottom right.");
    assert.equal(glued.grades.coherence, 3);
    assert.ok(glued.notes.includes("broken words: theou"), glued.notes.join("; "));
    assert.equal(grade(describeItem, "A small red heart is inthe bottom.").coherence, 3);
    assert.equal(grade(describeItem, "A small red heart is at thered bottom.").coherence, 3);
    // Two of them: two points; more: still two.
    assert.equal(grade(describeItem, "A small red heart is in theou bottom rightt.").coherence, 2);
    assert.equal(grade(describeItem, "A smal red heartt is in theou botto rightt.").coherence, 2);
  });

  test("the broken-word rule as docs/preference-data.md states it, with its examples", () => {
    const docs = readFileSync("docs/preference-data.md", "utf8");
    const coherence = docs.split("\n").find((l) => l.startsWith("| **coherence** |")) ?? "";
    const row = coherence.slice(coherence.indexOf("A *broken word*"), coherence.indexOf("A *repetition*"));
    assert.ok(row.length > 100, coherence);
    // The documented examples of broken words, quoted in the row, are broken …
    const quoted = [...row.matchAll(/\("([^"()]+)"(?:, "([^"()]+)")*\)/g)].flatMap((m) => m[0].match(/"[^"]+"/g) ?? []).map((q) => q.slice(1, -1));
    const examples = quoted.flatMap((q) => q.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((w) => !["in", "bottom", "right"].includes(w));
    assert.deepEqual(examples.sort(), ["3rd", "cir", "circlele", "inthe", "redd", "theou", "thered", "tri"]);
    for (const w of examples) assert.ok(isBroken(w), `${w} is a broken word`);
    // … and the English words it names as not broken are not.
    const english = /Common English words of those forms \(([^:)]+)/.exec(row)?.[1] ?? "";
    const named = english.split(/,\s*/).filter((w) => /^[a-z]+$/.test(w));
    assert.ok(named.length >= 5, english);
    for (const w of named) assert.ok(!isBroken(w), `${w} is not a broken word`);
    // The rule's parts, one by one.
    assert.ok(isBroken("c1rcle") && isBroken("redd") && isBroken("theou") && isBroken("inthe") && isBroken("cir"));
    assert.ok(!isBroken("the") && !isBroken("bottom") && !isBroken("atop"), "words and short heads (a + top) are not");
    assert.ok(!isBroken("hello") && !isBroken("inside"), "English words outside the vocabulary that glue nothing on are not");
    assert.ok(!isBroken("c"), "a single letter is no fragment");
  });

  test("no word of the world's own prompts and answers is broken", () => {
    const words = new Set<string>();
    for (const text of worldCorpus(300)) for (const w of text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?/g) ?? []) words.add(w);
    assert.ok(words.size > 100);
    assert.deepEqual([...words].filter(isBroken), []);
  });

  test("repetition that the reference answer has itself is forgiven", () => {
    const reverse = item("text", "reverse", "Say these words in reverse order: white yellow square square.", "Square square yellow white.");
    assert.equal(grade(reverse, "Square square yellow white.").coherence, 4);
    assert.equal(grade(reverse, "Square square square yellow white.").coherence, 3);
  });

  test("an empty response gets 0 everywhere", () => {
    for (const response of ["", "   ", "..."]) {
      assert.deepEqual(grade(describeItem, response), { helpfulness: 0, correctness: 0, coherence: 0, complexity: 0, verbosity: 0 });
    }
  });
});

describe("questions", () => {
  const popeYes = item("pope", "pope", "Is there a purple star in the image?", "Yes.");
  const popeNo = item("pope", "pope", "Is there a red triangle in the image?", "No.");

  test("pope: yes/no read from the first word, as the POPE metric reads it", () => {
    assert.deepEqual(grade(popeYes, "Yes."), { helpfulness: 4, correctness: 4, coherence: 4, complexity: 1, verbosity: 2 });
    assert.equal(grade(popeYes, "Yes, there is a purple star.").correctness, 4);
    assert.equal(grade(popeNo, "no").correctness, 4);
    const wrong = grade(popeNo, "Yes.");
    assert.equal(wrong.correctness, 0);
    assert.equal(wrong.helpfulness, 1);
    const none = grade(popeNo, "There might be one.");
    assert.equal(none.correctness, 1);
    assert.equal(none.helpfulness, 0);
  });

  test("pope: a right answer with a hallucinated extra claim loses correctness", () => {
    assert.equal(grade(popeNo, "No, but there is a blue moon.").correctness, 2);
  });

  test("attribute: the value of the asked kind decides", () => {
    const color = item("attribute", "color", "What color is the star?", "Purple.");
    assert.equal(grade(color, "Purple.").correctness, 4);
    assert.equal(grade(color, "The star is purple.").correctness, 4);
    assert.equal(grade(color, "Violet.").correctness, 4);
    assert.equal(grade(color, "Blue.").correctness, 0);
    assert.equal(grade(color, "Blue.").helpfulness, 1);
    assert.equal(grade(color, "It is purple or blue.").correctness, 0);
    assert.equal(grade(color, "I do not know.").correctness, 1);
    assert.equal(grade(color, "I do not know.").helpfulness, 0);
    const position = item("attribute", "position", "Where is the star?", "On the right.");
    assert.equal(grade(position, "On the right.").correctness, 4);
    assert.equal(grade(position, "The star is on the right.").correctness, 4);
    assert.equal(grade(position, "In the top right.").correctness, 0);
    const shape = item("attribute", "shape", "What shape is at the bottom?", "Heart.");
    assert.equal(grade(shape, "A heart.").helpfulness, 4);
    assert.equal(grade(shape, "A moon.").correctness, 0);
  });

  test("count: numerals, number words and 'no <noun>' are read", () => {
    const zero = item("count", "count_shape", "How many diamonds are there?", "Zero.");
    assert.equal(grade(zero, "Zero.").correctness, 4);
    assert.equal(grade(zero, "0").correctness, 4);
    assert.equal(grade(zero, "There are no diamonds.").correctness, 4);
    assert.equal(grade(zero, "Two.").correctness, 0);
    const two = item("count", "count_shape", "How many circles are there?", "Two.");
    assert.equal(grade(two, "There are 2 circles.").correctness, 4);
    assert.equal(grade(two, "Three.").correctness, 0);
  });

  test("text: exact answers, with the prompt's own offers not counted against the answer", () => {
    const compare = item("text", "compare", "Which is larger, one or seven?", "Seven.");
    assert.equal(grade(compare, "Seven.").correctness, 4);
    assert.equal(grade(compare, "Seven is larger than one.").correctness, 4);
    assert.equal(grade(compare, "One.").correctness, 0);
    const reverse = item("text", "reverse", "Say these words in reverse order: star circle cross heart.", "Heart cross circle star.");
    assert.equal(grade(reverse, "Heart cross circle star.").correctness, 4);
    assert.equal(grade(reverse, "Star circle cross heart.").correctness, 0);
  });
});

describe("complexity and verbosity", () => {
  test("complexity grows with distinct facts and sentences", () => {
    assert.equal(grade(item("pope", "pope", "Is there a purple star in the image?", "Yes."), "Yes.").complexity, 1);
    const color = item("attribute", "color", "What color is the star?", "Purple.");
    assert.equal(grade(color, "Purple.").complexity, 1);
    assert.equal(grade(color, "The star is purple.").complexity, 2);
    assert.equal(grade(describeItem, "There is a large green circle in the top right.").complexity, 2);
    assert.equal(grade(describeItem, CAPTION).complexity, 4);
  });

  test("verbosity is length relative to the reference: higher is more verbose", () => {
    const pope = item("pope", "pope", "Is there a purple star in the image?", "Yes.");
    assert.equal(grade(pope, "Yes.").verbosity, 2);
    assert.equal(grade(pope, "Yes, there is.").verbosity, 4);
    assert.equal(grade(describeItem, "A large green circle is in the top right.").verbosity, 0);
    assert.equal(grade(describeItem, `${CAPTION} ${CAPTION}`).verbosity, 3);
  });

  test("a describe item without a reference answer is measured against the scene's caption", () => {
    const noAnswer = { ...describeItem, answer: "" };
    assert.equal(grade(noAnswer, CAPTION).verbosity, 2);
  });
});

describe("the rater", () => {
  const request = (it: WorldItem, responses: string[], scale = { min: 0, max: 4 }, aspects: string[] = [...GROUNDED_ASPECTS]): RaterRequest => ({
    itemId: it.id,
    prompt: it.prompt,
    imagePath: it.image,
    responses,
    aspects,
    scale,
    groundTruth: it,
  });
  const rateAll = async (requests: RaterRequest[], scale = { min: 0, max: 4 }) => {
    const rater = createGroundedRater({ rater: "judge", kind: "grounded", aspects: [...GROUNDED_ASPECTS], scale });
    const replies = new Map<string, RaterReply>();
    const failed: ItemFailure[] = [];
    const failures = await rater.rate(requests, { onReply: (id, r) => replies.set(id, r), onFailure: (f) => failed.push(f) });
    assert.deepEqual(failures, failed);
    return { replies, failures };
  };

  test("grades map linearly onto the declared scale, rounded", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((g) => toScale(g, { min: 0, max: 10 })),
      [0, 3, 5, 8, 10],
    );
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((g) => toScale(g, { min: 1, max: 5 })),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      [0, 2, 4].map((g) => toScale(g, { min: 0, max: 1 })),
      [0, 1, 1],
    );
  });

  test("replies hold the asked aspects on the scale and pass the contract check", async () => {
    const req = request(describeItem, [CAPTION, "A small blue moon is on the left.", ""], { min: 0, max: 10 }, ["correctness", "helpfulness"]);
    const { replies, failures } = await rateAll([req], { min: 0, max: 10 });
    assert.deepEqual(failures, []);
    const reply = replies.get(describeItem.id);
    assert.ok(reply);
    assert.equal(checkReply(req, reply), undefined);
    assert.deepEqual(reply.scores, [
      { correctness: 10, helpfulness: 10 },
      { correctness: 5, helpfulness: 0 },
      { correctness: 0, helpfulness: 0 },
    ]);
    assert.match(reply.rationale ?? "", /(^|\n)2: [^\n]*hallucinated moon/);
  });

  test("items without the ground truth their task needs fail clearly; the others are rated", async () => {
    const noScene = { ...describeItem, id: "imported-1", scene: null, image: "x.png" };
    const noYesNo = item("pope", "pope", "Is there a cat?", "");
    const noAnswer = item("count", "count_all", "How many objects are there?", "");
    const { replies, failures } = await rateAll([
      request(noScene, ["A circle."]),
      request(noYesNo, ["Yes."]),
      request(describeItem, [CAPTION]),
      request(noAnswer, ["Four."]),
      { ...request(describeItem, ["x"]), itemId: "bare", groundTruth: undefined },
    ]);
    assert.deepEqual([...replies.keys()], [describeItem.id]);
    assert.deepEqual(
      failures.map((f) => f.itemId),
      ["imported-1", noYesNo.id, noAnswer.id, "bare"],
    );
    assert.match(failures[0]?.message ?? "", /without a scene graph/);
    assert.match(failures[1]?.message ?? "", /does not start with yes or no/);
    assert.match(failures[2]?.message ?? "", /without a reference answer/);
    assert.match(failures[3]?.message ?? "", /no ground truth/);
  });

  test("deterministic, and every reference answer of a world gets full correctness and helpfulness", () => {
    const items = [...generateItems(worldOptions({ split: "train", count: 300, seed: 5, image_size: 16 }))].map((g) => g.item);
    for (const it of items) {
      const a = assessResponse(it, it.answer);
      assert.deepEqual(assessResponse(it, it.answer), a);
      assert.equal(a.grades.correctness, 4, `${it.id}: ${it.answer} ${a.notes.join("; ")}`);
      assert.equal(a.grades.helpfulness, 4, `${it.id}: ${it.answer}`);
      assert.equal(a.grades.coherence, 4, `${it.id}: ${it.answer}`);
      assert.equal(a.grades.verbosity, 2, `${it.id}: ${it.answer}`);
    }
  });

  test("fast: thousands of responses per second", () => {
    const items = [...generateItems(worldOptions({ split: "train", count: 200, seed: 6, image_size: 16, tasks: ["describe"] }))].map((g) => g.item);
    const start = performance.now();
    let n = 0;
    for (let r = 0; r < 5; r++)
      for (const it of items) {
        gradeResponse(it, it.answer);
        gradeResponse(it, `${it.answer} A small blue moon is on the left. A small blue moon is on the left`);
        n += 2;
      }
    const perSecond = n / ((performance.now() - start) / 1000);
    assert.ok(perSecond > 2000, `${Math.round(perSecond)} responses/s`);
  });
});

test("position phrases are read with compound regions first", () => {
  assert.deepEqual(positionsIn(["in", "the", "top", "left", "and", "on", "the", "right", "and", "upper", "right", "middle"]), [
    "top_left",
    "right",
    "top_right",
    "center",
  ]);
});
