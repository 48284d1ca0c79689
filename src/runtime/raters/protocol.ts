// alignc's rater protocol (docs/raters.md): the JSONL wire format command raters speak, and the request plan shared
// by every rater that scores through requests (command, typescript): how a mode turns an item into requests, how
// their replies combine into the item's reply, and the driver that runs the requests with retries and reports each
// item as soon as it is complete.
import Ajv, { type ValidateFunction } from "ajv";
import { printableJson } from "../../util/printable.ts";
import type { ItemFailure, RateHooks, RaterReply, RaterRequest } from "./types.ts";
import { checkReply } from "./types.ts";

export const PROTOCOL = "alignc-rater/1";

export type RaterMode = "listwise" | "pairwise" | "pointwise";

// ── wire format ─────────────────────────────────────────────────────────────

/** One request line, written to the program's stdin. */
export interface WireRequest {
  protocol: typeof PROTOCOL;
  /** Unique among the requests of a run; the reply must echo it. */
  id: string;
  item_id: string;
  prompt: string;
  /** Absolute path of the item's image, or null for text-only items. */
  image: string | null;
  responses: string[];
  /** Positions of `responses` among the item's responses (pairwise: two, pointwise: one, listwise: all). */
  indices: number[];
  aspects: string[];
  scale: { min: number; max: number };
  mode: RaterMode;
  /** The conversation the responses continue, when the item is one (its last message is `prompt`). */
  messages?: Array<{ role: string; content: string }>;
  ground_truth?: unknown;
}

/** One reply line on the program's stdout: scores, or an error for a request the program refuses. */
export type WireReply = { id: string; scores: Array<Record<string, number>>; rationale?: string } | { id: string; error: string; retry?: boolean };

/** The request line for one part of an item. */
export function wireRequest(part: Part): WireRequest {
  const r = part.request;
  const wire: WireRequest = {
    protocol: PROTOCOL,
    id: part.id,
    item_id: r.itemId,
    prompt: r.prompt,
    image: r.imagePath,
    responses: r.responses,
    indices: part.indices,
    aspects: r.aspects,
    scale: { min: r.scale.min, max: r.scale.max },
    mode: part.mode,
  };
  if (r.messages !== undefined) wire.messages = r.messages;
  if (r.groundTruth !== undefined) wire.ground_truth = r.groundTruth;
  return wire;
}

export const requestSchema = {
  $id: "https://alignc.dev/schemas/rater-request-1.json",
  type: "object",
  required: ["protocol", "id", "item_id", "prompt", "image", "responses", "indices", "aspects", "scale", "mode"],
  properties: {
    protocol: { const: PROTOCOL },
    id: { type: "string", minLength: 1 },
    item_id: { type: "string" },
    prompt: { type: "string" },
    image: { type: ["string", "null"] },
    responses: { type: "array", items: { type: "string" } },
    indices: { type: "array", items: { type: "integer", minimum: 0 } },
    aspects: { type: "array", items: { type: "string" }, minItems: 1 },
    scale: {
      type: "object",
      required: ["min", "max"],
      properties: { min: { type: "number" }, max: { type: "number" } },
      additionalProperties: false,
    },
    mode: { enum: ["listwise", "pairwise", "pointwise"] },
    messages: {
      type: "array",
      items: {
        type: "object",
        required: ["role", "content"],
        properties: { role: { enum: ["system", "user", "assistant"] }, content: { type: "string" } },
        additionalProperties: false,
      },
    },
    ground_truth: {},
  },
  additionalProperties: false,
} as const;

// Unknown reply fields are ignored (a program may add usage or model names); a reply with "error" is an error reply.
export const replySchema = {
  $id: "https://alignc.dev/schemas/rater-reply-1.json",
  type: "object",
  required: ["id"],
  properties: {
    id: { type: "string" },
    scores: { type: "array", items: { type: "object", additionalProperties: { type: "number" } } },
    rationale: { type: "string" },
    error: { type: "string" },
    retry: { type: "boolean" },
  },
  if: { required: ["error"] },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else
  then: { not: { required: ["scores"] } },
  else: { required: ["scores"] },
} as const;

// Compiled on first use, not when the runtime is loaded (alignc plan loads it and rates nothing).
let compiled: { ajv: InstanceType<typeof Ajv.default>; request: ValidateFunction; reply: ValidateFunction } | undefined;
function validators() {
  if (!compiled) {
    // ajv is CommonJS: under Node's ESM loader the default import is `module.exports`, whose `default` is the class.
    // strictRequired is off because the reply's if/then/else require properties that are declared one level up.
    const ajv = new Ajv.default({ allErrors: true, strict: true, strictRequired: false });
    compiled = { ajv, request: ajv.compile(requestSchema), reply: ajv.compile(replySchema) };
  }
  return compiled;
}

/** What is wrong with a request line's object, or undefined (for tests and for program authors' tooling). */
export function requestSchemaErrors(value: unknown): string | undefined {
  const { ajv, request } = validators();
  return request(value) ? undefined : ajv.errorsText(request.errors, { dataVar: "request" });
}

export type ParsedReply = { ok: true; reply: WireReply } | { ok: false; problem: string };

/** Parses and validates one stdout line (not the scores against the request: that is checkReply's job). */
export function parseReplyLine(line: string): ParsedReply {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, problem: `printed a line that is not JSON: ${quote(line)} (write logs to stderr; stdout is for replies)` };
  }
  const { ajv, reply } = validators();
  if (!reply(value)) {
    const errors = ajv.errorsText(reply.errors, { dataVar: "reply" });
    return { ok: false, problem: `printed a reply that does not follow ${PROTOCOL} (${errors}): ${quote(line)}` };
  }
  return { ok: true, reply: value as WireReply };
}

/**
 * A program's output quoted for a message: cut to `max` characters and JSON-escaped, with the characters JSON leaves
 * raw that a terminal would act on (DEL, C1 controls, bidi overrides) escaped too.
 */
export function quote(text: string, max = 200): string {
  return printableJson(JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text));
}

// ── modes: the plan of an item ──────────────────────────────────────────────

/** One request of an item's plan: a subset of its responses, asked in one go. */
export interface Part {
  /** The request id: the item id, plus the response positions unless listwise. */
  id: string;
  /** The mode the request is sent as (a lone response under pairwise is asked pointwise). */
  mode: RaterMode;
  indices: number[];
  request: RaterRequest;
}

/** The requests that rate one item under `mode`. */
export function planItem(request: RaterRequest, mode: RaterMode): Part[] {
  const n = request.responses.length;
  const part = (indices: number[], partMode: RaterMode, id: string): Part => ({
    id,
    mode: partMode,
    indices,
    request: { ...request, responses: indices.map((i) => request.responses[i] as string) },
  });
  if (n === 0) return [];
  const all = [...Array(n).keys()];
  if (mode === "listwise") return [part(all, "listwise", request.itemId)];
  if (mode === "pointwise" || n === 1) return all.map((i) => part([i], "pointwise", `${request.itemId}/${i}`));
  const pairs: Part[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push(part([i, j], "pairwise", `${request.itemId}/${i}-${j}`));
  return pairs;
}

/** The item's reply from its parts' replies: a response's score per aspect is the mean over the requests it was in. */
export function combineReplies(request: RaterRequest, parts: readonly Part[], replies: readonly RaterReply[]): RaterReply {
  if (parts.length === 1 && parts[0]?.mode === "listwise") return replies[0] as RaterReply;
  const sums = request.responses.map(() => Object.fromEntries(request.aspects.map((a) => [a, 0])) as Record<string, number>);
  const counts = request.responses.map(() => 0);
  const rationales: string[] = [];
  parts.forEach((part, p) => {
    const reply = replies[p] as RaterReply;
    part.indices.forEach((index, k) => {
      counts[index] = (counts[index] ?? 0) + 1;
      const sum = sums[index] as Record<string, number>;
      for (const aspect of request.aspects) sum[aspect] = (sum[aspect] ?? 0) + (reply.scores[k]?.[aspect] ?? 0);
    });
    if (reply.rationale) rationales.push(`[response${part.indices.length > 1 ? "s" : ""} ${part.indices.map((i) => i + 1).join(" vs ")}] ${reply.rationale}`);
  });
  const { min, max } = request.scale;
  // Clamped: a mean of on-scale scores is on the scale, but floating-point sums may land a hair outside it.
  const scores = sums.map((sum, i) => Object.fromEntries(request.aspects.map((a) => [a, Math.min(max, Math.max(min, (sum[a] ?? 0) / (counts[i] || 1)))])));
  return rationales.length > 0 ? { scores, rationale: rationales.join("\n") } : { scores };
}

// ── the driver ──────────────────────────────────────────────────────────────

/** Why one attempt of a request failed; `retryable` says whether another attempt may help. */
export class AttemptFailure extends Error {
  override name = "AttemptFailure";
  constructor(
    message: string,
    readonly stderr?: string,
    readonly retryable = true,
  ) {
    super(message);
  }
}

/** The rater cannot run at all (a program that does not start, a module that does not load): the whole stage stops. */
export class RaterUnavailable extends Error {
  override name = "RaterUnavailable";
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7023";
}

/** One attempt of one request: the part's reply (the driver checks it against the part's request), or an AttemptFailure. */
export type AttemptFn = (part: Part) => Promise<RaterReply>;

export interface DriverOptions {
  mode: RaterMode;
  /** Attempts running at once, at most. */
  concurrency: number;
  /** Attempts after the first, for retryable failures. */
  retries: number;
  /** Wait before retry k (0-based) is backoffBaseMs · 2^k. */
  backoffBaseMs: number;
  attempt: AttemptFn;
}

/** A cancellation flag whose sleeps end early when it is cancelled (lighter than an AbortSignal per item). */
class Cancel {
  cancelled = false;
  private readonly wakers = new Set<() => void>();

  cancel(): void {
    this.cancelled = true;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  sleep(ms: number): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}

/**
 * Rates every request: plans each item, runs its parts through `attempt` (at most `concurrency` at once, retrying
 * with backoff), reports each item through the hooks as soon as it is complete and returns the failures.
 * A RaterUnavailable (or any other error but an AttemptFailure) from `attempt`, or an exception from a hook, stops
 * the rest: nothing more is sent, the requests in flight finish and are still reported (unless a hook threw), and
 * the error is rethrown once everything has settled.
 */
export async function runPlan(requests: readonly RaterRequest[], hooks: RateHooks, options: DriverOptions): Promise<ItemFailure[]> {
  const seen = new Set<string>();
  for (const r of requests) {
    if (seen.has(r.itemId)) throw new Error(`internal error: item id ${JSON.stringify(r.itemId)} appears twice in one rating call`);
    seen.add(r.itemId);
  }
  const concurrency = Math.max(1, options.concurrency);
  const limit = createLimiter(concurrency);
  const failures: ItemFailure[] = [];
  /** The items started and not finished (each with its Cancel): stop() cancels them all. */
  const active = new Set<Cancel>();
  let fatal: unknown;
  let hookFailed = false;
  const stop = (error: unknown): void => {
    fatal ??= error;
    for (const cancel of active) cancel.cancel();
  };
  const report = (fn: () => void): void => {
    if (hookFailed) return;
    try {
      fn();
    } catch (error) {
      hookFailed = true;
      stop(error);
    }
  };

  /** One attempt, holding a slot: its reply, its final failure, "retry", or undefined when stopped. */
  const attemptOnce = (part: Part, k: number, item: Cancel) =>
    limit(async (): Promise<RaterReply | AttemptFailure | "retry" | undefined> => {
      if (item.cancelled) return undefined;
      try {
        const reply = await options.attempt(part);
        const problem = replyProblem(part.request, reply);
        if (problem) throw new AttemptFailure(`replied with invalid scores: ${problem}`);
        return reply.rationale === undefined ? { scores: reply.scores } : { scores: reply.scores, rationale: reply.rationale };
      } catch (error) {
        // RaterUnavailable, or a bug: stop everything and rethrow once the requests in flight have settled.
        if (!(error instanceof AttemptFailure)) {
          stop(error);
          return undefined;
        }
        if (item.cancelled) return undefined;
        if (error.retryable && k < options.retries) return "retry";
        // The first failure settles the item. Cancelled before the slot is released, so that the item's waiting
        // requests see it and are not sent (those in flight finish unused).
        item.cancel();
        const note = k > 0 ? ` (after ${k + 1} attempts)` : "";
        return new AttemptFailure(error.message + note, error.stderr, false);
      }
    });

  const attemptWithRetries = async (part: Part, item: Cancel): Promise<RaterReply | AttemptFailure | undefined> => {
    for (let k = 0; ; k++) {
      const outcome = await attemptOnce(part, k, item);
      if (outcome !== "retry") return outcome;
      await item.sleep(options.backoffBaseMs * 2 ** k);
    }
  };

  const rateItem = async (request: RaterRequest, item: Cancel): Promise<void> => {
    const parts = planItem(request, options.mode);
    const results = await Promise.all(parts.map((part) => attemptWithRetries(part, item)));
    const failure = results.find((r) => r instanceof AttemptFailure);
    if (failure) {
      const which = parts.length > 1 ? ` (request ${JSON.stringify(parts[results.indexOf(failure)]?.id)})` : "";
      const itemFailure: ItemFailure = { itemId: request.itemId, message: `item ${JSON.stringify(request.itemId)}${which}: ${failure.message}` };
      if (failure.stderr) itemFailure.stderr = failure.stderr;
      failures.push(itemFailure);
      report(() => hooks.onFailure?.(itemFailure));
      return;
    }
    if (results.some((r) => r === undefined)) return; // stopped before it was complete
    const reply = combineReplies(request, parts, results as RaterReply[]);
    const problem = checkReply(request, reply);
    if (problem) stop(new Error(`internal error: combined reply for item ${JSON.stringify(request.itemId)}: ${problem}`));
    else report(() => hooks.onReply(request.itemId, reply));
  };

  // Items are started a window at a time, enough to keep every slot busy while some wait for their backoff,
  // instead of queueing every request of a large dataset up front.
  const window = concurrency * 2 + 8;
  let next = 0;
  await new Promise<void>((resolve) => {
    const startMore = (): void => {
      while (fatal === undefined && active.size < window && next < requests.length) {
        const item = new Cancel();
        active.add(item);
        void rateItem(requests[next++] as RaterRequest, item)
          .catch(stop)
          .finally(() => {
            active.delete(item);
            startMore();
          });
      }
      if (active.size === 0) resolve();
    };
    startMore();
  });
  if (fatal !== undefined) throw fatal;
  return failures;
}

/** checkReply, first making sure the reply is an object at all (a TypeScript rater may return anything at run time). */
export function replyProblem(request: RaterRequest, reply: unknown): string | undefined {
  if (typeof reply !== "object" || reply === null || Array.isArray(reply)) return `expected an object { scores, rationale? }, got ${describe(reply)}`;
  return checkReply(request, reply as RaterReply);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "a list";
  return typeof value === "string" ? `the string ${quote(value, 60)}` : `${typeof value} ${String(value).slice(0, 60)}`;
}

/** A FIFO limit on how many tasks run at once. */
function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
