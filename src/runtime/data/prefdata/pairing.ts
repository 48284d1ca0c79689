// Preference pairs from rated samples: the pairing rule of Li et al. (2024, §3 of their code), with the variations
// the `pair` constructor offers. docs/preference-data.md ("Pairing") has the rules with a worked example.
//
// Per prompt, with s_i the score expression's value for response i and best = max s_i:
//   1. Candidates for the rejected answer are the responses with s_i ≤ best − margin and s_i < best (strictly lower:
//      this only matters for margin 0, where a response scoring as much as the best is never rejected). No candidate
//      (max − min < margin, or all scores equal) → the prompt is dropped ("dropped by margin"). Comparisons allow
//      1e-9 · max(1, |best|) of rounding, so that 0.3 − 0.2 ≥ 0.1 holds as it should.
//   2. Chosen = a best response. Several tied best: `first` takes the lowest index, `random` one uniformly, `drop`
//      drops the prompt ("dropped by ties"; counted only for prompts that step 1 kept).
//   3. Rejected, from the candidates (the "pool", see balance_length), at most per_prompt pairs:
//      - random_below_margin (Li et al.): uniform; with per_prompt k > 1, k distinct ones, drawn without replacement;
//      - worst: the lowest-scoring one (ties → lowest index); with per_prompt k > 1, the k lowest;
//      - all_below_margin: one pair per candidate, in response order; when there are more than per_prompt, the
//        per_prompt lowest-scoring are kept (ties → lower index). per_prompt null/undefined means no cap here (and 1
//        for the other rules).
//   balance_length: the candidates are ranked by |words(candidate) − words(chosen)| (words: whitespace-separated
//      tokens; ties by index) and the pool is the nearest of them: whole groups of equal distance, nearest first,
//      until the pool holds at least as many as the rule may take (per_prompt, or all for all_below_margin).
//      With per_prompt 1 that is exactly "the candidates whose length is closest to the chosen's".
// Randomness comes from an xoshiro128** stream forked from the seed by the record id (`pair/<id>`), drawn in this
// order: the tie-break (only when `random` has a tie to break), then the rejected draws. A record's pairs therefore do
// not depend on the other records or their order.
import { Rng } from "../../../util/random.ts";
import type { PairRecord, RatedRecord, RatingInfo } from "./records.ts";
import { ScoreError, type ScoreExpr, scoreResponses } from "./score.ts";

export const REJECTED_RULES = ["random_below_margin", "worst", "all_below_margin"] as const;
export const TIE_RULES = ["first", "random", "drop"] as const;

export interface PairOptions {
  score: ScoreExpr;
  margin: number;
  chosen?: "best";
  rejected: (typeof REJECTED_RULES)[number];
  ties: (typeof TIE_RULES)[number];
  /** Most pairs per prompt; null or undefined: 1, except for all_below_margin (no cap). */
  per_prompt?: number | null;
  balance_length: boolean;
  seed: number;
}

export interface PairStats {
  /** Rated records in. */
  prompts: number;
  /** Prompts with no response at least `margin` below the best (and strictly below it). */
  dropped_margin: number;
  /** Prompts with several best responses, under ties: drop. */
  dropped_ties: number;
  /** Prompts that gave at least one pair. */
  paired: number;
  pairs: number;
  /** Mean of score(chosen) − score(rejected) over the pairs (0 without pairs). */
  mean_margin: number;
}

/** Words of a response for balance_length: whitespace-separated tokens. */
export const lengthInWords = (text: string): number => {
  const t = text.trim();
  return t === "" ? 0 : t.split(/\s+/).length;
};

/** Slack for comparisons of scores that went through arithmetic. */
const slack = (best: number): number => 1e-9 * Math.max(1, Math.abs(best));

/** Which responses of one prompt pair up: indices of the chosen and of each rejected, or why none. */
export function pairIndices(
  scores: readonly number[],
  lengths: readonly number[] | undefined,
  o: Pick<PairOptions, "margin" | "rejected" | "ties" | "per_prompt">,
  rng: () => Rng,
): { chosen: number; rejected: number[] } | "margin" | "ties" {
  if (scores.length === 0) return "margin";
  let best = Number.NEGATIVE_INFINITY;
  for (const s of scores) if (s > best) best = s;
  const eps = slack(best);
  const tied: number[] = [];
  const candidates: number[] = [];
  scores.forEach((s, i) => {
    if (s >= best - eps) tied.push(i);
    else if (s <= best - o.margin + eps) candidates.push(i);
  });
  if (candidates.length === 0) return "margin";
  if (tied.length > 1 && o.ties === "drop") return "ties";
  const chosen = o.ties === "random" && tied.length > 1 ? (tied[Math.floor(rng().uniform() * tied.length)] as number) : (tied[0] as number);
  const limit = o.per_prompt ?? (o.rejected === "all_below_margin" ? Number.POSITIVE_INFINITY : 1);
  let pool = candidates;
  if (lengths) {
    const target = lengths[chosen] as number;
    const distance = (i: number) => Math.abs((lengths[i] as number) - target);
    const ranked = [...candidates].sort((a, b) => distance(a) - distance(b) || a - b);
    pool = [];
    for (const i of ranked) {
      if (pool.length >= limit && distance(i) !== distance(pool[pool.length - 1] as number)) break;
      pool.push(i);
    }
    pool.sort((a, b) => a - b);
  }
  const lowest = (k: number) => [...pool].sort((a, b) => (scores[a] as number) - (scores[b] as number) || a - b).slice(0, k);
  let rejected: number[];
  if (o.rejected === "random_below_margin") {
    const k = Math.min(limit, pool.length);
    const bag = [...pool];
    const r = rng();
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(r.uniform() * (bag.length - i));
      [bag[i], bag[j]] = [bag[j] as number, bag[i] as number];
    }
    rejected = bag.slice(0, k);
  } else if (o.rejected === "worst") rejected = lowest(Math.min(limit, pool.length));
  else rejected = pool.length <= limit ? pool : lowest(limit).sort((a, b) => a - b);
  return { chosen, rejected };
}

/** Pairs of every rated record, with per-pair provenance, and what was dropped. */
export function pairRated(records: readonly RatedRecord[], rating: RatingInfo, o: PairOptions): { pairs: PairRecord[]; stats: PairStats } {
  const base = new Rng(o.seed);
  const pairs: PairRecord[] = [];
  const stats: PairStats = { prompts: records.length, dropped_margin: 0, dropped_ties: 0, paired: 0, pairs: 0, mean_margin: 0 };
  let marginSum = 0;
  for (const record of records) {
    if (record.scores.length !== record.responses.length)
      throw new ScoreError(`record ${record.id}: ${record.scores.length} score objects for ${record.responses.length} responses`);
    const scores = scoreResponses(o.score, record.id, record.scores);
    let rng: Rng | undefined;
    const lengths = o.balance_length ? record.responses.map((r) => lengthInWords(r.text)) : undefined;
    const picked = pairIndices(scores, lengths, o, () => {
      rng ??= base.fork(`pair/${record.id}`);
      return rng;
    });
    if (picked === "margin") {
      stats.dropped_margin++;
      continue;
    }
    if (picked === "ties") {
      stats.dropped_ties++;
      continue;
    }
    stats.paired++;
    const { chosen } = picked;
    picked.rejected.forEach((rejected, k) => {
      marginSum += (scores[chosen] as number) - (scores[rejected] as number);
      pairs.push({
        id: `${record.id}/p${k}`,
        item: record.item,
        chosen: (record.responses[chosen] as RatedRecord["responses"][number]).text,
        rejected: (record.responses[rejected] as RatedRecord["responses"][number]).text,
        source: { kind: "rated", rater: rating.rater, score: o.score.text, scores, aspects: record.scores, chosen, rejected, margin: o.margin },
      });
    });
  }
  stats.pairs = pairs.length;
  stats.mean_margin = pairs.length === 0 ? 0 : marginSum / pairs.length;
  return { pairs, stats };
}
