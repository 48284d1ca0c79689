// Rule-based hallucination injection (corrupt): each op changes what it says and keeps the grammar, yes/no answers
// flip, the rejected answer always differs, seeded determinism; the command hook with real editor programs; and the
// stage.corrupt executor on a small world.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type CorruptOp,
  type CorruptOptions,
  corruptAnswer,
  corruptItems,
  corruptWithCommand,
  parseEditorReply,
} from "../src/runtime/data/prefdata/corrupt.ts";
import { type PairRecord, readDataset } from "../src/runtime/data/prefdata/records.ts";
import { stageCorrupt } from "../src/runtime/pipeline/executors/stage-corrupt.ts";
import { externalDigest } from "../src/runtime/pipeline/node-executor.ts";
import { gradeResponse } from "../src/runtime/raters/grounded.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { generateItems } from "../src/runtime/world/generate.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { COLORS, POSITION_PHRASE, SHAPES } from "../src/runtime/world/vocab.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import { fakeContext, graphNode, runExecutor } from "./support/exec-context.ts";
import { obj } from "./support/scenes.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const editors = path.join(here, "fixtures", "editors");
const dir = mkdtempSync(path.join(tmpdir(), "alignc-corrupt-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Two small red circles (left, right) and a large blue star (top).
const scene = { objects: [obj("large", "blue", "star", "top"), obj("small", "red", "circle", "left"), obj("small", "red", "circle", "right")] };

const item = (answer: string, id = "i", task: WorldItem["task"] = "describe"): WorldItem => ({
  id,
  split: "train",
  task,
  kind: task,
  prompt: "Describe the image in detail.",
  answer,
  image: "images/i.png",
  scene,
  negative: null,
});

const run = (answer: string, ops: CorruptOp[], seed = 0, edits = 1, it = item(answer)) => corruptAnswer(it, { ops, edits, seed } satisfies CorruptOptions);

/** Results over many seeds. */
const over = (answer: string, ops: CorruptOp[], n = 60, edits = 1) =>
  Array.from({ length: n }, (_, seed) => {
    const r = run(answer, ops, seed, edits);
    assert.ok(r, `seed ${seed}: ${answer} got no edit`);
    assert.notEqual(r.text, answer);
    return r;
  });

describe("ops", () => {
  test("object: a shape the scene lacks, plural kept", () => {
    const seen = new Set<string>();
    for (const r of over("There are two circles.", ["object"])) {
      const m = /^There are two (\w+)\.$/.exec(r.text);
      assert.ok(m, r.text);
      const shape = SHAPES.find((s) => `${s === "cross" ? "crosses" : `${s}s`}` === m[1]);
      assert.ok(shape, `${m[1]} is a plural shape`);
      assert.ok(shape !== "circle" && shape !== "star", `${shape} is absent from the scene`);
      assert.deepEqual(r.edits, [{ op: "object", from: "circles", to: m[1] }]);
      seen.add(shape);
    }
    assert.ok(seen.size >= 4, "uniform over the absent shapes");
    for (const r of over("A large blue star is at the top.", ["object"]))
      assert.match(r.text, /^A large blue (square|heart|triangle|moon|diamond|cross) is at the top\.$/);
    // Capitals kept; synonyms count as shapes.
    assert.match(run("Circle.", ["object"])?.text ?? "", /^[A-Z][a-z]+\.$/);
    assert.match(run("Two discs.", ["object"])?.text ?? "", /^Two (squares|hearts|triangles|moons|diamonds|crosses)\.$/);
  });

  test("color: another colour, one no such shape has; the article agrees", () => {
    const colours = new Set<string>();
    for (const r of over("A red circle is on the left.", ["color"])) {
      const m = /^(A|An) (\w+) circle is on the left\.$/.exec(r.text);
      assert.ok(m, r.text);
      assert.ok((COLORS as readonly string[]).includes(m[2] as string) && m[2] !== "red");
      assert.equal(m[1], m[2] === "orange" ? "An" : "A");
      colours.add(m[2] as string);
    }
    assert.ok(colours.has("orange"), "the article case came up");
    // The article belongs to the size word here and stays.
    for (const r of over("A small red circle is on the left.", ["color"])) assert.match(r.text, /^A small (orange|yellow|green|blue|purple|white) circle/);
    for (const r of over("An orange star.", ["color"])) assert.match(r.text, /^A (red|yellow|green|purple|white) star\.$/); // blue stars exist
    assert.match(run("Purple.", ["color"])?.text ?? "", /^(Red|Orange|Yellow|Green|Blue|White)\.$/);
  });

  test("count: n ± 1 or 2, with the noun and the verb agreeing", () => {
    const results = new Set(over("There is one object.", ["count"]).map((r) => r.text));
    assert.deepEqual([...results].sort(), ["There are three objects.", "There are two objects.", "There are zero objects."].sort());
    const fromThree = new Set(over("There are three small circles.", ["count"]).map((r) => r.text));
    assert.deepEqual(
      [...fromThree].sort(),
      ["There are five small circles.", "There are four small circles.", "There is one small circle.", "There are two small circles."].sort(),
    );
    const digits = new Set(over("3", ["count"]).map((r) => r.text));
    assert.deepEqual([...digits].sort(), ["1", "2", "4", "5"]);
    assert.match(run("Zero.", ["count"])?.text ?? "", /^(One|Two)\.$/);
  });

  test("position: another region's phrase, not one where the sentence's shape is", () => {
    const phrases = Object.values(POSITION_PHRASE);
    for (const r of over("A small red circle is on the left.", ["position"])) {
      const m = /^A small red circle is (.+)\.$/.exec(r.text);
      assert.ok(m && phrases.includes(m[1] as string), r.text);
      assert.ok(m[1] !== "on the left" && m[1] !== "on the right", "red circles are on the left and right");
    }
    for (const r of over("On the left.", ["position"])) {
      assert.match(r.text, /^(In|At|On) the /);
      assert.ok(phrases.includes(`${r.text[0]?.toLowerCase()}${r.text.slice(1, -1)}`));
    }
  });

  test("size: small ↔ large, unless the scene has the other size of the described object", () => {
    assert.equal(run("Small.", ["size"])?.text, "Large.");
    assert.equal(run("A large blue star is at the top.", ["size"])?.text, "A small blue star is at the top.");
    assert.equal(run("A small red circle.", ["size"])?.text, "A large red circle.");
    const bothSizes = { objects: [...scene.objects, obj("large", "red", "circle", "center")] };
    assert.equal(corruptAnswer({ ...item("A small red circle."), scene: bothSizes }, { ops: ["size"], edits: 1, seed: 0 }), null);
  });

  test("yes/no answers swap yes ↔ no whatever the ops; further edits go elsewhere", () => {
    const pope = (answer: string) => ({ ...item(answer, "p", "pope"), negative: "random" as const });
    assert.deepEqual(run("No.", ["object"], 0, 1, pope("No.")), { text: "Yes.", edits: [{ op: "yes_no", from: "No", to: "Yes" }] });
    assert.equal(run("Yes.", ["color"], 0, 3, pope("Yes."))?.text, "No.");
    const two = run("Yes, there is a blue star.", ["color"], 0, 2, pope("Yes, there is a blue star."));
    assert.ok(two);
    assert.match(two.text, /^No, there is an? (red|orange|yellow|green|purple|white) star\.$/);
    assert.deepEqual(
      two.edits.map((e) => e.op),
      ["yes_no", "color"],
    );
  });

  test("several edits go to distinct places", () => {
    const caption = "There are three objects. A large blue star is at the top. A small red circle is on the left. A small red circle is on the right.";
    for (let seed = 0; seed < 40; seed++) {
      const r = run(caption, ["object", "color", "count", "position"], seed, 4);
      assert.ok(r);
      assert.equal(r.edits.length, 4);
      assert.notEqual(r.text, caption);
      // Each edit's result is in the text.
      for (const e of r.edits) assert.ok(r.text.includes(e.to), `${e.to} in ${r.text}`);
    }
  });

  test("nothing the ops can edit: skipped and counted, never another op", () => {
    assert.equal(run("Small.", ["object", "color", "count", "position"]), null);
    assert.equal(run("A small red circle.", ["count"]), null);
    const { pairs, stats } = corruptItems([item("Small.", "a"), item("A small red circle.", "b"), item("", "c")], { ops: ["object"], edits: 2, seed: 0 });
    assert.deepEqual(
      pairs.map((p) => p.id),
      ["b/c0"],
    );
    assert.deepEqual(stats, { prompts: 3, pairs: 1, skipped: 1, no_answer: 1, short: 1, edits: { object: 1 } });
  });
});

describe("on a whole world", () => {
  const items = [...generateItems(worldOptions({ split: "train", count: 400, seed: 9, image_size: 16 }))].map((g) => g.item);
  const all: CorruptOptions = { ops: ["object", "color", "count", "position"], edits: 2, seed: 5 };

  test("the rejected answer always differs; only size answers are skipped", () => {
    const { pairs, stats } = corruptItems(items, all);
    assert.equal(stats.pairs + stats.skipped, items.length);
    for (const p of pairs) {
      assert.notEqual(p.rejected, p.chosen);
      assert.equal(p.chosen, p.item.answer);
      assert.equal(p.id, `${p.item.id}/c0`);
      assert.equal(p.source.kind, "corrupt");
    }
    const skipped = items.filter((it) => !pairs.some((p) => p.item.id === it.id));
    for (const it of skipped) assert.equal(it.kind, "size", it.answer);
  });

  test("seeded, per item: the same seed gives the same pairs in any order; another seed others", () => {
    const a = corruptItems(items, all).pairs;
    assert.deepEqual(corruptItems(items, all).pairs, a);
    const reversed = corruptItems([...items].reverse(), all).pairs;
    const byId = (ps: PairRecord[]) => Object.fromEntries(ps.map((p) => [p.id, p.rejected]));
    assert.deepEqual(byId(reversed), byId(a));
    assert.notDeepEqual(byId(corruptItems(items, { ...all, seed: 6 }).pairs), byId(a));
  });

  test("the grounded rater sees the injected hallucinations", () => {
    const { pairs } = corruptItems(items, { ...all, edits: 1 });
    for (const p of pairs) {
      const before = gradeResponse(p.item, p.chosen);
      const afterEdit = gradeResponse(p.item, p.rejected);
      assert.ok(afterEdit.correctness < before.correctness, `${p.item.id}: ${p.chosen} → ${p.rejected}`);
    }
  });
});

describe("the command hook", () => {
  const items = [item("A small red circle.", "a-1"), { ...item("Skip.", "a-2"), image: null }, item("", "a-3"), item("Yes.", "a-4")];

  test("a well-behaved editor: one process, replies validated, null skips, cwd is the .align file's directory", async () => {
    const done: number[] = [];
    const { pairs, stats } = await corruptWithCommand(items, { argv: [process.execPath, "upper.mjs"], cwd: editors, onItem: (n) => done.push(n) });
    assert.deepEqual(
      pairs.map((p) => [p.id, p.chosen, p.rejected]),
      [
        ["a-1/c0", "A small red circle.", "A SMALL RED CIRCLE."],
        ["a-4/c0", "Yes.", "YES."],
      ],
    );
    assert.deepEqual(pairs[0]?.source, {
      kind: "corrupt",
      edits: [
        { op: "upper", from: "A small red circle.", to: "A SMALL RED CIRCLE." },
        { op: "cwd-ok", from: "", to: "image" },
      ],
      command: [process.execPath, "upper.mjs"],
    });
    assert.deepEqual(stats, { prompts: 4, pairs: 2, skipped: 1, no_answer: 1, short: 0, edits: { upper: 2, "cwd-ok": 2 } });
    assert.deepEqual(done, [1, 2, 3, 4]);
  });

  test("an editor that prints garbage: an error naming the item and stderr's tail", async () => {
    await assert.rejects(corruptWithCommand(items, { argv: [process.execPath, "garbage.mjs"], cwd: editors }), (e: Error) => {
      assert.match(e.message, /failed on item a-1/);
      assert.match(e.message, /not JSON: "hello, I am not JSON"/);
      assert.match(e.message, /garbage editor: starting up/);
      return true;
    });
  });

  test("an editor that dies: the item it died on, its exit code and stderr", async () => {
    await assert.rejects(corruptWithCommand(items, { argv: [process.execPath, "crash.mjs"], cwd: editors }), (e: Error) => {
      assert.match(e.message, /failed on item a-2: it exited with code 3/);
      assert.match(e.message, /editor: cannot handle a-2/);
      return true;
    });
  });

  test("a program that cannot start, or that answers too slowly", async () => {
    await assert.rejects(corruptWithCommand(items, { argv: ["alignc-no-such-editor-program"], cwd: editors }), /item a-1: it could not be started/);
    await assert.rejects(
      corruptWithCommand(items, {
        argv: [process.execPath, "-e", "process.stdin.resume(); process.stdin.on('end', () => process.exit(0))"],
        cwd: editors,
        timeoutMs: 200,
      }),
      /item a-1: it did not reply within 0.2s/,
    );
  });

  test("reply validation", () => {
    assert.deepEqual(parseEditorReply('{"id":"x","rejected":"B."}', "x", "A."), { rejected: "B.", edits: [] });
    assert.deepEqual(parseEditorReply('{"id":"x","rejected":null}', "x", "A."), { rejected: null, edits: [] });
    assert.match(parseEditorReply('{"id":"y","rejected":"B."}', "x", "A.") as string, /id "y" while item "x"/);
    assert.match(parseEditorReply('{"id":"x","rejected":"A."}', "x", "A.") as string, /unchanged/);
    assert.match(parseEditorReply('{"id":"x","rejected":""}', "x", "A.") as string, /non-empty string/);
    assert.match(parseEditorReply('{"id":"x","rejected":"B.","edits":[1]}', "x", "A.") as string, /edits/);
    assert.match(parseEditorReply("[1]", "x", "A.") as string, /not a JSON object/);
  });
});

const corruptContext = (params: Record<string, unknown>, input: string, out: string, entryDir: string) =>
  fakeContext({ node: graphNode("stage.corrupt", params, "corrupted"), inputs: { prompts: input }, out, entryDir });

describe("stage.corrupt", () => {
  const world = path.join(dir, "world");
  writeWorld(world, worldOptions({ split: "train", count: 12, seed: 2, image_size: 16 }));

  test("rules: pairs with their images, stats in the summary", async () => {
    const out = path.join(dir, "rules");
    const summary = await runExecutor(stageCorrupt, corruptContext({ ops: ["object", "color", "count", "position"], edits: 1, seed: 3 }, world, out, dir));
    const data = readDataset(out);
    assert.equal(data.kind, "pairs");
    assert.equal(summary.pairs, data.records.length);
    assert.equal(summary.prompts, 12);
    for (const p of data.records as PairRecord[]) assert.notEqual(p.chosen, p.rejected);
  });

  test("command: the editor runs in the entry directory", async () => {
    const out = path.join(dir, "command");
    const summary = await runExecutor(
      stageCorrupt,
      corruptContext({ command: [process.execPath, "upper.mjs"], ops: ["object"], edits: 1, seed: 0 }, world, out, editors),
    );
    assert.equal(summary.pairs, 12);
    const data = readDataset(out).records as PairRecord[];
    assert.ok(data.every((p) => p.rejected === p.chosen.toUpperCase()));
    const digest = externalDigest(stageCorrupt, graphNode("stage.corrupt", { command: ["node", "upper.mjs"] }), editors);
    assert.match(digest ?? "", /^[0-9a-f]{64}$/);
  });

  test("a failing editor fails the node with the item id", async () => {
    await assert.rejects(
      runExecutor(stageCorrupt, corruptContext({ command: [process.execPath, "garbage.mjs"] }, world, path.join(dir, "garbage"), editors)),
      (e: Error) => e.name === "NodeError" && /failed on item train-000000/.test(e.message),
    );
  });
});
