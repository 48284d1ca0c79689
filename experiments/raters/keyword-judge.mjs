#!/usr/bin/env node
// An example command rater speaking alignc's JSONL rater protocol (docs/raters.md), with no dependencies.
//
//   rater keywords = command(["node", "raters/keyword-judge.mjs"]) {
//     aspects: [helpfulness, correctness, coherence, complexity, verbosity], scale: 0..4
//   }
//
// It is an example of the protocol, NOT a good judge: it scores from surface features of the text (how many of
// the prompt's words a response mentions, repetition, length). Use it to try the pipeline, or copy it as the
// skeleton of a real judge: read request lines from stdin, write one reply line per request to stdout, and keep
// logs on stderr.
//
// Aspects it knows: helpfulness, correctness, coherence, complexity, verbosity. It refuses requests with other
// aspects with an {"error"} reply, which alignc reports as a failure of that item.
import { createInterface } from "node:readline";

const STOPWORDS = new Set("a an the is are was were of in on at to and or what how many which there this that it its be do does".split(" "));

const words = (text) => text.toLowerCase().match(/[a-z0-9]+/g) ?? [];

/** Each heuristic gives a fraction in [0, 1]; the reply maps it onto the request's scale. */
const heuristics = {
  // Mentions the prompt's content words.
  helpfulness: (response, prompt) => {
    const wanted = new Set(words(prompt).filter((w) => !STOPWORDS.has(w)));
    if (wanted.size === 0) return words(response).length > 0 ? 1 : 0;
    const said = new Set(words(response));
    return [...wanted].filter((w) => said.has(w)).length / wanted.size;
  },
  // With ground truth, the share of its words the response contains; without, neutral.
  correctness: (response, _prompt, truth) => {
    if (truth === undefined || truth === null) return 0.5;
    const expected = new Set(words(typeof truth === "string" ? truth : JSON.stringify(truth)));
    const said = new Set(words(response));
    return expected.size === 0 ? 0.5 : [...expected].filter((w) => said.has(w)).length / expected.size;
  },
  // Few repeated words, and a sentence that ends.
  coherence: (response) => {
    const all = words(response);
    if (all.length === 0) return 0;
    const distinct = new Set(all).size / all.length;
    return 0.8 * distinct + (/[.!?]\s*$/.test(response.trim()) ? 0.2 : 0);
  },
  // Longer words and more distinct words read as more complex.
  complexity: (response) => {
    const all = words(response);
    if (all.length === 0) return 0;
    const meanLength = all.reduce((n, w) => n + w.length, 0) / all.length;
    return Math.min(1, (meanLength - 3) / 5) * 0.5 + Math.min(1, new Set(all).size / 40) * 0.5;
  },
  // Word count, saturating at 60 words.
  verbosity: (response) => Math.min(1, words(response).length / 60),
};

function rate(request) {
  const unknown = request.aspects.filter((a) => !(a in heuristics));
  if (unknown.length > 0) return { id: request.id, error: `keyword-judge does not know the aspect(s) ${unknown.join(", ")}` };
  const { min, max } = request.scale;
  const onScale = (fraction) => Math.round(min + Math.max(0, Math.min(1, fraction)) * (max - min));
  const scores = request.responses.map((response) =>
    Object.fromEntries(request.aspects.map((aspect) => [aspect, onScale(heuristics[aspect](response, request.prompt, request.ground_truth))])),
  );
  return { id: request.id, scores, rationale: "keyword heuristics (example rater)" };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
lines.on("line", (line) => {
  if (line.trim() === "") return;
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    // Without an id there is no request to answer: say so on stderr and exit, and alignc reports the request in flight.
    process.stderr.write(`keyword-judge: a request line that is not JSON: ${line.slice(0, 200)}\n`);
    process.exit(2);
  }
  let reply;
  try {
    reply = rate(request);
  } catch (error) {
    reply = { id: request.id, error: `keyword-judge failed: ${error instanceof Error ? error.message : String(error)}` };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
});
