// The SFT data order (src/runtime/models/tinyvlm/sft-schedule.ts): padding-minimal length buckets, one bucket equal to
// the plain per-epoch order, runs that never mix buckets, and buckets taking turns in proportion to their size.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bucketLengths, dataOrder, sftSchedule } from "../src/runtime/models/tinyvlm/sft-schedule.ts";
import { Rng } from "../src/util/random.ts";

/** Padded positions of `lengths` under `buckets` (each example padded to the first bucket that holds it). */
const padded = (lengths: number[], buckets: number[]) => lengths.reduce((a, l) => a + (buckets.find((b) => l <= b) as number), 0);

/** Every way to choose at most `most` bucket lengths from the distinct lengths (the longest always included). */
function* choices(distinct: number[], most: number): Generator<number[]> {
  const inner = distinct.slice(0, -1);
  for (let mask = 0; mask < 1 << inner.length; mask++) {
    const pick = inner.filter((_, i) => mask & (1 << i));
    if (pick.length < most) yield [...pick, distinct.at(-1) as number];
  }
}

test("bucket lengths pad as little as any choice of at most N buckets with enough examples each", () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 40; trial++) {
    const lengths = Array.from({ length: 20 + Math.floor(rng.uniform() * 40) }, () => 8 * (1 + Math.floor(rng.uniform() * 6)));
    const most = 1 + Math.floor(rng.uniform() * 4);
    const minSize = 1 + Math.floor(rng.uniform() * 10);
    const got = bucketLengths(lengths, most, minSize);
    assert.ok(got.length <= most);
    assert.equal(got.at(-1), Math.max(...lengths), "the last bucket holds the longest example");
    const sizes = got.map((b, i) => lengths.filter((l) => l <= b && (i === 0 || l > (got[i - 1] as number))).length);
    const distinct = [...new Set(lengths)].sort((a, b) => a - b);
    let best = Number.POSITIVE_INFINITY;
    for (const c of choices(distinct, most)) {
      const ok = c.every((b, i) => lengths.filter((l) => l <= b && (i === 0 || l > (c[i - 1] as number))).length >= minSize);
      if (ok) best = Math.min(best, padded(lengths, c));
    }
    if (best === Number.POSITIVE_INFINITY) assert.deepEqual(got, [Math.max(...lengths)]);
    else {
      assert.ok(
        sizes.every((s) => s >= minSize),
        `bucket sizes ${sizes} below ${minSize}`,
      );
      assert.equal(padded(lengths, got), best, `lengths ${lengths} into ${most}`);
    }
  }
});

test("with one bucket the schedule is the plain per-epoch order, cut into runs of K steps", () => {
  const lengths = [8, 16, 24, 8, 16, 8, 24, 16, 8, 8];
  const runs = sftSchedule(lengths, { perStep: 3, steps: 7, stepsPerRun: 3, buckets: 1, seed: 4 });
  assert.deepEqual(
    runs.map((r) => r.steps),
    [3, 3, 1],
  );
  assert.ok(runs.every((r) => r.length === 24));
  assert.deepEqual(
    runs.flatMap((r) => r.examples),
    dataOrder(10, 21, 4),
  );
});

test("with buckets every run stays in one bucket, each bucket sees its examples once per epoch, and turns follow bucket sizes", () => {
  const lengths = Array.from({ length: 300 }, (_, i) => (i % 4 === 0 ? 56 : 16)); // a quarter long, like captions
  const runs = sftSchedule(lengths, { perStep: 4, steps: 2000, stepsPerRun: 5, buckets: 3, seed: 1 });
  assert.deepEqual([...new Set(runs.map((r) => r.length))].sort(), [16, 56]);
  for (const r of runs) {
    assert.equal(r.examples.length, r.steps * 4);
    assert.ok(
      r.examples.every((i) => lengths[i] === r.length),
      "a run never mixes buckets",
    );
  }
  // The first 75 examples of the long bucket's stream are one epoch of it: each long example exactly once.
  const long = runs.filter((r) => r.length === 56).flatMap((r) => r.examples);
  assert.deepEqual(
    [...long.slice(0, 75)].sort((a, b) => a - b),
    lengths.flatMap((l, i) => (l === 56 ? [i] : [])),
  );
  const share = runs.filter((r) => r.length === 56).length / runs.length;
  assert.ok(Math.abs(share - 0.25) < 0.05, `long runs ${share}`);
  assert.deepEqual(sftSchedule(lengths, { perStep: 4, steps: 2000, stepsPerRun: 5, buckets: 3, seed: 1 }), runs, "seeded");
});

test("too few examples for a second bucket keep a single one", () => {
  assert.deepEqual(bucketLengths([8, 8, 8, 48], 3, 2), [48]);
  assert.deepEqual(bucketLengths([8, 8, 48, 48], 3, 2), [8, 48]);
});
