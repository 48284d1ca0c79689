// A round's online pairs (steps 2–3 of online-rounds.ts): with an annotator, the sampler's responses rated and paired
// best vs worst; with online BDHS, the ground truth rewritten by the sampler while it barely sees the image. Either
// way the answers to score with the reference (and, for the KL, which of them the policy generated) come along.
import { Rng } from "../../../util/random.ts";
import { runBdhs } from "../../data/prefdata/bdhs.ts";
import { pairIndices } from "../../data/prefdata/pairing.ts";
import type { SampleRecord, SamplerInfo } from "../../data/prefdata/records.ts";
import { scoreResponses } from "../../data/prefdata/score.ts";
import type { Similarity } from "../../data/prefdata/similarity.ts";
import type { ItemFailure, RaterReply, RaterRequest } from "../../raters/types.ts";
import {
  type OnlineAnnotator,
  type OnlineAnswer,
  OnlineError,
  type OnlineOptions,
  type OnlinePolicy,
  type OnlinePrompt,
  type OnlineRoundStats,
  type Slot,
} from "./online-options.ts";

/** One slot's online pair, before reference log-probs: answers and, for the KL, the policy-generated answers. */
export interface OnlinePair {
  slot: number;
  chosen: string;
  rejected: string;
  /** Keys of chosen and rejected in the round's scored answers. */
  chosenKey: string;
  rejectedKey: string;
}

/** What a round's online slots made. */
export interface Made {
  pairs: OnlinePair[];
  /** Every answer to score with the reference, by key. */
  answers: Map<string, OnlineAnswer>;
  /** Keys of the policy-generated answers (the KL's sample). */
  generated: string[];
  responses: number;
  empty: number;
  unfinished: number;
  dropped: number;
  tooLong: number;
  extra: Partial<OnlineRoundStats>;
  sampling: number;
  annotating: number;
}

/** A round whose slots all kept their offline pairs: nothing made. */
export function nothingMade(): Made {
  return {
    pairs: [],
    answers: new Map(),
    generated: [],
    responses: 0,
    empty: 0,
    unfinished: 0,
    dropped: 0,
    tooLong: 0,
    extra: {},
    sampling: 0,
    annotating: 0,
  };
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

function describeFailures(rater: string, failures: readonly ItemFailure[], total: number, round: number): string {
  const shown = failures.slice(0, 5).map((f) => `    ${f.message.includes(f.itemId) ? f.message : `item ${f.itemId}: ${f.message}`}`);
  const stderr = failures.find((f) => f.stderr?.trim())?.stderr?.trim();
  return (
    `the annotator ${rater} failed on ${failures.length} of ${total} prompts in round ${round}:\n${shown.join("\n")}` +
    `${failures.length > 5 ? `\n    … and ${failures.length - 5} more` : ""}${stderr ? `\n  its stderr ends: ${stderr.split("\n").slice(-3).join(" | ")}` : ""}`
  );
}

type RaterAnnotator = Extract<OnlineAnnotator, { kind: "rater" }>;

/** Annotator: sample, rate, pair best vs worst. */
export async function annotatorPairs(
  policy: OnlinePolicy,
  annotator: RaterAnnotator,
  slots: readonly Slot[],
  o: OnlineOptions,
  samplerSeed: number,
  round: number,
): Promise<Made> {
  const t0 = performance.now();
  const sampler: SamplerInfo = {
    model: "policy",
    temperature: o.sampling.temperature,
    top_p: o.sampling.topP,
    top_k: o.sampling.topK,
    max_tokens: o.sampling.maxTokens,
    seed: samplerSeed,
  };
  const { records, stats } = await policy.sample(slots, o.samples, sampler);
  const t1 = performance.now();
  const replies = await rateResponses(annotator, records, slots, round);
  const made = pairsFromRatings(annotator, records, replies, slots, (prompt, answer) => policy.fits(prompt, answer), round);
  const t2 = performance.now();
  return {
    ...made,
    responses: stats.responses,
    empty: stats.empty_responses,
    unfinished: stats.unfinished_responses,
    sampling: (t1 - t0) / 1000,
    annotating: (t2 - t1) / 1000,
  };
}

/** The annotator's replies for every sampled record; a failure on any stops the phase, naming the round. */
async function rateResponses(
  annotator: RaterAnnotator,
  records: readonly SampleRecord[],
  slots: readonly Slot[],
  round: number,
): Promise<Map<string, RaterReply>> {
  const { rater } = annotator;
  const { aspects, scale } = rater.info;
  const requests: RaterRequest[] = records.map((r, i) => ({
    itemId: r.id,
    prompt: r.item.prompt,
    imagePath: r.item.image,
    responses: r.responses.map((x) => x.text),
    aspects,
    scale,
    ...(r.item.messages ? { messages: r.item.messages } : {}),
    // The grounded rater reads the scene from the world item (with its own id, not the slot's).
    groundTruth: (slots[i] as Slot).prompt.item,
  }));
  const replies = new Map<string, RaterReply>();
  const failures = await rater.rate(requests, { onReply: (id, reply) => replies.set(id, reply) });
  if (failures.length > 0) throw new OnlineError(describeFailures(rater.info.rater, failures, requests.length, round));
  return replies;
}

/** Each record's responses scored, paired best vs worst (margin, ties: first), and kept where both answers fit. */
function pairsFromRatings(
  annotator: RaterAnnotator,
  records: readonly SampleRecord[],
  replies: ReadonlyMap<string, RaterReply>,
  slots: readonly Slot[],
  fits: (prompt: OnlinePrompt, answer: string) => boolean,
  round: number,
): Pick<Made, "pairs" | "answers" | "generated" | "dropped" | "tooLong" | "extra"> {
  const { rater, score, margin } = annotator;
  const pairs: OnlinePair[] = [];
  const answers = new Map<string, OnlineAnswer>();
  const generated: string[] = [];
  const allScores: number[] = [];
  const margins: number[] = [];
  let dropped = 0;
  let tooLong = 0;
  records.forEach((r, i) => {
    const slot = slots[i] as Slot;
    const reply = replies.get(r.id);
    if (!reply) throw new OnlineError(`the annotator ${rater.info.rater} gave no reply for ${r.id} in round ${round}`);
    const scores = scoreResponses(score, r.id, reply.scores);
    allScores.push(...scores);
    // Generation stays within the context; its text, tokenized again, very rarely does not.
    const fit = r.responses.map((resp) => fits(slot.prompt, resp.text));
    r.responses.forEach((resp, j) => {
      if (!fit[j]) return;
      const key = `${slot.key}/${j}`;
      answers.set(key, { key, prompt: slot.prompt, answer: resp.text });
      generated.push(key);
    });
    const picked = pairIndices(scores, undefined, { margin, rejected: "worst", ties: "first", per_prompt: 1 }, () => new Rng(0));
    if (typeof picked === "string") {
      dropped++;
      return;
    }
    const rejected = picked.rejected[0] as number;
    if (!fit[picked.chosen] || !fit[rejected]) {
      tooLong++;
      return;
    }
    margins.push((scores[picked.chosen] as number) - (scores[rejected] as number));
    pairs.push({
      slot: i,
      chosen: (r.responses[picked.chosen] as { text: string }).text,
      rejected: (r.responses[rejected] as { text: string }).text,
      chosenKey: `${slot.key}/${picked.chosen}`,
      rejectedKey: `${slot.key}/${rejected}`,
    });
  });
  const extra = { "objective/scores": mean(allScores), "objective/scores_margin": margins.length > 0 ? mean(margins) : 0 };
  return { pairs, answers, generated, dropped, tooLong, extra };
}

/** `similarity`, with the seconds spent in it added to `clock.seconds`. */
function timedSimilarity(similarity: Similarity, clock: { seconds: number }): Similarity {
  return {
    name: similarity.name,
    async scores(candidates, references) {
      const t = performance.now();
      try {
        return await similarity.scores(candidates, references);
      } finally {
        clock.seconds += (performance.now() - t) / 1000;
      }
    },
  };
}

/** Online BDHS: the sampler rewrites the ground truth of every slot that has one. */
export async function bdhsPairs(
  policy: OnlinePolicy,
  annotator: Extract<OnlineAnnotator, { kind: "bdhs" }>,
  slots: readonly Slot[],
  seed: number,
): Promise<Made> {
  const generator = policy.bdhsGenerator();
  // check refuses online BDHS on models without one (node-kinds.ts: Hugging Face text decoders).
  if (!generator) throw new OnlineError("online BDHS needs a vision-language model that masks image tokens; this policy has none");
  const usable = slots.map((s, i) => ({ ...s, slot: i })).filter((s) => s.prompt.item.answer.trim() !== "");
  // The similarity is BDHS's annotator: its time is the annotating time, the rest of BDHS (generation, programs) sampling.
  const similarity = { seconds: 0 };
  const { pairs: made, stats } = await runBdhs(
    generator,
    timedSimilarity(annotator.similarity, similarity),
    usable.map((s) => ({ item: { ...s.prompt.item, id: s.key }, rgb: s.prompt.rgb })),
    { ...annotator.options, seed },
  );
  const pairs: OnlinePair[] = [];
  const answers = new Map<string, OnlineAnswer>();
  const generated: string[] = [];
  let accepted = 0;
  let empty = 0;
  let tooLong = 0;
  made.forEach((p, k) => {
    const s = usable[k] as (typeof usable)[number];
    if (p.source.kind === "bdhs" && p.source.accepted !== null) accepted++;
    if (p.rejected === "") empty++;
    // Each sentence's completion may take max_tokens: a rewrite of a long answer can outgrow the context.
    if (!policy.fits(s.prompt, p.chosen) || !policy.fits(s.prompt, p.rejected)) {
      tooLong++;
      return;
    }
    const chosenKey = `${s.key}/chosen`;
    const rejectedKey = `${s.key}/rejected`;
    answers.set(chosenKey, { key: chosenKey, prompt: s.prompt, answer: p.chosen });
    answers.set(rejectedKey, { key: rejectedKey, prompt: s.prompt, answer: p.rejected });
    generated.push(rejectedKey);
    pairs.push({ slot: s.slot, chosen: p.chosen, rejected: p.rejected, chosenKey, rejectedKey });
  });
  return {
    pairs,
    answers,
    generated,
    responses: made.length,
    empty,
    unfinished: 0,
    dropped: slots.length - usable.length,
    tooLong,
    extra: { "bdhs/similarity": stats.similarity_mean_emitted, "bdhs/accepted": made.length > 0 ? accepted / made.length : 0 },
    sampling: Math.max(0, stats.seconds - similarity.seconds),
    annotating: similarity.seconds,
  };
}
