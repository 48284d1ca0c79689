// What every rater is at run time: something that scores each response of an item on each aspect, on a scale.
// The `rate` stage (src/runtime/pipeline/executors/stage-rate.ts) builds one RaterRequest per samples record, journals
// each reply as it comes (so a killed run asks again only for what is missing) and writes the rated dataset.
import type { RaterReply, RaterRequest } from "../../api/rater.ts";
import type { RatingInfo } from "../data/prefdata/records.ts";

export type { RaterReply, RaterRequest };

/** An item the rater could not score (after its retries), with the reason and, for programs, their stderr. */
export interface ItemFailure {
  itemId: string;
  message: string;
  stderr?: string;
}

export interface RateHooks {
  /** Called once per item as soon as its reply is complete and valid (in any order). */
  onReply(itemId: string, reply: RaterReply): void;
  /** Called once per item that failed for good. */
  onFailure?(failure: ItemFailure): void;
}

export interface RaterRuntime {
  readonly info: RatingInfo;
  /**
   * Rates every request, calling hooks.onReply for each success as it comes. Resolves with the failures once every
   * request has succeeded or failed for good; it does not stop at the first failure, so every reply that can be
   * obtained is obtained.
   */
  rate(requests: readonly RaterRequest[], hooks: RateHooks): Promise<ItemFailure[]>;
}

/** What is wrong with a reply for `request` (one score object per response, every aspect, integers on the scale), or undefined. */
export function checkReply(request: RaterRequest, reply: RaterReply): string | undefined {
  if (!Array.isArray(reply.scores)) return "scores must be a list with one object per response";
  if (reply.scores.length !== request.responses.length)
    return `${reply.scores.length} score object${reply.scores.length === 1 ? "" : "s"} for ${request.responses.length} response${request.responses.length === 1 ? "" : "s"}`;
  const { min, max } = request.scale;
  for (const [i, scores] of reply.scores.entries()) {
    if (typeof scores !== "object" || scores === null || Array.isArray(scores)) return `scores[${i}] must be an object of aspect → score`;
    for (const aspect of request.aspects) {
      const v = scores[aspect];
      if (v === undefined) return `scores[${i}] has no score for aspect '${aspect}'`;
      if (typeof v !== "number" || !Number.isFinite(v)) return `scores[${i}].${aspect} must be a number, got ${JSON.stringify(v)}`;
      if (v < min || v > max) return `scores[${i}].${aspect} = ${v} is outside the scale ${min}..${max}`;
    }
    const extra = Object.keys(scores).filter((k) => !request.aspects.includes(k));
    if (extra.length > 0) return `scores[${i}] has aspects that were not asked for: ${extra.join(", ")}`;
  }
  if (reply.rationale !== undefined && typeof reply.rationale !== "string") return "rationale must be a string when given";
  return undefined;
}
