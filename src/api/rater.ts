/**
 * Public API for TypeScript hook raters.
 *
 * A `.align` file may declare `rater r = typescript("raters/my-rater.ts") { export: "rate" }`.
 * The named export of that module must be assignable to {@link Rater}; `alignc check` verifies
 * this at compile time and the runtime calls it with one {@link RaterRequest} per item.
 *
 * Users import it type-only: `import type { Rater } from "alignc/rater"`.
 * Keep this file small, dependency-free and backwards compatible: it is a public contract.
 */

/** One item to rate: a prompt (optionally with an image) and the candidate responses for it. */
export interface RaterRequest {
  /** Stable identifier of the dataset item. */
  itemId: string;
  /** The prompt the responses answer (for a conversation, its last user message). */
  prompt: string;
  /**
   * The conversation the responses continue, when the item is one (a system message and earlier turns included; its
   * last message is the user's `prompt`). Absent for plain-text prompts.
   */
  messages?: Array<{ role: "system" | "user" | "assistant"; content: string }>;
  /** Absolute path of the item's image, or `null` for text-only items. */
  imagePath: string | null;
  /** Candidate responses to score, in order. */
  responses: string[];
  /** Aspect names to score each response on (e.g. `"helpfulness"`). */
  aspects: string[];
  /** Inclusive score range every score must fall in. */
  scale: { min: number; max: number };
  /** Reference answer or labels from the dataset, when it has any. */
  groundTruth?: unknown;
}

/** A rater's answer for one {@link RaterRequest}. */
export interface RaterReply {
  /** One object per response (same order as `request.responses`), mapping aspect name to score. */
  scores: Array<Record<string, number>>;
  /** Optional free-text justification, kept in the run's records. */
  rationale?: string;
}

/** A TypeScript hook rater: scores every response of one item, synchronously or asynchronously. */
export type Rater = (request: RaterRequest) => RaterReply | Promise<RaterReply>;
