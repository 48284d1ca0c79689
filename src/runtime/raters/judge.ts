// The `judge` rater, as a likelihood judge: a TinyVLM cannot read a rubric, so the judge model does not "grade"
// anything. For each response it computes the mean token log-probability of the response given the item's prompt
// and image (answerLogProbs, the reference-model computation of DPO), and the responses of an item are ranked by it:
// the response the judge finds most likely gets the scale's max, the least likely its min, linear in rank between
// (ties share their mean rank); a lone response gets the middle of the scale. Every aspect gets the same score.
//
// The judge model is a TinyVLM (the prompt and image as in DPO's reference log-probs) or a Hugging Face decoder (the
// prompt through its chat template when it has one, the response as the assistant's turn: TRL's answer ids).
//
// Modes: listwise and pointwise rank an item's responses together (the log-probs are per response anyway; a rank
// needs the others). Pairwise compares each pair (the likelier gets max, the other min, a tie the middle) and the
// runtime's pairwise aggregation (combineReplies) averages per response — which gives the same scores as the rank
// rule, with one rationale line per pair. Log-probs of a whole batch of items are computed together, then each item
// goes through the shared plan (runPlan), so failures, combining and reply checks are those of every other rater.
import type { RatingInfo } from "../data/prefdata/records.ts";
import type { Runtime } from "../engine/session.ts";
import { hfAnswerLogProbs } from "../models/hf/logprobs.ts";
import type { HfModel } from "../models/hf/model.ts";
import { answerIds, imageOf, itemPromptIds } from "../models/hf/prompts.ts";
import { imageAtSize } from "../models/tinyvlm/examples.ts";
import type { Example } from "../models/tinyvlm/feeds.ts";
import { answerLogProbs } from "../models/tinyvlm/logprobs.ts";
import type { VlmModel } from "../models/tinyvlm/model.ts";
import { AttemptFailure, type Part, type RaterMode, RaterUnavailable, runPlan } from "./protocol.ts";
import type { ItemFailure, RateHooks, RaterReply, RaterRequest, RaterRuntime } from "./types.ts";

export interface JudgeRaterOptions {
  info: RatingInfo;
  /** The judging model: a TinyVLM, or a Hugging Face decoder. */
  model: { family: "tinyvlm"; model: VlmModel } | { family: "hf"; model: HfModel };
  /** Its name in rationales and messages (the model's node id). Default "the judge model". */
  modelName?: string;
  /** The ONNX Runtime to score on, or a function that gives it on first use. */
  runtime: Runtime | (() => Promise<Runtime>);
  /** Default pairwise, as the `judge` constructor's. */
  mode?: RaterMode;
  /** The `temperature` setting: a likelihood judge does not sample, so anything but 0 is refused. */
  temperature?: number;
  /** Items whose log-probs are computed together (and then reported). Default 64. */
  itemsPerBatch?: number;
  /** Sequences per log-prob run. Default 32. */
  batch?: number;
}

/** Why a `temperature` setting cannot be used, or undefined for 0. */
export function judgeTemperatureProblem(temperature: unknown): string | undefined {
  if (temperature === undefined || temperature === null || temperature === 0) return undefined;
  return (
    `temperature ${JSON.stringify(temperature)} is not used by a likelihood judge: it scores each response by the judge model's ` +
    "log-probabilities, it does not sample; remove the setting (or set it to 0)"
  );
}

/**
 * Scores on `scale` for the responses whose mean log-probs are `means`, by rank: the likeliest gets max, the least
 * likely min, linear in rank between; equal means share their mean rank; a single response gets the middle.
 */
export function rankScores(means: readonly number[], scale: { min: number; max: number }): number[] {
  const n = means.length;
  const { min, max } = scale;
  if (n === 0) return [];
  if (n === 1) return [(min + max) / 2];
  const order = [...means.keys()].sort((a, b) => (means[a] as number) - (means[b] as number));
  const ranks = new Array<number>(n).fill(0);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && means[order[j + 1] as number] === means[order[i] as number]) j++;
    const rank = (i + j) / 2; // ties share the mean of their ranks
    for (let k = i; k <= j; k++) ranks[order[k] as number] = rank;
    i = j + 1;
  }
  return ranks.map((r) => Math.min(max, Math.max(min, min + ((max - min) * r) / (n - 1))));
}

/** One response as the judge scores it: its mean log-prob, and how many of its tokens were kept when it was cut to fit. */
interface Scored {
  mean: number;
  /** Set when the response was longer than the judge's context allows: answer tokens scored / in the response. */
  cut?: { kept: number; of: number };
}

/** A prepared item: one scoring row per response (`id`: item and response index) or why it cannot be scored. */
type Prepared<Row> = { rows: Row[]; cuts: ({ kept: number; of: number } | undefined)[] } | { problem: string };

/** How a judge model family prepares an item's responses and scores a batch of them (mean log-prob by row id). */
interface Scorer<Row extends { id: string }> {
  prepare(request: RaterRequest): Prepared<Row> | Promise<Prepared<Row>>;
  score(runtime: Runtime, rows: Row[], batch: number | undefined): Promise<Map<string, { mean: number }>>;
}

function scorerOf(model: JudgeRaterOptions["model"]): Scorer<{ id: string }> {
  if (model.family === "tinyvlm")
    return {
      prepare: (r) => prepare(model.model, r),
      score: (runtime, rows, batch) => answerLogProbs(runtime, model.model, rows as Example[], { batch }),
    } as Scorer<{ id: string }>;
  const hf = model.model;
  return {
    prepare: (r) => prepareHf(hf, r),
    async score(runtime, rows) {
      const typed = rows as HfRow[];
      const lps = await hfAnswerLogProbs(runtime, hf, typed);
      return new Map(typed.map((row, i) => [row.id, lps[i] as { mean: number }]));
    },
  } as Scorer<{ id: string }>;
}

export function createJudgeRater(options: JudgeRaterOptions): RaterRuntime {
  const { info } = options;
  const scorer = scorerOf(options.model);
  const mode = options.mode ?? "pairwise";
  const name = options.modelName ?? "the judge model";
  const itemsPerBatch = Math.max(1, options.itemsPerBatch ?? 64);
  let runtime: Promise<Runtime> | undefined;
  const runtimeOf = (): Promise<Runtime> => {
    runtime ??= typeof options.runtime === "function" ? options.runtime() : Promise.resolve(options.runtime);
    return runtime;
  };
  return {
    info,
    async rate(requests: readonly RaterRequest[], hooks: RateHooks): Promise<ItemFailure[]> {
      const temperature = judgeTemperatureProblem(options.temperature);
      if (temperature) throw new RaterUnavailable(`${info.rater}: ${temperature}`);
      const failures: ItemFailure[] = [];
      for (let start = 0; start < requests.length; start += itemsPerBatch) {
        const chunk = requests.slice(start, start + itemsPerBatch);
        const prepared = await Promise.all(chunk.map((r) => scorer.prepare(r)));
        const rows = prepared.flatMap((p) => ("rows" in p ? p.rows : []));
        const logprobs = rows.length > 0 ? await scorer.score(await runtimeOf(), rows, options.batch) : new Map<string, { mean: number }>();
        const scored = new Map<string, { scored: Scored[] } | { problem: string }>();
        chunk.forEach((r, i) => {
          const p = prepared[i] as Prepared<{ id: string }>;
          if ("problem" in p) scored.set(r.itemId, p);
          else
            scored.set(r.itemId, {
              scored: p.rows.map((ex, k) => {
                const lp = logprobs.get(ex.id);
                if (!lp) throw new Error(`internal error: no log-prob for ${ex.id}`);
                const cut = p.cuts[k];
                return cut ? { mean: lp.mean, cut } : { mean: lp.mean };
              }),
            });
        });
        // Every reply is ready: runPlan splits items by mode, builds each part's reply and combines them.
        const attempt = async (part: Part): Promise<RaterReply> => {
          const item = scored.get(part.request.itemId);
          if (!item) throw new Error(`internal error: item ${part.request.itemId} was not scored`);
          if ("problem" in item) throw new AttemptFailure(item.problem, undefined, false);
          return partReply(part, item.scored, info.rater, name);
        };
        const chunkFailures = await runPlan(chunk, hooks, {
          // Pointwise would send each response alone, and a lone response has no rank: it is ranked with its item.
          mode: mode === "pairwise" ? "pairwise" : "listwise",
          concurrency: 1,
          retries: 0,
          backoffBaseMs: 0,
          attempt,
        });
        failures.push(...chunkFailures);
      }
      return failures;
    },
  };
}

/** The reply for one part of an item's plan: its responses ranked by mean log-prob, every aspect the same score. */
function partReply(part: Part, scored: readonly Scored[], rater: string, modelName: string): RaterReply {
  const chosen = part.indices.map((i) => scored[i] as Scored);
  const scores = rankScores(
    chosen.map((s) => s.mean),
    part.request.scale,
  );
  const fmt = (s: Scored): string => s.mean.toFixed(3);
  const logprobs = chosen.length === 2 && part.mode === "pairwise" ? chosen.map(fmt).join(" vs ") : chosen.map(fmt).join(", ");
  const cuts = chosen
    .map((s, k) => (s.cut ? `response ${(part.indices[k] as number) + 1} scored on its first ${s.cut.kept} of ${s.cut.of} tokens` : ""))
    .filter((t) => t !== "");
  const rationale =
    `judge ${rater} (${modelName}): mean log-prob ${logprobs}` +
    (chosen.length === 1 ? " (alone: the middle of the scale)" : "") +
    "; the same score on every aspect" +
    (cuts.length > 0 ? ` (${cuts.join("; ")})` : "");
  return {
    scores: scores.map((v) => Object.fromEntries(part.request.aspects.map((a) => [a, v]))),
    rationale,
  };
}

/**
 * The examples that score an item's responses: its prompt, its image (decoded, resized to the judge's image size when
 * it differs, as TinyVLM reads every image) and one response each. A response too long for the judge's context is
 * cut to the tokens that fit (noted in the rationale); a prompt that leaves no room, or an image that cannot be read,
 * fails the item.
 */
async function prepare(model: VlmModel, request: RaterRequest): Promise<Prepared<Example>> {
  const tok = model.tokenizer;
  const c = model.config;
  if (request.messages && request.messages.length > 1)
    return { problem: `the item is a conversation of ${request.messages.length} messages, and a TinyVLM judge reads one prompt with no chat template` };
  let rgb: Uint8Array | null = null;
  if (request.imagePath !== null) {
    try {
      rgb = await imageAtSize(request.imagePath, c.imageSize);
    } catch (error) {
      return { problem: `could not read the image ${request.imagePath}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  // A sequence is <bos> prompt answer (then <eos>, the last label): 1 + prompt + answer positions must fit the context.
  const room = c.textContext - 1 - tok.encode(request.prompt).length;
  if (room < 1)
    return {
      problem: `the prompt takes ${c.textContext - room - 1} tokens of the judge model's text context of ${c.textContext}, leaving no room for a response`,
    };
  const examples: Example[] = [];
  const cuts: ({ kept: number; of: number } | undefined)[] = [];
  request.responses.forEach((text, k) => {
    const tokens = tok.encode(text);
    let answer = text;
    let cut: { kept: number; of: number } | undefined;
    if (tokens.length > room) {
      // Decoding a prefix and encoding it again may merge differently: shorten until the text fits.
      let keep = room;
      do {
        answer = tok.decode(tokens.slice(0, keep), { skipSpecial: true });
        keep--;
      } while (keep > 0 && tok.encode(answer).length > room);
      if (tok.encode(answer).length > room) answer = "";
      cut = { kept: tok.encode(answer).length, of: tokens.length };
    }
    examples.push({ id: `${request.itemId}\u0000${k}`, prompt: request.prompt, answer, rgb });
    cuts.push(cut);
  });
  return { rows: examples, cuts };
}

type HfRow = { id: string; promptIds: number[]; answerIds: number[]; image?: string };

/**
 * A Hugging Face judge's rows: the prompt through the chat template when the model has one (a judge is usually an
 * instruct model), each response as the assistant's answer, cut to the positions left (noted in the rationale). A
 * vision-language judge sees the item's image; a text model fails an item with one.
 */
function prepareHf(model: HfModel, request: RaterRequest): Prepared<HfRow> {
  if (request.imagePath !== null && !model.vision)
    return { problem: `the item has an image, and the judge model ${model.architecture} is a text model; judge text items with it` };
  // The item's conversation when it is one, else the prompt as the user's message; a model without a chat template reads the prompt alone.
  const messages = request.messages ?? [{ role: "user" as const, content: request.prompt }];
  if (!model.chatTemplate && messages.length > 1)
    return { problem: `the item is a conversation of ${messages.length} messages, and the judge model has no chat template to render it with` };
  const text = model.chatTemplate ? { prompt: request.prompt, messages } : { prompt: request.prompt };
  const item = { ...text, id: request.itemId, image: request.imagePath };
  const promptIds = itemPromptIds(model, item);
  const room = model.config.maxPositionEmbeddings - promptIds.length;
  if (room < 1) return { problem: `the prompt takes all ${model.config.maxPositionEmbeddings} positions of the judge model, leaving no room for a response` };
  const rows: HfRow[] = [];
  const cuts: ({ kept: number; of: number } | undefined)[] = [];
  request.responses.forEach((text, k) => {
    const ids = answerIds(model, item, text);
    rows.push({ id: `${request.itemId}\u0000${k}`, promptIds, answerIds: ids.slice(0, room), ...imageOf(model, item) });
    cuts.push(ids.length > room ? { kept: room, of: ids.length } : undefined);
  });
  return { rows, cuts };
}
