// The dataset-shaping stages (mix, concat, filter, take, shuffle, split) and the record fields filter uses.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type ExprTree, evaluate, recordFields } from "../src/runtime/data/prefdata/fields.ts";
import type { PairRecord } from "../src/runtime/data/prefdata/records.ts";
import { apportion, concat, filter, mix, permutation, shuffle, split, take } from "../src/runtime/data/prefdata/reshape.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";

const item = (id: string, prompt = "Describe the image.", answer = "A red circle."): WorldItem => ({
  id,
  split: "train",
  task: "describe",
  kind: "caption",
  prompt,
  answer,
  image: `/data/${id}.png`,
  scene: null,
  negative: null,
});

const ratedPair = (id: string, scores: number[], chosen: number, rejected: number): PairRecord => ({
  id,
  item: item(id),
  chosen: "A red circle on the left.",
  rejected: "A blue star.",
  source: { kind: "rated", rater: "judge", score: "q", scores, aspects: scores.map((q) => ({ q })), chosen, rejected, margin: 2 },
});

const n = (value: number): ExprTree => ({ op: "num", value });
const f = (name: string): ExprTree => ({ op: "name", name });
const bin = (op: string, left: ExprTree, right: ExprTree): ExprTree => ({ op, left, right });

test("permutation is a seeded permutation", () => {
  const p = permutation(50, 3);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.deepEqual(permutation(50, 3), p);
  assert.notDeepEqual(permutation(50, 4), p);
});

test("apportion gives integer shares that add up and follow the weights", () => {
  assert.deepEqual(apportion(10, [0.5, 0.5]), [5, 5]);
  assert.deepEqual(apportion(10, [1, 1, 1]), [4, 3, 3]);
  assert.deepEqual(apportion(7, [0.375, 0.625]), [3, 4]);
  for (let t = 0; t < 200; t++) {
    const w = [Math.random(), Math.random(), Math.random()];
    const total = Math.floor(Math.random() * 100);
    const a = apportion(total, w);
    assert.equal(
      a.reduce((x, y) => x + y, 0),
      total,
    );
    const sum = w.reduce((x, y) => x + y, 0);
    for (const [i, k] of a.entries()) assert.ok(Math.abs(k - (total * (w[i] as number)) / sum) < 1 + 1e-9);
  }
});

test("concat keeps order and makes repeated record ids unique without touching item ids", () => {
  const a = [item("a"), item("b")];
  const out = concat([a, [item("b")]]);
  assert.deepEqual(
    out.map((r) => r.id),
    ["a", "b", "b~2"],
  );
  const pairs = concat([[ratedPair("x", [3, 1], 0, 1)], [ratedPair("x", [3, 1], 0, 1)]]);
  assert.deepEqual(
    pairs.map((p) => [p.id, p.item.id]),
    [
      ["x", "x"],
      ["x~2", "x"],
    ],
  );
});

test("mix draws each input's share, without repeats while it has enough records", () => {
  const a = Array.from({ length: 20 }, (_, i) => item(`a${i}`));
  const b = Array.from({ length: 4 }, (_, i) => item(`b${i}`));
  const m = mix([a, b], { weights: [0.75, 0.25], count: 12, seed: 1 });
  assert.deepEqual(m.drawn, [9, 3]);
  assert.equal(m.records.filter((r) => r.id.startsWith("a")).length, 9);
  assert.equal(new Set(m.records.map((r) => r.id)).size, 12);
  assert.deepEqual(m.repeated, [0, 0]);
  const big = mix([a, b], { weights: [0.5, 0.5], count: 20, seed: 1 });
  assert.deepEqual(big.repeated, [0, 6]);
  // The 10 records from b are its 4 records in full passes plus 2 more: every one of them at least twice.
  const fromB = big.records.filter((r) => r.id.startsWith("b")).map((r) => r.id.split("~")[0]);
  for (const id of ["b0", "b1", "b2", "b3"]) assert.ok(fromB.filter((x) => x === id).length >= 2);
  assert.deepEqual(mix([a, b], { weights: [0.75, 0.25], count: 12, seed: 1 }).records, m.records);
  assert.throws(() => mix([a, []], { count: 4, seed: 1 }), /empty/);
});

test("take and shuffle", () => {
  const a = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(take(a, { count: 3, shuffle: false, seed: 0 }), [0, 1, 2]);
  assert.equal(take(a, { fraction: 0.25, shuffle: true, seed: 1 }).length, 3);
  assert.equal(take(a, { fraction: 0.01, shuffle: true, seed: 1 }).length, 1);
  const s = shuffle(a, 5);
  assert.deepEqual(
    [...s].sort((x, y) => x - y),
    a,
  );
  assert.deepEqual(take(a, { count: 4, shuffle: true, seed: 5 }), s.slice(0, 4));
});

test("split: disjoint parts covering everything, sizes by share", () => {
  const a = Array.from({ length: 101 }, (_, i) => i);
  const parts = split(a, { train: 0.9, val: 0.1 }, 2);
  assert.equal(parts.train?.length, 91);
  assert.equal(parts.val?.length, 10);
  assert.deepEqual(
    [...(parts.train ?? []), ...(parts.val ?? [])].sort((x, y) => x - y),
    a,
  );
  assert.deepEqual(split(a, { val: 0.1, train: 0.9 }, 2), parts);
});

test("filter: fields of pairs, NaN for fields a record lacks, logic", () => {
  const pairs = [ratedPair("p1", [10, 4], 0, 1), ratedPair("p2", [6, 5], 0, 1)];
  assert.deepEqual(recordFields("pairs", pairs[0] as PairRecord).margin, 6);
  assert.deepEqual(
    filter("pairs", pairs, bin(">=", f("margin"), n(3))).map((p) => p.id),
    ["p1"],
  );
  // A bdhs-only field is NaN on rated pairs: no comparison holds, not even `!=`.
  assert.deepEqual(filter("pairs", pairs, bin("<", f("similarity"), n(2))), []);
  assert.deepEqual(filter("pairs", pairs, bin("!=", f("similarity"), n(2))), []);
  assert.deepEqual(
    filter("pairs", pairs, bin("or", bin("<", f("similarity"), n(2)), bin("==", f("chosen_score"), n(6)))).map((p) => p.id),
    ["p2"],
  );
  assert.equal(evaluate({ op: "not", arg: n(0) }, {}), 1);
  assert.throws(() => evaluate(f("nope"), { a: 1 }), /no field 'nope'/);
});

test("filter: rated records have one field per aspect, the mean over responses", () => {
  const rated = {
    id: "r",
    item: item("r"),
    responses: [
      { text: "a b c", tokens: 3, logprob: null },
      { text: "a", tokens: 1, logprob: null },
    ],
    sampler: null,
    scores: [
      { helpfulness: 4, correctness: 1 },
      { helpfulness: 2, correctness: 3 },
    ],
    rationale: null,
  };
  const fields = recordFields("rated", rated);
  assert.equal(fields.helpfulness, 3);
  assert.equal(fields.correctness, 2);
  assert.equal(fields.mean_words, 2);
  assert.equal(fields.max_words, 3);
});

test("unique ids never collide with ids already there", () => {
  const ids = concat([[item("a"), item("a~2")], [item("a")], [item("a")]]).map((r) => r.id);
  assert.deepEqual(ids, ["a", "a~2", "a~3", "a~4"]);
  const twice = concat([concat([[item("a")], [item("a")]]), [item("a")]]).map((r) => r.id);
  assert.deepEqual(twice, ["a", "a~2", "a~3"]);
});

test("mix: the default count counts only inputs that are drawn from", () => {
  const a = Array.from({ length: 5 }, (_, i) => item(`a${i}`));
  const b = Array.from({ length: 3 }, (_, i) => item(`b${i}`));
  const m = mix([a, b], { weights: [1, 0], seed: 1 });
  assert.deepEqual(m.drawn, [5, 0]);
  assert.deepEqual(m.repeated, [0, 0]);
  assert.deepEqual(mix([a, []], { weights: [1, 0], seed: 1 }).drawn, [5, 0]);
});
