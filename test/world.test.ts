// The shapes world: the same seed gives a byte-identical directory, other seeds and splits differ and splits
// never share a scene; every answer agrees with the scene graph; the bias knob sets the companion
// co-occurrence rate; options follow the `.align` constructor.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { dataCtors } from "../src/compiler/checker/catalog/data.ts";
import { generateItem, type WorldItem, type WorldOptions, worldOptions } from "../src/runtime/world/index.ts";
import { mentions } from "../src/runtime/world/mentions.ts";
import { DEFAULTS } from "../src/runtime/world/options.ts";
import { type Scene, sampleScene, sceneKey, shapeCount, splitOf } from "../src/runtime/world/scene.ts";
import { negativeCandidates } from "../src/runtime/world/tasks.ts";
import { COMPANION, NUMBER_WORDS, PAIRS, POSITION_PHRASE, SHAPES, type Shape } from "../src/runtime/world/vocab.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import { Rng } from "../src/util/random.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-world-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const opts = (o: Partial<WorldOptions> & Pick<WorldOptions, "split" | "count">): WorldOptions => worldOptions(o);
const items = (o: WorldOptions): WorldItem[] => Array.from({ length: o.count }, (_, i) => generateItem(o, i).item);

/** Every file under `root`, relative path → bytes. */
function snapshot(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(root, { recursive: true }) as string[]) {
    const file = path.join(root, name);
    try {
      out.set(name, readFileSync(file));
    } catch {
      // a directory
    }
  }
  return out;
}

describe("determinism", () => {
  test("the same options write a byte-identical directory", () => {
    const o = opts({ split: "train", count: 120, seed: 7, bias: 0.7 });
    writeWorld(path.join(dir, "a"), o);
    writeWorld(path.join(dir, "b"), o);
    const a = snapshot(path.join(dir, "a"));
    const b = snapshot(path.join(dir, "b"));
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    assert.equal(a.size, 2 + 96, "manifest, items and 96 images (4 of 5 tasks have one)");
    for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name) as Buffer), `${name} differs`);
  });

  test("another seed gives other items; a larger count extends a dataset without changing it", () => {
    const one = items(opts({ split: "train", count: 60, seed: 1 }));
    const two = items(opts({ split: "train", count: 60, seed: 2 }));
    const same = one.filter((it, i) => JSON.stringify(it) === JSON.stringify(two[i])).length;
    assert.ok(same < 6, `${same} of 60 items equal across seeds`);
    assert.deepEqual(items(opts({ split: "train", count: 90, seed: 1 })).slice(0, 60), one);
  });

  test("splits never share a scene or a text prompt, whatever their seeds", () => {
    const keys = (split: WorldOptions["split"], seed: number) => {
      const its = items(opts({ split, count: 400, seed, max_objects: 2 }));
      for (const it of its) assert.equal(it.split, split);
      return new Set(its.map((it) => (it.scene ? sceneKey(it.scene) : `text: ${it.prompt}`)));
    };
    const train = keys("train", 1);
    const val = keys("val", 1);
    const test = keys("test", 2);
    for (const [a, b] of [
      [train, val],
      [train, test],
      [val, test],
    ] as const)
      assert.equal([...a].filter((k) => b.has(k)).length, 0);
  });

  test("the split partition is about 80/10/10", () => {
    const rng = new Rng(3);
    const counts = { train: 0, val: 0, test: 0 };
    for (let i = 0; i < 3000; i++) counts[splitOf(sceneKey(sampleScene(rng, 4, 0.5)))]++;
    assert.ok(Math.abs(counts.train / 3000 - 0.8) < 0.04 && Math.abs(counts.test / 3000 - 0.1) < 0.03, JSON.stringify(counts));
  });
});

/** The number a number word (with a capital and a full stop) stands for. */
const num = (answer: string): number => NUMBER_WORDS.indexOf(answer.toLowerCase().replace(/\.$/, "") as (typeof NUMBER_WORDS)[number]);
const word = (answer: string): string => answer.toLowerCase().replace(/\.$/, "");
const objectsOf = (scene: Scene) => scene.objects.map((o) => `${o.size} ${o.color} ${o.shape}`).sort();

const CORNERS: Record<string, number> = { circle: 0, triangle: 3, square: 4, diamond: 4, star: 10, cross: 12 };
const MIXES: Record<string, string> = { "red yellow": "orange", "blue yellow": "green", "blue red": "purple" };

/** The answer to a text-only prompt, worked out here without the generator's code. */
function solve(prompt: string): string | number {
  const n = (w = "") => NUMBER_WORDS.indexOf(w as (typeof NUMBER_WORDS)[number]);
  const rules: [RegExp, (m: string[]) => string | number | undefined][] = [
    [/^What is (\w+) (plus|minus) (\w+)\?$/, ([, a, op, b]) => (op === "plus" ? n(a) + n(b) : n(a) - n(b))],
    [/^What number comes (after|before) (\w+)\?$/, ([, dir, a]) => n(a) + (dir === "after" ? 1 : -1)],
    [/^Which is (larger|smaller), (\w+) or (\w+)\?$/, ([, dir, a, b]) => (dir === "larger" ? Math.max : Math.min)(n(a), n(b))],
    [/^How many corners does a (\w+) have\?$/, ([, shape]) => CORNERS[shape ?? ""]],
    [/^What color do you get when you mix (\w+) and (\w+)\?$/, ([, a, b]) => MIXES[[a, b].sort().join(" ")]],
    [/^Say these words in reverse order: (.+)\.$/, ([, ws]) => ws?.split(" ").reverse().join(" ")],
  ];
  for (const [re, solveIt] of rules) {
    const m = re.exec(prompt);
    const answer = m ? solveIt([...m]) : undefined;
    if (answer !== undefined) return answer;
  }
  throw new Error(`no rule solves the text prompt ${JSON.stringify(prompt)}`);
}

describe("ground truth", () => {
  const all = [
    ...items(opts({ split: "train", count: 1500, seed: 11, bias: 0.6, max_objects: 6 })),
    ...items(opts({ split: "test", count: 300, seed: 12, bias: 0.9, max_objects: 12, image_size: 16 })),
  ];
  const of = (task: string) => all.filter((it) => it.task === task);

  test("a caption mentions exactly the scene's objects, with their sizes, colours and places", () => {
    for (const it of of("describe")) {
      const scene = it.scene as Scene;
      const said = mentions(it.answer);
      assert.deepEqual(said.map((m) => `${m.size} ${m.color} ${m.shape}`).sort(), objectsOf(scene), it.answer);
      assert.ok(!said.some((m) => m.negated));
      assert.equal(num(/There (?:is|are) (\w+)/.exec(it.answer)?.[1] ?? ""), scene.objects.length);
      for (const o of scene.objects) assert.ok(it.answer.includes(`${o.shape} is ${POSITION_PHRASE[o.position]}`), it.answer);
    }
  });

  test("POPE positives are present, negatives absent and from their split's candidates", () => {
    const seen = { yes: 0, no: 0 };
    for (const it of of("pope")) {
      const scene = it.scene as Scene;
      const [m, ...more] = mentions(it.prompt);
      assert.ok(m && more.length === 0 && m.color, it.prompt);
      const yes = it.answer === "Yes.";
      seen[yes ? "yes" : "no"]++;
      if (yes)
        assert.ok(
          scene.objects.some((o) => o.shape === m.shape && o.color === m.color),
          it.prompt,
        );
      else {
        assert.equal(it.answer, "No.");
        assert.equal(shapeCount(scene, m.shape), 0, it.prompt);
        assert.ok(negativeCandidates(scene, it.negative ?? "random").includes(m.shape));
        if (it.negative === "adversarial")
          assert.ok(shapeCount(scene, COMPANION[m.shape]) > 0, "an adversarial negative is the absent companion of a present object");
      }
    }
    assert.ok(Math.abs(seen.yes - seen.no) < 0.2 * (seen.yes + seen.no), JSON.stringify(seen));
  });

  test("counting answers equal the scene's counts", () => {
    for (const it of of("count")) {
      const scene = it.scene as Scene;
      const n = num(it.answer);
      if (it.kind === "count_all") assert.equal(n, scene.objects.length);
      else if (it.kind === "count_shape") assert.equal(n, shapeCount(scene, mentions(it.prompt)[0]?.shape as Shape), it.prompt);
      else assert.equal(n, scene.objects.filter((o) => it.prompt.includes(` ${o.color} `)).length, it.prompt);
    }
    assert.ok(
      of("count").some((it) => it.answer === "Zero."),
      "some counting questions have the answer zero",
    );
  });

  test("attribute answers describe the one object the question names", () => {
    for (const it of of("attribute")) {
      const objs = (it.scene as Scene).objects;
      const m = mentions(it.prompt)[0];
      const match = objs.filter((o) =>
        it.kind === "shape" ? it.prompt.includes(POSITION_PHRASE[o.position]) : o.shape === m?.shape && (!m?.color || o.color === m.color),
      );
      assert.equal(match.length, 1, `${it.prompt} names one object`);
      const o = match[0] as Scene["objects"][number];
      const expected = { color: o.color, shape: o.shape, size: o.size, position: POSITION_PHRASE[o.position] }[it.kind];
      assert.equal(word(it.answer), expected, it.prompt);
    }
  });

  test("text-only answers are right", () => {
    for (const it of of("text")) {
      assert.equal(it.image, null);
      assert.equal(it.scene, null);
      const expected = solve(it.prompt);
      assert.equal(typeof expected === "number" ? num(it.answer) : word(it.answer), expected, it.prompt);
    }
    assert.deepEqual(new Set(of("text").map((it) => it.kind)), new Set(["arithmetic", "successor", "compare", "corners", "mix", "reverse"]));
  });

  test("tasks take turns and POPE items take turns over the negative splits", () => {
    const o = opts({ split: "train", count: 30, tasks: ["pope", "text"], negatives: ["adversarial", "popular"] });
    const its = items(o);
    assert.deepEqual(
      its.map((it) => it.task),
      its.map((_, i) => (i % 2 === 0 ? "pope" : "text")),
    );
    assert.deepEqual(
      its.filter((it) => it.task === "pope").map((it) => it.negative),
      Array.from({ length: 15 }, (_, i) => (i % 2 === 0 ? "adversarial" : "popular")),
    );
  });
});

describe("the bias knob", () => {
  /** Over scenes of at least two objects: the share of companion pairs present at all that are present in full. */
  function companionRate(bias: number, n: number): { rate: number; pairs: number } {
    const rng = new Rng(2024).fork(`bias ${bias}`);
    let touched = 0;
    let both = 0;
    for (let i = 0; i < n; i++) {
      const scene = sampleScene(rng, 4, bias);
      if (scene.objects.length < 2) continue;
      for (const [a, b] of PAIRS) {
        const ha = shapeCount(scene, a) > 0;
        const hb = shapeCount(scene, b) > 0;
        if (ha || hb) touched++;
        if (ha && hb) both++;
      }
    }
    return { rate: both / touched, pairs: touched };
  }

  for (const bias of [0, 0.3, 0.8, 1]) {
    test(`bias ${bias}: the companion co-occurrence rate is ${bias} within sampling error`, () => {
      const { rate, pairs } = companionRate(bias, 2000);
      const se = Math.sqrt((bias * (1 - bias)) / pairs);
      assert.ok(Math.abs(rate - bias) <= 4 * se, `rate ${rate.toFixed(4)} over ${pairs} pairs, expected ${bias} ± ${(4 * se).toFixed(4)}`);
    });
  }

  test("the generated describe items carry the bias through", () => {
    const rate = (bias: number) => {
      const scenes = items(opts({ split: "train", count: 600, seed: 5, bias, tasks: ["describe"] }))
        .map((it) => it.scene as Scene)
        .filter((s) => s.objects.length >= 2);
      const pairs = scenes.flatMap((s) => PAIRS.map(([a, b]) => [shapeCount(s, a) > 0, shapeCount(s, b) > 0]).filter(([x, y]) => x || y));
      return pairs.filter(([x, y]) => x && y).length / pairs.length;
    };
    const low = rate(0.1);
    const high = rate(0.9);
    assert.ok(low < 0.2 && high > 0.8, `rates ${low.toFixed(3)} and ${high.toFixed(3)}`);
  });

  test("popular shapes are drawn more often than rare ones", () => {
    const rng = new Rng(9);
    const counts = new Map<Shape, number>(SHAPES.map((s) => [s, 0]));
    for (let i = 0; i < 2000; i++) for (const o of sampleScene(rng, 4, 0).objects) counts.set(o.shape, (counts.get(o.shape) ?? 0) + 1);
    assert.ok((counts.get("circle") as number) > 3 * (counts.get("cross") as number), JSON.stringify([...counts]));
  });
});

describe("options", () => {
  test("match the settings of the .align constructor shapes: names and defaults", () => {
    const shapes = dataCtors.find((c) => c.name === "shapes");
    assert.ok(shapes);
    assert.deepEqual(Object.keys(shapes.fields).sort(), ["split", "count", ...Object.keys(DEFAULTS)].sort());
    const plain = (v: unknown): unknown => {
      const x = v as { k: string; v?: unknown; name?: string; items?: unknown[] };
      return x.k === "list" ? x.items?.map(plain) : x.k === "symbol" ? x.name : x.v;
    };
    for (const [key, value] of Object.entries(DEFAULTS)) assert.deepEqual(plain(shapes.fields[key]?.default), value, key);
  });

  test("a data.shapes node's params are accepted as they are; bad values name the option", () => {
    const params = { bias: 0.8, count: 10, image_size: 32, max_objects: 4, negatives: ["random"], seed: 0, split: "train", tasks: ["describe", "text"] };
    assert.equal(worldOptions(params).bias, 0.8);
    assert.throws(() => worldOptions({ ...params, image_size: 8 }), /image_size must be an integer in 16…512, got 8/);
    assert.throws(() => worldOptions({ ...params, split: "dev" }), /split must be one of train, val, test/);
    assert.throws(() => worldOptions({ ...params, tasks: ["describe", "describe"] }), /tasks must be a non-empty list of distinct values/);
    assert.throws(() => worldOptions({ ...params, colour: 1 }), /colour is not an option/);
  });
});
