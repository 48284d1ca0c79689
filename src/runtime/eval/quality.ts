// The `quality` metric: a rater scores every answer of a model (Li et al. 2024's judge-style scores, by default the
// built-in grounded rater's five aspects on 0..4), and the scores are averaged per aspect over all items and per
// task; the describe items' means are the description quality. Items the rater could not score (the grounded rater
// cannot grade an item without the ground truth its task needs; a command rater may fail an item for good) are left
// out of the means and counted.
import path from "node:path";
import { GROUNDED_ASPECTS } from "../../graph/vocabulary.ts";
import type { RatingInfo } from "../data/prefdata/records.ts";
import { createGroundedRater } from "../raters/grounded.ts";
import type { ItemFailure, RaterReply, RaterRequest, RaterRuntime } from "../raters/types.ts";
import type { WorldItem } from "../world/format.ts";

/** Mean score per aspect over `n` rated answers; `means` is empty when n is 0. */
export interface QualityMeans {
  n: number;
  means: Record<string, number>;
}

export interface QualityReport {
  /** The rater's declaration (node id), or "grounded" for the built-in default. */
  rater: string;
  /** Its kind: grounded, command, typescript. */
  kind: string;
  aspects: string[];
  scale: { min: number; max: number };
  /** Every rated answer. */
  all: QualityMeans;
  /** Per task (describe, pope, attribute, count, text) that has items; `describe` is the description quality. */
  byTask: Partial<Record<WorldItem["task"], QualityMeans>>;
  /** Items the rater failed on, left out of the means. */
  failed: number;
  /** The first few failures, with the rater's reasons (without the "item ID:" some raters start them with). */
  failures: { itemId: string; message: string }[];
}

/** Failures kept in a report with their reasons (the count covers all of them). */
export const FAILURES_KEPT = 5;

/** The rating an `evaluate` without a `rater` setting uses: the built-in grounded rater, all five aspects, 0..4. */
export const DEFAULT_QUALITY_RATING: RatingInfo = { rater: "grounded", kind: "grounded", aspects: [...GROUNDED_ASPECTS], scale: { min: 0, max: 4 } };

export function defaultQualityRater(): RaterRuntime {
  return createGroundedRater(DEFAULT_QUALITY_RATING);
}

/** The request for one answer: the item's prompt, its image (absolute), the answer, and the item as ground truth. */
export function answerRequest(item: WorldItem, answer: string, rating: Pick<RatingInfo, "aspects" | "scale">, imageDir = ""): RaterRequest {
  return {
    itemId: item.id,
    prompt: item.prompt,
    imagePath: item.image === null ? null : path.resolve(imageDir, item.image),
    responses: [answer],
    aspects: [...rating.aspects],
    scale: { ...rating.scale },
    ...(item.messages ? { messages: item.messages } : {}),
    groundTruth: item,
  };
}

export interface QualityOptions {
  /** The directory item images are relative to (the dataset's). Default: the current directory. */
  imageDir?: string;
  /** Called with the number of items settled (rated or failed) as they settle. */
  onProgress?: (done: number) => void;
}

function meansOf(aspects: readonly string[], scores: readonly Record<string, number>[]): QualityMeans {
  const means: Record<string, number> = {};
  if (scores.length > 0) for (const a of aspects) means[a] = scores.reduce((s, x) => s + (x[a] as number), 0) / scores.length;
  return { n: scores.length, means };
}

/**
 * Rates each item's prediction (a missing one as an empty answer, as the other metrics read it) in one rate() call
 * and averages the scores. Rejects with whatever the rater throws when it cannot run at all (RaterUnavailable).
 */
export async function qualityReport(
  items: readonly WorldItem[],
  predictions: ReadonlyMap<string, string>,
  rater: RaterRuntime,
  options: QualityOptions = {},
): Promise<QualityReport> {
  const { aspects, scale } = rater.info;
  const requests = items.map((it) => answerRequest(it, predictions.get(it.id) ?? "", rater.info, options.imageDir));
  const replies = new Map<string, RaterReply>();
  const failures: ItemFailure[] = [];
  let settled = 0;
  const returned = await rater.rate(requests, {
    onReply(itemId, reply) {
      replies.set(itemId, reply);
      options.onProgress?.(++settled);
    },
    onFailure(failure) {
      failures.push(failure);
      options.onProgress?.(++settled);
    },
  });
  // Raters report failures through the hook and in their result; count each item once.
  const failedIds = new Set(failures.map((f) => f.itemId));
  for (const f of returned) if (!failedIds.has(f.itemId)) failures.push(f);
  const rated = items.filter((it) => replies.has(it.id));
  const scoresOf = (these: readonly WorldItem[]) => these.map((it) => (replies.get(it.id) as RaterReply).scores[0] as Record<string, number>);
  const byTask: QualityReport["byTask"] = {};
  for (const task of ["describe", "pope", "attribute", "count", "text"] as const) {
    const these = rated.filter((it) => it.task === task);
    if (these.length > 0) byTask[task] = meansOf(aspects, scoresOf(these));
  }
  const order = new Map(items.map((it, i) => [it.id, i]));
  failures.sort((a, b) => (order.get(a.itemId) ?? 0) - (order.get(b.itemId) ?? 0));
  return {
    rater: rater.info.rater,
    kind: rater.info.kind,
    aspects: [...aspects],
    scale: { ...scale },
    all: meansOf(aspects, scoresOf(rated)),
    byTask,
    failed: failures.length,
    failures: failures.slice(0, FAILURES_KEPT).map((f) => ({ itemId: f.itemId, message: withoutItem(f) })),
  };
}

/** A failure's message without a leading `item "ID": ` or `item ID: ` (the id is beside it). */
function withoutItem(f: ItemFailure): string {
  for (const prefix of [`item ${JSON.stringify(f.itemId)}`, `item ${f.itemId}`])
    if (f.message.startsWith(prefix) && /^[:\s(]/.test(f.message.slice(prefix.length))) return f.message.slice(prefix.length).replace(/^:\s*/, "").trimStart();
  return f.message;
}
