// Reading a world dataset directory back: a generated one loads clean and equal to what was generated; each
// kind of damage is reported with the file, the line of items.jsonl and what is wrong.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { formatProblem, generateItem, readWorld, type WorldItem, worldOptions, writeWorld } from "../src/runtime/world/index.ts";

const root = mkdtempSync(path.join(tmpdir(), "alignc-world-read-"));
after(() => rmSync(root, { recursive: true, force: true }));

const options = worldOptions({ split: "train", count: 20, seed: 4 });
const clean = path.join(root, "clean");
writeWorld(clean, options);

let copies = 0;
/** A copy of the clean directory, damaged by `edit` (which gets the directory and its parsed items). */
function damaged(edit: (dir: string, items: Record<string, unknown>[]) => Record<string, unknown>[] | undefined): string[] {
  const dir = path.join(root, `copy${copies++}`);
  cpSync(clean, dir, { recursive: true });
  const file = path.join(dir, "items.jsonl");
  const items = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const out = edit(dir, items);
  if (out) writeFileSync(file, `${out.map((it) => (typeof it === "string" ? it : JSON.stringify(it))).join("\n")}\n`);
  return readWorld(dir)
    .problems.map(formatProblem)
    .map((p) => p.replaceAll(dir, "DIR"));
}

const textItem = (items: Record<string, unknown>[]) => items.findIndex((it) => it.task === "text");
const popeItem = (items: Record<string, unknown>[]) => items.findIndex((it) => it.task === "pope");

describe("reading a world directory", () => {
  test("a generated directory loads clean, equal to the generated items", () => {
    const { manifest, items, problems } = readWorld(clean);
    assert.deepEqual(problems, []);
    assert.equal(manifest?.options.seed, 4);
    assert.deepEqual(
      items,
      Array.from({ length: 20 }, (_, i): WorldItem => generateItem(options, i).item),
    );
  });

  test("a line that is not JSON, or not an object", () => {
    assert.deepEqual(
      damaged((_, items) => {
        items[2] = "{oops" as unknown as Record<string, unknown>;
        items[4] = [1, 2] as unknown as Record<string, unknown>;
        return items;
      }).map((p) => p.replace(/not valid JSON: .*/, "not valid JSON")),
      ["DIR/items.jsonl:3: not valid JSON", "DIR/items.jsonl:5: must be a JSON object, got an array"],
    );
  });

  test("missing and mistyped fields name the field and the line", () => {
    const problems = damaged((_, items) => {
      delete items[0]?.answer;
      (items[1] as Record<string, unknown>).task = "caption";
      (items[3] as Record<string, unknown>).id = items[2]?.id;
      (items[5] as Record<string, unknown>).split = "test";
      return items;
    });
    assert.deepEqual(problems, [
      "DIR/items.jsonl:1: field 'answer' is missing",
      `DIR/items.jsonl:2: field 'task' must be one of describe, pope, attribute, count, text, got "caption"`,
      "DIR/items.jsonl:4: id 'train-000002' was already used on line 3; ids must be unique",
      "DIR/items.jsonl:6: split is 'test', but the manifest says this is the train split",
    ]);
  });

  test("scene graphs, text items and POPE items are checked", () => {
    let pope = -1;
    let text = -1;
    const problems = damaged((_, items) => {
      (items[0]!.scene as { objects: Record<string, unknown>[] }).objects[0] = {
        shape: "hexagon",
        color: "red",
        size: "small",
        position: "top",
        x: 0,
        y: 0,
        r: 0.1,
      };
      text = textItem(items);
      (items[text] as Record<string, unknown>).image = "images/x.png";
      pope = popeItem(items);
      const it = items[pope] as Record<string, unknown>;
      it.answer = it.answer === "Yes." ? "No." : "Yes.";
      return items;
    });
    assert.equal(
      problems[0],
      `DIR/items.jsonl:1: scene.objects[0].shape must be one of circle, square, star, heart, triangle, moon, diamond, cross, got "hexagon"`,
    );
    assert.equal(problems[1], `DIR/items.jsonl:${pope + 1}: ${problems[1]?.split(": ").slice(1).join(": ")}`);
    assert.match(problems[1] ?? "", /answer is '(yes|no)' but the scene (holds a|has no) \w+ \w+/);
    assert.equal(problems[2], `DIR/items.jsonl:${text + 1}: field 'image' must be null for a text item, got "images/x.png"`);
  });

  test("images: missing, outside the directory, not a PNG, the wrong size", () => {
    const problems = damaged((dir, items) => {
      unlinkSync(path.join(dir, items[0]?.image as string));
      (items[1] as Record<string, unknown>).image = "../elsewhere.png";
      writeFileSync(path.join(dir, items[2]?.image as string), "not a png");
      const big = generateItem(worldOptions({ ...options, image_size: 64 }), 3);
      writeFileSync(path.join(dir, items[3]?.image as string), big.png as Buffer);
      return items;
    });
    assert.equal(problems.length, 4);
    assert.equal(
      problems[0],
      "DIR/items.jsonl:1: error[ALN6001]: image images/train-000000.png does not exist (looked for DIR/images/train-000000.png); check the path (image paths are relative to the images root)",
    );
    assert.equal(problems[1], `DIR/items.jsonl:2: image path "../elsewhere.png" must be relative to the dataset directory and stay inside it`);
    assert.match(problems[2] ?? "", /^DIR\/items\.jsonl:3: error\[ALN6005\]: image images\/train-000002\.png is not a readable PNG, JPEG or WebP image: /);
    assert.equal(problems[3], "DIR/items.jsonl:4: image images/train-000003.png is 64×64, but the manifest's image_size is 48");
  });

  test("the manifest: missing, another format, a newer version, counts that disagree", () => {
    assert.deepEqual(
      damaged((dir) => {
        unlinkSync(path.join(dir, "manifest.json"));
        return undefined;
      }),
      ["DIR/manifest.json: missing: a world dataset directory holds manifest.json, items.jsonl and images/ (see docs/world.md)"],
    );
    const edit = (change: (m: Record<string, unknown>) => void) =>
      damaged((dir) => {
        const file = path.join(dir, "manifest.json");
        const m = JSON.parse(readFileSync(file, "utf8"));
        change(m);
        writeFileSync(file, JSON.stringify(m));
        return undefined;
      });
    assert.deepEqual(
      edit((m) => {
        m.version = 2;
      }),
      ["DIR/manifest.json: version 2 was written by a newer alignc; upgrade alignc (this alignc reads version 1)"],
    );
    assert.deepEqual(
      edit((m) => {
        m.format = "coco";
      }),
      [`DIR/manifest.json: format must be "alignc-world", got "coco"`],
    );
    assert.deepEqual(
      edit((m) => {
        (m.options as Record<string, unknown>).image_size = 4;
      }),
      ["DIR/manifest.json: options: image_size must be an integer in 16…512, got 4"],
    );
    assert.deepEqual(
      damaged((_, items) => items.slice(0, 19)),
      ["DIR/manifest.json: counts.items is 20, but items.jsonl holds 19 items", "DIR/manifest.json: counts.tasks.text is 4, but items.jsonl holds 3"],
    );
  });
});
