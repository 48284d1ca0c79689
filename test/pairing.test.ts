// Pairing (the Li et al. rule and its variations), score expressions, rejection sampling, label flipping, and the
// stage.pair / stage.best / stage.flip executors on a small world dataset rated by the grounded rater.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { ExprTree } from "../src/compiler/values/types.ts";
import { bestIndex, bestOf } from "../src/runtime/data/prefdata/best.ts";
import { corruptItems } from "../src/runtime/data/prefdata/corrupt.ts";
import { recordFields } from "../src/runtime/data/prefdata/fields.ts";
import { type PairOptions, pairIndices, pairRated } from "../src/runtime/data/prefdata/pairing.ts";
import { type PairRecord, type RatedRecord, type RatingInfo, readDataset, writeDataset } from "../src/runtime/data/prefdata/records.ts";
import { evalScore, type ScoreExpr } from "../src/runtime/data/prefdata/score.ts";
import { stageBest } from "../src/runtime/pipeline/executors/stage-best.ts";
import { flipPairs, stageFlip } from "../src/runtime/pipeline/executors/stage-flip.ts";
import { stagePair } from "../src/runtime/pipeline/executors/stage-pair.ts";
import { createGroundedRater, GROUNDED_ASPECTS } from "../src/runtime/raters/grounded.ts";
import type { RaterReply } from "../src/runtime/raters/types.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import { mulberry32 } from "../src/util/random.ts";
import { fakeContext, graphNode, runExecutor } from "./support/exec-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-pairing-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const Q: ScoreExpr = { text: "q", tree: { op: "name", name: "q" } };
const rating: RatingInfo = { rater: "judge", kind: "grounded", aspects: ["q"], scale: { min: 0, max: 12 } };
const ITEM: WorldItem = { id: "x", split: "train", task: "text", kind: "mix", prompt: "p?", answer: "a.", image: null, scene: null, negative: null };

/** A rated record whose responses score `scores` on aspect q; texts default to r0, r1, … */
function rec(id: string, scores: number[], texts?: string[]): RatedRecord {
  return {
    id,
    item: { ...ITEM, id },
    responses: scores.map((_, i) => ({ text: texts?.[i] ?? `r${i}`, tokens: 1, logprob: null })),
    sampler: null,
    scores: scores.map((q) => ({ q })),
    rationale: null,
  };
}

const options = (o: Partial<PairOptions> = {}): PairOptions => ({
  score: Q,
  margin: 2,
  rejected: "random_below_margin",
  ties: "first",
  per_prompt: 1,
  balance_length: false,
  seed: 0,
  ...o,
});

/** (chosen, rejected) response indices of each pair of one record. */
function pick(scores: number[], o: Partial<PairOptions> = {}, texts?: string[]): [number, number][] | string {
  const { pairs, stats } = pairRated([rec("a", scores, texts)], rating, options(o));
  if (stats.dropped_margin) return "dropped: margin";
  if (stats.dropped_ties) return "dropped: ties";
  return pairs.map((p) => {
    assert.equal(p.source.kind, "rated");
    const s = p.source as Extract<PairRecord["source"], { kind: "rated" }>;
    return [s.chosen, s.rejected];
  });
}

/** Every outcome over seeds 0…n-1. */
function outcomes(scores: number[], o: Partial<PairOptions> = {}, texts?: string[], n = 200): Set<string> {
  const seen = new Set<string>();
  for (let seed = 0; seed < n; seed++) seen.add(JSON.stringify(pick(scores, { ...o, seed }, texts)));
  return seen;
}

describe("score expressions", () => {
  const tree = (text: string): ExprTree => {
    // helpfulness + correctness * 2 - -coherence / 2, as the compiler lowers it
    assert.equal(text, "h + c * 2 - -k / 2");
    return {
      op: "-",
      left: { op: "+", left: { op: "name", name: "h" }, right: { op: "*", left: { op: "name", name: "c" }, right: { op: "num", value: 2 } } },
      right: { op: "/", left: { op: "neg", arg: { op: "name", name: "k" } }, right: { op: "num", value: 2 } },
    };
  };

  test("arithmetic over aspects", () => {
    assert.equal(evalScore(tree("h + c * 2 - -k / 2"), { h: 1, c: 3, k: 4 }), 1 + 6 + 2);
    assert.equal(evalScore({ op: "num", value: 2.5 }, {}), 2.5);
  });

  test("a missing aspect, a division by zero and a comparison are errors", () => {
    assert.throws(() => evalScore({ op: "name", name: "style" }, { q: 1 }), /no score for aspect 'style' \(the rater gave q\)/);
    assert.throws(() => evalScore({ op: "/", left: { op: "num", value: 1 }, right: { op: "name", name: "q" } }, { q: 0 }), /division by zero/);
    assert.throws(() => evalScore({ op: "<", left: { op: "num", value: 1 }, right: { op: "num", value: 2 } }, {}), /not part of a score expression/);
    assert.throws(
      () => pairRated([rec("r1", [1, 2])], rating, options({ score: { text: "style", tree: { op: "name", name: "style" } } })),
      /record r1, response 0: score 'style'/,
    );
  });
});

describe("the Li et al. rule, by hand", () => {
  test("[12, 9, 11, 10], margin 2: chosen 0, rejected uniformly 1 or 3", () => {
    const seen = outcomes([12, 9, 11, 10]);
    assert.deepEqual([...seen].sort(), [JSON.stringify([[0, 1]]), JSON.stringify([[0, 3]])]);
    // Roughly uniform.
    let ones = 0;
    for (let seed = 0; seed < 400; seed++) if ((pick([12, 9, 11, 10], { seed }) as [number, number][])[0]?.[1] === 1) ones++;
    assert.ok(ones > 150 && ones < 250, `${ones} of 400`);
  });

  test("[5, 5, 4, 4], margin 2: dropped (max − min < margin)", () => {
    assert.equal(pick([5, 5, 4, 4]), "dropped: margin");
    assert.equal(pick([7]), "dropped: margin");
    assert.equal(pick([]), "dropped: margin");
  });

  test("margin 0: the rejected must score strictly lower; all equal is dropped", () => {
    assert.equal(pick([3, 3, 3], { margin: 0 }), "dropped: margin");
    assert.deepEqual(pick([3, 3, 2], { margin: 0 }), [[0, 2]]);
  });

  test("the margin is inclusive: best − margin itself may be rejected", () => {
    assert.deepEqual(pick([4, 2], { margin: 2 }), [[0, 1]]);
    assert.equal(pick([4, 3], { margin: 2 }), "dropped: margin");
  });

  test("ties: first takes the lowest index, random either, drop drops the prompt", () => {
    assert.deepEqual(outcomes([4, 9, 9, 1]), new Set([JSON.stringify([[1, 0]]), JSON.stringify([[1, 3]])]));
    const random = [...outcomes([4, 9, 9, 1], { ties: "random" })].map((s) => JSON.parse(s)[0][0]);
    assert.deepEqual(new Set(random), new Set([1, 2]));
    assert.equal(pick([4, 9, 9, 1], { ties: "drop" }), "dropped: ties");
    assert.deepEqual(pick([4, 9, 8, 1], { ties: "drop", rejected: "worst" }), [[1, 3]]);
  });

  test("a prompt both tied and without candidates counts as dropped by margin", () => {
    const { stats } = pairRated([rec("a", [5, 5, 4])], rating, options({ ties: "drop" }));
    assert.equal(stats.dropped_margin, 1);
    assert.equal(stats.dropped_ties, 0);
  });

  test("worst: the lowest score, first on ties; per_prompt k takes the k lowest", () => {
    assert.deepEqual(pick([12, 9, 11, 10], { rejected: "worst" }), [[0, 1]]);
    assert.deepEqual(pick([8, 2, 5, 2], { rejected: "worst" }), [[0, 1]]);
    assert.deepEqual(pick([12, 9, 11, 10, 7], { rejected: "worst", per_prompt: 2 }), [
      [0, 4],
      [0, 1],
    ]);
  });

  test("all_below_margin: one pair per candidate in response order; per_prompt keeps the lowest", () => {
    assert.deepEqual(pick([12, 9, 11, 10, 7], { rejected: "all_below_margin", per_prompt: null }), [
      [0, 1],
      [0, 3],
      [0, 4],
    ]);
    assert.deepEqual(pick([12, 9, 11, 10, 7], { rejected: "all_below_margin", per_prompt: 2 }), [
      [0, 1],
      [0, 4],
    ]);
    assert.deepEqual(pick([12, 9, 11, 10, 7], { rejected: "all_below_margin", per_prompt: 5 }), [
      [0, 1],
      [0, 3],
      [0, 4],
    ]);
  });

  test("random_below_margin with per_prompt > 1: distinct rejected, without replacement", () => {
    for (let seed = 0; seed < 50; seed++) {
      const two = pick([12, 9, 11, 10, 7], { per_prompt: 2, seed }) as [number, number][];
      assert.equal(two.length, 2);
      assert.notEqual(two[0]?.[1], two[1]?.[1]);
      for (const [c, r] of two) {
        assert.equal(c, 0);
        assert.ok([1, 3, 4].includes(r));
      }
      const all = pick([12, 9, 11, 10, 7], { per_prompt: 5, seed }) as [number, number][];
      assert.deepEqual(all.map(([, r]) => r).sort(), [1, 3, 4]);
    }
  });

  test("balance_length: only the candidates nearest the chosen's length in words", () => {
    const texts = ["a b c d e", "a", "a b c d", "a b c d e f", "a b c d e f g h i j k l"];
    const scores = [10, 1, 3, 4, 0];
    // Candidates 1..4 (all ≤ 8); distances to 5 words: 4, 1, 1, 7 → responses 2 and 3.
    assert.deepEqual(outcomes(scores, { balance_length: true }, texts), new Set([JSON.stringify([[0, 2]]), JSON.stringify([[0, 3]])]));
    assert.deepEqual(pick(scores, { balance_length: true, rejected: "worst" }, texts), [[0, 2]]);
    // per_prompt 3: the nearest groups until three are in: {2, 3} then {1}.
    assert.deepEqual(pick(scores, { balance_length: true, rejected: "worst", per_prompt: 3 }, texts), [
      [0, 1],
      [0, 2],
      [0, 3],
    ]);
    // Without it, worst is the longest answer.
    assert.deepEqual(pick(scores, { rejected: "worst" }, texts), [[0, 4]]);
  });

  test("scores that went through arithmetic meet the margin they should", () => {
    const tenth: ScoreExpr = { text: "q / 10", tree: { op: "/", left: { op: "name", name: "q" }, right: { op: "num", value: 10 } } };
    const { pairs } = pairRated([rec("a", [3, 1])], rating, options({ score: tenth, margin: 0.2 }));
    assert.equal(pairs.length, 1);
  });

  test("pairs carry their provenance, ids and texts; stats add up", () => {
    const records = [rec("a", [12, 9, 11, 10], ["best", "w1", "w2", "w3"]), rec("b", [5, 5, 4, 4]), rec("c", [6, 6, 1]), rec("d", [0, 4, 1])];
    const { pairs, stats } = pairRated(records, rating, options({ rejected: "worst", ties: "drop" }));
    assert.deepEqual(stats, { prompts: 4, dropped_margin: 1, dropped_ties: 1, paired: 2, pairs: 2, mean_margin: (3 + 4) / 2 });
    assert.deepEqual(
      pairs.map((p) => p.id),
      ["a/p0", "d/p0"],
    );
    assert.equal(pairs[0]?.chosen, "best");
    assert.equal(pairs[0]?.rejected, "w1");
    assert.deepEqual(pairs[0]?.source, {
      kind: "rated",
      rater: "judge",
      score: "q",
      scores: [12, 9, 11, 10],
      aspects: [{ q: 12 }, { q: 9 }, { q: 11 }, { q: 10 }],
      chosen: 0,
      rejected: 1,
      margin: 2,
    });
    assert.equal(pairs[1]?.item.id, "d");
  });
});

describe("properties over random score tables", () => {
  const rand = mulberry32(1234);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const cases = Array.from({ length: 300 }, (_, k) => {
    const records = Array.from({ length: int(1, 8) }, (_, i) => {
      const n = int(0, 6);
      const texts = Array.from({ length: n }, () => Array.from({ length: int(1, 6) }, () => "w").join(" "));
      return rec(
        `k${k}-${i}`,
        Array.from({ length: n }, () => int(0, 12)),
        texts,
      );
    });
    const o = options({
      margin: [0, 1, 2, 3, 5][int(0, 4)] as number,
      rejected: (["random_below_margin", "worst", "all_below_margin"] as const)[int(0, 2)],
      ties: (["first", "random", "drop"] as const)[int(0, 2)],
      per_prompt: [1, 2, 3, null][int(0, 3)] as number | null,
      balance_length: rand() < 0.5,
      seed: int(0, 1000),
    });
    return { records, o };
  });

  test("every pair meets its margin, its chosen is a best response, its rejected are distinct; drops are right", () => {
    for (const { records, o } of cases) {
      const { pairs, stats } = pairRated(records, rating, o);
      assert.equal(stats.prompts, stats.paired + stats.dropped_margin + stats.dropped_ties);
      const byRecord = new Map<string, PairRecord[]>();
      for (const p of pairs) byRecord.set(p.item.id, [...(byRecord.get(p.item.id) ?? []), p]);
      for (const r of records) {
        const s = r.scores.map((x) => x.q as number);
        const max = Math.max(...s);
        const min = Math.min(...s);
        const mine = byRecord.get(r.id) ?? [];
        const tied = s.filter((x) => x === max).length;
        const possible = s.length > 0 && max - min >= o.margin && max > min;
        if (!possible || (tied > 1 && o.ties === "drop")) {
          assert.equal(mine.length, 0, `${r.id}: no pairs from a dropped prompt`);
          continue;
        }
        assert.ok(mine.length >= 1, `${r.id}: a prompt that can pair gives a pair`);
        const limit = o.per_prompt ?? (o.rejected === "all_below_margin" ? Number.POSITIVE_INFINITY : 1);
        assert.ok(mine.length <= limit);
        const rejected = new Set<number>();
        mine.forEach((p, k) => {
          assert.equal(p.id, `${r.id}/p${k}`);
          const src = p.source as Extract<PairRecord["source"], { kind: "rated" }>;
          assert.equal(s[src.chosen], max, "chosen is the best");
          assert.equal(src.chosen, mine[0] && (mine[0].source as typeof src).chosen, "one chosen per prompt");
          if (o.ties === "first") assert.equal(src.chosen, s.indexOf(max));
          const gap = (s[src.chosen] as number) - (s[src.rejected] as number);
          assert.ok(gap >= o.margin && gap > 0, `gap ${gap} vs margin ${o.margin}`);
          assert.equal(src.margin, o.margin, "the source records the margin setting");
          assert.ok(!rejected.has(src.rejected), "distinct rejected");
          rejected.add(src.rejected);
          assert.equal(p.chosen, r.responses[src.chosen]?.text);
          assert.equal(p.rejected, r.responses[src.rejected]?.text);
        });
        if (o.rejected === "all_below_margin" && o.per_prompt === null && !o.balance_length) {
          assert.equal(mine.length, s.filter((x) => x <= max - o.margin && x < max).length);
        }
      }
    }
  });

  test("deterministic, whatever the order of the records", () => {
    for (const { records, o } of cases.slice(0, 100)) {
      const first = pairRated(records, rating, o);
      assert.deepEqual(pairRated(records, rating, o), first);
      const reversed = pairRated([...records].reverse(), rating, o);
      const byId = (ps: PairRecord[]) => Object.fromEntries(ps.map((p) => [p.id, p]));
      assert.deepEqual(byId(reversed.pairs), byId(first.pairs));
      assert.deepEqual(reversed.stats, first.stats);
    }
  });

  test("pairIndices draws nothing from the stream when nothing is random", () => {
    const rng = () => assert.fail("no randomness needed");
    assert.deepEqual(pairIndices([12, 9, 11, 10], undefined, { margin: 2, rejected: "worst", ties: "random", per_prompt: 1 }, rng), {
      chosen: 0,
      rejected: [1],
    });
  });
});

describe("best (rejection sampling)", () => {
  test("the best response becomes the answer, first on ties; records without responses are skipped", () => {
    assert.equal(bestIndex([1, 3, 3, 2]), 1);
    assert.equal(bestIndex([]), -1);
    const { items, stats } = bestOf([rec("a", [1, 3, 3, 2], ["w", "best", "also", "x"]), rec("b", []), rec("c", [0], ["only"])], Q);
    assert.deepEqual(
      items.map((i) => [i.id, i.answer]),
      [
        ["a", "best"],
        ["c", "only"],
      ],
    );
    assert.equal(items[0]?.task, "text");
    assert.deepEqual(stats, { prompts: 3, kept: 2, skipped: 1, ties: 1, mean_score: 1.5 });
  });
});

describe("flip", () => {
  const pairs = Array.from(
    { length: 10 },
    (_, i): PairRecord => ({
      id: `p${i}`,
      item: { ...ITEM, id: `i${i}` },
      chosen: `good${i}`,
      rejected: `bad${i}`,
      source: { kind: "corrupt", edits: [], command: null },
    }),
  );

  test("exactly round(fraction · n) pairs swap, chosen by seed and id, not order", () => {
    for (const [fraction, n] of [
      [0, 0],
      [0.25, 3],
      [0.5, 5],
      [0.75, 8],
      [1, 10],
    ] as const) {
      const { records, flipped } = flipPairs(pairs, fraction, 3);
      assert.equal(flipped, n);
      assert.equal(records.filter((r) => r.flipped).length, n);
      for (const r of records) assert.equal(r.chosen.startsWith("bad"), r.flipped === true);
      const reversed = flipPairs([...pairs].reverse(), fraction, 3).records;
      assert.deepEqual(
        reversed
          .filter((r) => r.flipped)
          .map((r) => r.id)
          .sort(),
        records
          .filter((r) => r.flipped)
          .map((r) => r.id)
          .sort(),
      );
    }
    const a = flipPairs(pairs, 0.5, 1)
      .records.filter((r) => r.flipped)
      .map((r) => r.id);
    const b = flipPairs(pairs, 0.5, 2)
      .records.filter((r) => r.flipped)
      .map((r) => r.id);
    assert.notDeepEqual(a, b);
  });

  test("a flipped rated pair's response indices swap with its texts", () => {
    const rated: PairRecord = {
      id: "r",
      item: ITEM,
      chosen: "best",
      rejected: "worse",
      source: { kind: "rated", rater: "judge", score: "q", scores: [9, 4], aspects: [{ q: 9 }, { q: 4 }], chosen: 0, rejected: 1, margin: 2 },
    };
    const [flipped] = flipPairs([rated], 1, 0).records as [PairRecord];
    assert.equal(flipped.chosen, "worse");
    assert.deepEqual(flipped.source, { ...rated.source, chosen: 1, rejected: 0 });
    assert.equal(recordFields("pairs", flipped).margin, -5);
    const [back] = flipPairs([flipped], 1, 0).records as [PairRecord];
    assert.deepEqual(back, rated);
  });

  test("flipping twice swaps back", () => {
    const twice = flipPairs(flipPairs(pairs, 1, 0).records, 1, 0).records;
    assert.deepEqual(twice, pairs);
  });
});

// ── executors on a small world ────────────────────────────────────────────────

const stageContext = (kind: string, params: Record<string, unknown>, inputs: Record<string, string>, out: string) =>
  fakeContext({ node: graphNode(kind, params), inputs, out, entryDir: dir });

describe("executors", () => {
  const world = path.join(dir, "world");
  writeWorld(world, worldOptions({ split: "train", count: 20, seed: 4, image_size: 16 }));
  const score: ScoreExpr = {
    text: "helpfulness + correctness + coherence",
    tree: {
      op: "+",
      left: { op: "+", left: { op: "name", name: "helpfulness" }, right: { op: "name", name: "correctness" } },
      right: { op: "name", name: "coherence" },
    },
  };

  test("pair, best and flip over samples rated by the grounded rater", async () => {
    const prompts = readDataset(world);
    assert.equal(prompts.kind, "prompts");
    const items = prompts.records as WorldItem[];
    // Samples: the reference, a corrupted reference, an empty answer and a rambling repetition.
    const corrupted = new Map(
      corruptItems(items, { ops: ["object", "color", "count", "position"], edits: 2, seed: 1 }).pairs.map((p) => [p.item.id, p.rejected]),
    );
    const info: RatingInfo = { rater: "judge", kind: "grounded", aspects: [...GROUNDED_ASPECTS], scale: { min: 0, max: 4 } };
    const rater = createGroundedRater(info);
    const replies = new Map<string, RaterReply>();
    const texts = new Map(items.map((it) => [it.id, [corrupted.get(it.id) ?? "I am not sure", it.answer, "", `${it.answer} ${it.answer}`]]));
    const failures = await rater.rate(
      items.map((it) => ({
        itemId: it.id,
        prompt: it.prompt,
        imagePath: it.image,
        responses: texts.get(it.id) as string[],
        aspects: info.aspects,
        scale: info.scale,
        groundTruth: it,
      })),
      { onReply: (id, r) => replies.set(id, r) },
    );
    assert.deepEqual(failures, []);
    const rated: RatedRecord[] = items.map((it) => ({
      id: it.id,
      item: it,
      responses: (texts.get(it.id) as string[]).map((text) => ({ text, tokens: 1, logprob: null })),
      sampler: null,
      scores: replies.get(it.id)?.scores ?? [],
      rationale: replies.get(it.id)?.rationale ?? null,
    }));
    const ratedDir = path.join(dir, "rated");
    writeDataset(ratedDir, { kind: "rated", records: rated, rating: info });

    const pairsDir = path.join(dir, "pairs");
    const summary = await runExecutor(
      stagePair,
      stageContext(
        "stage.pair",
        { score, margin: 2, chosen: "best", rejected: "worst", ties: "first", per_prompt: 1, balance_length: false, seed: 0 },
        { rated: ratedDir },
        pairsDir,
      ),
    );
    assert.equal(summary.prompts, 20);
    assert.equal(summary.pairs, 20);
    const pairs = readDataset(pairsDir);
    assert.equal(pairs.kind, "pairs");
    for (const p of pairs.records as PairRecord[]) {
      // The reference answer always wins; the worst is the empty answer.
      assert.equal(p.chosen, p.item.answer);
      assert.equal(p.rejected, "");
      if (p.item.image) assert.ok(existsSync(p.item.image), "images travel with the records");
    }

    const bestDir = path.join(dir, "best");
    const bestSummary = await runExecutor(stageBest, stageContext("stage.best", { score }, { rated: ratedDir }, bestDir));
    assert.equal(bestSummary.kept, 20);
    const best = readDataset(bestDir);
    assert.equal(best.kind, "prompts");
    assert.deepEqual(
      (best.records as WorldItem[]).map((i) => [i.id, i.answer]),
      items.map((i) => [i.id, i.answer]),
    );

    const flippedDir = path.join(dir, "flipped");
    const flipSummary = await runExecutor(stageFlip, stageContext("stage.flip", { fraction: 0.25, seed: 1 }, { pairs: pairsDir }, flippedDir));
    assert.deepEqual(flipSummary, { pairs: 20, flipped: 5 });
    const flipped = readDataset(flippedDir).records as PairRecord[];
    assert.equal(flipped.filter((p) => p.flipped && p.chosen === "").length, 5);
  });

  test("a stage given the wrong kind of dataset, or a bad setting, says so", async () => {
    await assert.rejects(runExecutor(stagePair, stageContext("stage.pair", { score }, { rated: world }, path.join(dir, "bad1"))), /pair needs a rated dataset/);
    await assert.rejects(
      runExecutor(stagePair, stageContext("stage.pair", { score, margin: -1 }, { rated: path.join(dir, "rated") }, path.join(dir, "bad2"))),
      /margin: expected a number ≥ 0, got -1/,
    );
    await assert.rejects(
      runExecutor(stageFlip, stageContext("stage.flip", { fraction: 2 }, { pairs: path.join(dir, "pairs") }, path.join(dir, "bad3"))),
      /fraction/,
    );
  });
});
