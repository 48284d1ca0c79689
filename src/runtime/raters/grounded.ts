// The built-in `grounded` rater: scores answers against the shapes world's ground truth (the item's scene graph and
// reference answer), on the five aspects of the Li et al. (2024) rubric. Deterministic, no model, no I/O: thousands
// of responses per second. docs/preference-data.md ("The grounded rater") explains the rubric with examples.
//
// Every aspect is graded 0–4 (the scale of Li et al.) and then mapped linearly onto the declared scale:
// score = round(min + grade · (max − min) / 4), halves rounded up.
//
// | aspect      | grade (0–4)                                                                                          |
// |-------------|------------------------------------------------------------------------------------------------------|
// | correctness | question tasks: right answer 4, wrong answer 0, no answer of the asked kind 1. describe: 4, or 1 when |
// |             | the text makes no claim about the scene. Then −2 per hallucinated object category (a shape the scene  |
// |             | lacks) and −1 per other false claim (a colour or size no such object has, a wrong count, a wrong      |
// |             | position), each distinct claim once; never below 0 (a wrong answer stays 0)                           |
// | helpfulness | describe: round(4 · objects the text names / objects in the scene), an object named by a mention of   |
// |             | its shape (one mention per object; colour and size are correctness's business). Question tasks:      |
// |             | right answer 4, an answer of the right form but wrong 1 (a yes/no; a colour to a colour question …),  |
// |             | no answer 0                                                                                           |
// | coherence   | 4 − 1 if it does not end in a full stop − one per broken word (at most 2) − one per repetition (at    |
// |             | most 3: a sentence said before, a word or phrase of up to 4 words said twice in a row; repetitions    |
// |             | the reference answer has itself are forgiven)                                                         |
// | complexity  | from content units = distinct facts (object mentions, positions, numbers, standalone colours and      |
// |             | sizes, a leading yes/no) + sentences beyond the first: 0 → 0, 1 → 1, 2–3 → 2, 4–7 → 3, 8+ → 4        |
// | verbosity   | from r = words / words the task needs (the reference answer; for a description without one, the     |
// |             | world's caption of the scene): r < 0.5 → 0, < 0.8 → 1, ≤ 1.25 → 2, ≤ 2.5 → 3, more → 4. As in Li et   |
// |             | al., higher means more verbose, not better                                                           |
//
// An empty (or whitespace-only) response gets 0 on every aspect. Question tasks are pope (yes/no, read as the POPE
// metric reads it: the first word), attribute, count and text (the answer's value of the asked kind — a colour, a
// shape, a size, a position, a number — compared with the reference's, after exact-match normalisation).
// Items without the ground truth a task needs (a describe item without a scene, a pope item whose reference answer
// is not yes/no, a question without a reference answer — typically imported prompts) fail with a message.
import { GROUNDED_ASPECTS } from "../../graph/vocabulary.ts";
import type { RatingInfo } from "../data/prefdata/records.ts";
import { normalizeAnswer, parseYesNo } from "../world/answers.ts";
import type { WorldItem } from "../world/format.ts";
import { type Mention, mentions, words } from "../world/mentions.ts";
import type { Scene, SceneObject } from "../world/scene.ts";
import { caption } from "../world/tasks.ts";
import { COLOR_WORDS, NUMBER_WORDS, type Position, SHAPE_WORDS, SIZE_WORDS } from "../world/vocab.ts";
import type { ItemFailure, RateHooks, RaterReply, RaterRequest, RaterRuntime } from "./types.ts";

export type GroundedAspect = (typeof GROUNDED_ASPECTS)[number];
export { GROUNDED_ASPECTS };

/** Grades of one response, 0–4 each. */
export type Grades = Record<GroundedAspect, number>;

/** A response the rater cannot grade because the item lacks the ground truth its task needs. */
export class GroundTruthError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7015";
  override name = "GroundTruthError";
}

// ── reading text ────────────────────────────────────────────────────────────

const NUMBER_VALUE: ReadonlyMap<string, number> = new Map(NUMBER_WORDS.map((w, i) => [w, i]));
/** Numerals above twenty are read as this word, a count no scene has. */
const MANY = "many";
const countOf = (word: string | undefined): number | undefined => (word === MANY ? Number.POSITIVE_INFINITY : NUMBER_VALUE.get(word ?? ""));

/** Lower case with digit runs written as number words, so that words() and mentions() see numbers and agree on indices. */
function spellNumbers(text: string): string {
  return text.toLowerCase().replace(/\d+/g, (d) => ` ${NUMBER_WORDS[Number(d)] ?? MANY} `);
}

const VERTICAL: ReadonlyMap<string, "top" | "bottom"> = new Map([
  ["top", "top"],
  ["upper", "top"],
  ["bottom", "bottom"],
  ["lower", "bottom"],
]);
const SINGLE_POSITION: ReadonlyMap<string, Position> = new Map<string, Position>([
  ["top", "top"],
  ["upper", "top"],
  ["bottom", "bottom"],
  ["lower", "bottom"],
  ["left", "left"],
  ["right", "right"],
  ["center", "center"],
  ["centre", "center"],
  ["middle", "center"],
]);

/** Position phrases among words: "top left" (two words) before "top", "left", "center" … */
export function positionsIn(ws: readonly string[]): Position[] {
  const out: Position[] = [];
  for (let i = 0; i < ws.length; i++) {
    const v = VERTICAL.get(ws[i] as string);
    const h = ws[i + 1];
    if (v && (h === "left" || h === "right")) {
      out.push(`${v}_${h}` as Position);
      i++;
      continue;
    }
    const p = SINGLE_POSITION.get(ws[i] as string);
    if (p) out.push(p);
  }
  return out;
}

/** Sentences of a text: pieces between full stops, question and exclamation marks that hold a word. */
function sentencesOf(text: string): string[] {
  return text.split(/[.!?]+/).filter((s) => /[a-z0-9]/i.test(s));
}

/** Words of a text for counting length: runs of letters or digits. */
export function wordCount(text: string): number {
  return text.match(/[A-Za-z0-9]+(?:'[A-Za-z]+)?/g)?.length ?? 0;
}

// Broken words (docs/preference-data.md, "The grounded rater"). The world's vocabulary is every word its prompts,
// answers and captions use, plus the words of the rater's lexicon; a token outside it is *broken* when it
//   - mixes letters and digits ("3rd", "c1rcle");
//   - starts with a vocabulary word of three letters or more and goes on with other letters: letters run on
//     ("circlele", "redd") or a fragment glued to the word ("theou" in "in theou bottom right", "thered");
//   - is two vocabulary words of two letters or more run together ("inthe", "ofa" is too short: "a" is one letter);
//   - is the start of a content word (a shape, colour, size, number, position) cut short, two letters or more
//     ("cir", "tri").
// Common English words that happen to have such a form (they, them, then, into, onto, someone …) are not broken.
const CONTENT = [...SHAPE_WORDS.keys(), ...COLOR_WORDS.keys(), ...SIZE_WORDS.keys(), ...NUMBER_WORDS, ...SINGLE_POSITION.keys(), "object", "objects", "there"];
const LEXICON = new Set([
  ...CONTENT,
  ...["a", "an", "the", "is", "are", "in", "on", "at", "of", "and", "or", "to", "it", "its", "this", "that", "these", "those", "with", "no", "not"],
  ...["yes", "one", "ones", "shape", "shapes", "thing", "things", "image", "picture", "color", "colour", "size", "position", "corner", "corners"],
  ...["first", "second", "third", "fourth", "fifth", "bigger", "biggest", "larger", "largest", "smaller", "smallest", "leftmost", "rightmost"],
  ...["topmost", "centered", "centred", "toward", "towards", "other", "another", "each", "both", "many", "none", "some", "few", "several", "also"],
  // The rest of the world's own text: its prompts and answers (test/grounded-rater.test.ts checks none is broken).
  ...["after", "before", "background", "colors", "colours", "sizes", "positions", "comes", "describe", "detail", "do", "does", "get", "have"],
  ...["how", "minus", "plus", "mix", "number", "order", "reverse", "say", "what", "when", "where", "which", "words", "you", "companions"],
  ...["popularity", "synonyms"],
]);
/**
 * Common English words that have a broken word's form — a vocabulary word with letters after it ("they", "started",
 * "reddish"), two vocabulary words run together ("into", "someone") — and are not broken.
 */
const ENGLISH = new Set([
  ...["they", "them", "then", "their", "theirs", "themselves", "theme", "theory", "therefore", "thereby", "thereof", "others", "otherwise"],
  ...["area", "areas", "arena", "your", "yours", "yourself", "young", "however", "into", "onto", "within", "without", "itself", "oneself"],
  ...["someone", "something", "sometimes", "somewhere", "somewhat", "somehow", "nothing", "note", "notes", "noted", "notice", "notable", "notably"],
  ...["whatever", "whenever", "wherever", "whereas", "whichever", "afterwards", "beforehand", "firstly", "secondly", "thirdly", "largely", "smallish"],
  ...["sixth", "seventh", "eighth", "ninth", "tenth", "sixty", "seventy", "eighty", "ninety", "twice", "thrice", "fewer", "mostly", "bothered"],
  ...["start", "starts", "started", "starting", "crossed", "crossing", "crosswise", "circled", "circular", "squared", "triangular", "hearted"],
  ...["reddish", "greenish", "bluish", "yellowish", "whitish", "purplish", "orangish", "says", "saying", "gets", "getting", "described"],
  ...["detailed", "details", "numbered", "numbers", "ordered", "mixed", "mixture", "reversed", "colored", "coloured", "colorful", "colourful"],
  ...["shaped", "sized", "positioned", "positioning", "pictured", "pictures", "images", "imagery", "objective", "objectively", "topic", "topped"],
  ...["leftover", "rightly", "centers", "centres", "middles", "uppermost", "lowered", "lowermost", "boxed", "tend", "tends", "tent", "tension"],
]);
const LONG_CONTENT = CONTENT.filter((w) => w.length >= 3);
const LONG_WORDS = [...LEXICON].filter((w) => w.length >= 3);
const brokenCache = new Map<string, boolean>();

/** Whether a token (lower case: letters, digits, an apostrophe) is a broken word by the rules above. */
export function isBroken(token: string): boolean {
  if (LEXICON.has(token) || ENGLISH.has(token)) return false;
  const known = brokenCache.get(token);
  if (known !== undefined) return known;
  let broken = /[a-z]/.test(token) && /\d/.test(token);
  if (!broken && /^[a-z]+$/.test(token)) {
    broken =
      // A vocabulary word with letters run on or glued after it.
      LONG_WORDS.some((w) => token.length > w.length && token.startsWith(w)) ||
      // Two vocabulary words run together.
      splitsInTwo(token) ||
      // The start of a content word, cut short.
      (token.length >= 2 && LONG_CONTENT.some((w) => token.length < w.length && w.startsWith(token)));
  }
  if (brokenCache.size < 100_000) brokenCache.set(token, broken);
  return broken;
}

/** Whether a token is two vocabulary words of two letters or more, run together ("inthe"). */
function splitsInTwo(token: string): boolean {
  for (let i = 2; i <= token.length - 2; i++) if (LEXICON.has(token.slice(0, i)) && LEXICON.has(token.slice(i))) return true;
  return false;
}

/** Times a word or phrase of 1–4 words is immediately said again ("the the", "red circle red circle"). */
function immediateRepeats(ws: readonly string[]): number {
  let repeats = 0;
  for (let i = 0; i < ws.length; i++) {
    for (let n = 1; n <= 4 && i + 2 * n <= ws.length; n++) {
      let same = true;
      for (let k = 0; k < n && same; k++) same = ws[i + k] === ws[i + n + k];
      if (same) {
        repeats++;
        i += n - 1; // the loop's i++ moves past the first copy: a run of k copies counts k − 1 times
        break;
      }
    }
  }
  return repeats;
}

// ── claims about the scene ──────────────────────────────────────────────────

interface Claim extends Mention {
  /** The number said right before the mention ("two red circles"), if any. */
  count?: number;
}

const matches = (o: SceneObject, m: { shape?: string; color?: string; size?: string }): boolean =>
  (m.shape === undefined || o.shape === m.shape) && (m.color === undefined || o.color === m.color) && (m.size === undefined || o.size === m.size);

interface SceneCheck {
  /** Distinct shapes said to be there that the scene lacks. */
  hallucinated: Set<string>;
  /** Distinct other false claims: colours, sizes, counts, positions. */
  wrong: Set<string>;
  /** Claims checked (true or false). */
  claims: number;
  /** Objects of the scene named by a mention of their shape ("two circles" names two). */
  covered: number;
  notes: string[];
}

/** Every claim of `text` about `scene` that the world's grammar can read, checked. */
function checkScene(text: string, scene: Scene): SceneCheck {
  const out: SceneCheck = { hallucinated: new Set(), wrong: new Set(), claims: 0, covered: 0, notes: [] };
  const said: Claim[] = [];
  for (const sentence of sentencesOf(spellNumbers(text))) {
    const ws = words(sentence);
    const claims: Claim[] = [];
    for (const m of mentions(sentence)) {
      if (m.negated) continue;
      let j = m.word - 1;
      while (j >= 0 && (COLOR_WORDS.has(ws[j] as string) || SIZE_WORDS.has(ws[j] as string))) j--;
      const count = countOf(ws[j]);
      claims.push(count === undefined ? m : { ...m, count });
    }
    // "There are three objects", "two red shapes": counts of objects by colour and size.
    ws.forEach((w, i) => {
      if (w !== "object" && w !== "objects" && w !== "shape" && w !== "shapes") return;
      let j = i - 1;
      let color: string | undefined;
      let size: string | undefined;
      for (; j >= 0; j--) {
        const c = COLOR_WORDS.get(ws[j] as string);
        const s = SIZE_WORDS.get(ws[j] as string);
        if (c && !color) color = c;
        else if (s && !size) size = s;
        else break;
      }
      const n = countOf(ws[j]);
      if (n === undefined) return;
      out.claims++;
      const actual = scene.objects.filter((o) => matches(o, { color, size })).length;
      if (actual !== n) {
        out.wrong.add(`count:${color ?? ""}:${size ?? ""}:${n}`);
        out.notes.push(`says ${n} ${[size, color].filter(Boolean).join(" ")} objects, the scene has ${actual}`.replace(/ {2}/g, " "));
      }
    });
    for (const c of claims) {
      const what = [c.size, c.color, c.shape].filter(Boolean).join(" ");
      out.claims++;
      if (c.count === 0) {
        if (scene.objects.some((o) => matches(o, c))) {
          out.wrong.add(`count:${what}:0`);
          out.notes.push(`says there is no ${what}`);
        }
        continue;
      }
      said.push(c);
      if (!scene.objects.some((o) => o.shape === c.shape)) {
        if (!out.hallucinated.has(c.shape)) out.notes.push(`hallucinated ${c.shape}`);
        out.hallucinated.add(c.shape);
        continue;
      }
      const sameShape = scene.objects.filter((o) => o.shape === c.shape);
      if (c.color && !sameShape.some((o) => o.color === c.color)) {
        if (!out.wrong.has(`color:${c.shape}:${c.color}`)) out.notes.push(`no ${c.color} ${c.shape}`);
        out.wrong.add(`color:${c.shape}:${c.color}`);
        continue;
      }
      if (c.size && !sameShape.some((o) => matches(o, c))) {
        if (!out.wrong.has(`size:${what}`)) out.notes.push(`no ${what}`);
        out.wrong.add(`size:${what}`);
        continue;
      }
      if (c.count !== undefined && c.count >= 2) {
        const actual = scene.objects.filter((o) => matches(o, c)).length;
        if (actual !== c.count) {
          if (!out.wrong.has(`count:${what}:${c.count}`)) out.notes.push(`says ${c.count} ${what}, the scene has ${actual}`);
          out.wrong.add(`count:${what}:${c.count}`);
        }
      }
    }
    // "A red star is on the left": one object and one place in a sentence is a claim about where it is.
    const places = positionsIn(ws);
    const located = claims.filter((c) => c.count !== 0);
    if (located.length === 1 && places.length === 1) {
      const c = located[0] as Claim;
      const place = places[0] as Position;
      const candidates = scene.objects.filter((o) => matches(o, c));
      if (candidates.length > 0) {
        out.claims++;
        if (!candidates.some((o) => o.position === place)) {
          const what = [c.size, c.color, c.shape].filter(Boolean).join(" ");
          if (!out.wrong.has(`position:${what}:${place}`)) out.notes.push(`no ${what} at ${place}`);
          out.wrong.add(`position:${what}:${place}`);
        }
      }
    }
  }
  // Coverage: objects named by their shape, one mention per object (a wrong colour is a correctness matter).
  const objects = new Map<string, number>();
  for (const o of scene.objects) objects.set(o.shape, (objects.get(o.shape) ?? 0) + 1);
  const named = new Map<string, number>();
  for (const c of said) named.set(c.shape, (named.get(c.shape) ?? 0) + (c.count ?? 1));
  for (const [shape, n] of objects) out.covered += Math.min(n, named.get(shape) ?? 0);
  return out;
}

// ── answers to questions ────────────────────────────────────────────────────

type ValueClass = "color" | "shape" | "size" | "position" | "number";

const CLASS_OF_KIND: Readonly<Record<string, ValueClass | null>> = {
  color: "color",
  shape: "shape",
  size: "size",
  position: "position",
  count_all: "number",
  count_shape: "number",
  count_color: "number",
  arithmetic: "number",
  successor: "number",
  compare: "number",
  corners: "number",
  mix: "color",
  reverse: null,
};

/** The values of a class a text states, canonical ("violet" → purple, "7" → seven, "no circles" → zero). */
function valuesOf(text: string, cls: ValueClass): Set<string> {
  const ws = words(spellNumbers(text));
  const out = new Set<string>();
  if (cls === "position") {
    for (const p of positionsIn(ws)) out.add(p);
    return out;
  }
  ws.forEach((w, i) => {
    if (cls === "color") {
      const c = COLOR_WORDS.get(w);
      if (c) out.add(c);
    } else if (cls === "shape") {
      const s = SHAPE_WORDS.get(w);
      if (s) out.add(s);
    } else if (cls === "size") {
      const s = SIZE_WORDS.get(w);
      if (s) out.add(s);
    } else if (NUMBER_VALUE.has(w) || w === MANY) out.add(w);
    else if (w === "none") out.add("zero");
    else if (w === "no") {
      let j = i + 1;
      while (COLOR_WORDS.has(ws[j] as string) || SIZE_WORDS.has(ws[j] as string)) j++;
      const noun = ws[j] ?? "";
      if (SHAPE_WORDS.has(noun) || noun === "objects" || noun === "object" || noun === "shapes" || noun === "corners") out.add("zero");
    }
  });
  return out;
}

/** The class of value a question asks for: by its kind, else the first class its reference answer holds a value of. */
function classOf(item: WorldItem): ValueClass | null {
  if (item.kind in CLASS_OF_KIND) return CLASS_OF_KIND[item.kind] ?? null;
  for (const cls of ["number", "color", "shape", "size", "position"] as const) if (valuesOf(item.answer, cls).size > 0) return cls;
  return null;
}

type Verdict = "right" | "wrong" | "none";

/** Whether the response gives the reference answer: equal after normalisation, or the same values of the asked class. */
function judgeAnswer(item: WorldItem, response: string): Verdict {
  const expected = normalizeAnswer(item.answer);
  const got = normalizeAnswer(response);
  if (got === expected) return "right";
  const cls = classOf(item);
  const want = cls ? valuesOf(item.answer, cls) : new Set<string>();
  if (!cls || want.size === 0) return ` ${got} `.includes(` ${expected} `) ? "right" : "wrong";
  const all = valuesOf(response, cls);
  if (all.size === 0) return "none";
  // Values the prompt offers but the answer is not ("Which is larger, one or seven?") do not count against it.
  const offered = valuesOf(item.prompt, cls);
  const given = [...all].filter((v) => want.has(v) || !offered.has(v));
  return given.length === want.size && given.every((v) => want.has(v)) ? "right" : "wrong";
}

// ── grading ─────────────────────────────────────────────────────────────────

const clamp = (v: number): number => Math.max(0, Math.min(4, v));

/** Repetitions: sentences said before, and words or phrases of up to 4 words said twice in a row. */
function repetitions(text: string): number {
  let repeats = 0;
  const seen = new Set<string>();
  for (const s of sentencesOf(text)) {
    const ws = words(spellNumbers(s));
    const key = ws.join(" ");
    if (seen.has(key)) repeats++;
    seen.add(key);
    repeats += immediateRepeats(ws);
  }
  return repeats;
}

function coherence(text: string, reference: string, notes: string[]): number {
  let grade = 4;
  if (!/\.\s*$/.test(text)) {
    grade--;
    notes.push("no full stop at the end");
  }
  const tokens = text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?/g) ?? [];
  const broken = tokens.filter(isBroken);
  if (broken.length > 0) notes.push(`broken words: ${[...new Set(broken)].slice(0, 3).join(", ")}`);
  grade -= Math.min(2, broken.length);
  // Repetition the reference answer has itself ("Square square yellow white.") is not held against a response.
  let repeats = repetitions(text);
  if (repeats > 0) repeats = Math.max(0, repeats - repetitions(reference));
  if (repeats > 0) notes.push(`${repeats} repetition${repeats === 1 ? "" : "s"}`);
  return clamp(grade - Math.min(3, repeats));
}

function complexity(text: string): number {
  const facts = new Set<string>();
  const spelled = spellNumbers(text);
  const sentences = sentencesOf(spelled);
  for (const s of sentences) {
    const ws = words(s);
    const inMention = new Set<number>();
    for (const m of mentions(s)) {
      facts.add(`m:${m.negated ? "not " : ""}${m.size ?? ""} ${m.color ?? ""} ${m.shape}`);
      for (let j = m.word - 1; j >= 0 && (COLOR_WORDS.has(ws[j] as string) || SIZE_WORDS.has(ws[j] as string)); j--) inMention.add(j);
    }
    for (const p of positionsIn(ws)) facts.add(`p:${p}`);
    ws.forEach((w, i) => {
      if (NUMBER_VALUE.has(w) || w === MANY) facts.add(`n:${w}`);
      else if (!inMention.has(i) && COLOR_WORDS.has(w)) facts.add(`c:${COLOR_WORDS.get(w)}`);
      else if (!inMention.has(i) && SIZE_WORDS.has(w)) facts.add(`s:${SIZE_WORDS.get(w)}`);
    });
  }
  const yn = parseYesNo(text);
  if (yn) facts.add(`yn:${yn}`);
  const units = facts.size + Math.max(0, sentences.length - 1);
  return units === 0 ? 0 : units === 1 ? 1 : units <= 3 ? 2 : units <= 7 ? 3 : 4;
}

function verbosity(item: WorldItem, text: string): number {
  const reference = item.answer.trim() !== "" ? item.answer : item.task === "describe" && item.scene ? caption(item.scene) : "";
  const needed = Math.max(1, wordCount(reference));
  const r = wordCount(text) / needed;
  return r < 0.5 ? 0 : r < 0.8 ? 1 : r <= 1.25 ? 2 : r <= 2.5 ? 3 : 4;
}

/** What the item must hold for its task to be graded, or undefined when it has it. */
export function missingGroundTruth(item: WorldItem): string | undefined {
  const task = item.task as string;
  if (task === "describe") return item.scene ? undefined : "a describe item without a scene graph: the grounded rater checks descriptions against the scene";
  if (task === "pope")
    return parseYesNo(item.answer) ? undefined : `a pope item whose reference answer ${JSON.stringify(item.answer)} does not start with yes or no`;
  if (task === "attribute" || task === "count" || task === "text")
    return normalizeAnswer(item.answer) !== "" ? undefined : `a ${task} item without a reference answer: the grounded rater compares answers with it`;
  return `task ${JSON.stringify(task)} is not one the grounded rater knows (describe, pope, attribute, count, text)`;
}

/** Grades and the findings behind them (for the rationale). */
export function assessResponse(item: WorldItem, response: string): { grades: Grades; notes: string[] } {
  const problem = missingGroundTruth(item);
  if (problem) throw new GroundTruthError(`item ${item.id}: ${problem}`);
  const notes: string[] = [];
  const text = response.trim();
  if (!/[a-z0-9]/i.test(text)) return { grades: { helpfulness: 0, correctness: 0, coherence: 0, complexity: 0, verbosity: 0 }, notes: ["empty"] };
  let correctness: number;
  let helpfulness: number;
  const scene = item.scene;
  const check = scene ? checkScene(text, scene) : undefined;
  const deductions = check ? 2 * check.hallucinated.size + check.wrong.size : 0;
  if (check) notes.push(...check.notes);
  if (item.task === "describe") {
    const n = (scene as Scene).objects.length;
    const c = check as SceneCheck;
    correctness = c.claims === 0 ? 1 : clamp(4 - deductions);
    helpfulness = n === 0 ? 4 : Math.round((4 * c.covered) / n);
    if (c.claims === 0) notes.push("says nothing about the scene");
    else notes.push(`mentions ${c.covered} of ${n} objects`);
  } else {
    let verdict: Verdict;
    if (item.task === "pope") {
      const said = parseYesNo(text);
      verdict = said === null ? "none" : said === parseYesNo(item.answer) ? "right" : "wrong";
    } else verdict = judgeAnswer(item, text);
    notes.unshift(verdict === "right" ? "right answer" : verdict === "wrong" ? "wrong answer" : "no answer");
    correctness = verdict === "right" ? clamp(4 - deductions) : verdict === "wrong" ? 0 : 1;
    helpfulness = verdict === "right" ? 4 : verdict === "wrong" ? 1 : 0;
  }
  return {
    grades: { helpfulness, correctness, coherence: coherence(text, item.answer, notes), complexity: complexity(text), verbosity: verbosity(item, text) },
    notes,
  };
}

/** The grades (0–4) of one response to one world item. Throws GroundTruthError when the item lacks what its task needs. */
export function gradeResponse(item: WorldItem, response: string): Grades {
  return assessResponse(item, response).grades;
}

/** A 0–4 grade on the scale min..max: linear, rounded (halves up). */
export function toScale(grade: number, scale: { min: number; max: number }): number {
  return Math.round(scale.min + (grade * (scale.max - scale.min)) / 4);
}

const isItem = (v: unknown): v is WorldItem =>
  typeof v === "object" && v !== null && typeof (v as WorldItem).task === "string" && typeof (v as WorldItem).answer === "string";

/** The reply for one request, or why there cannot be one. */
export function rateRequest(request: RaterRequest): RaterReply {
  const unknown = request.aspects.filter((a) => !(GROUNDED_ASPECTS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new GroundTruthError(`the grounded rater does not score ${unknown.join(", ")} (it scores ${GROUNDED_ASPECTS.join(", ")})`);
  const item = request.groundTruth;
  if (!isItem(item)) throw new GroundTruthError("no ground truth: the grounded rater needs the item's world record (scene and reference answer)");
  const lines: string[] = [];
  const scores = request.responses.map((response, i) => {
    const { grades, notes } = assessResponse({ ...item, id: request.itemId }, response);
    lines.push(`${i + 1}: ${notes.join("; ")}`);
    const out: Record<string, number> = {};
    for (const a of request.aspects) out[a] = toScale(grades[a as GroundedAspect], request.scale);
    return out;
  });
  return { scores, rationale: lines.join("\n") };
}

export function createGroundedRater(info: RatingInfo): RaterRuntime {
  return {
    info,
    async rate(requests: readonly RaterRequest[], hooks: RateHooks): Promise<ItemFailure[]> {
      const failures: ItemFailure[] = [];
      for (const [k, request] of requests.entries()) {
        let reply: RaterReply;
        try {
          reply = rateRequest(request);
        } catch (e) {
          if (!(e instanceof GroundTruthError)) throw e;
          const failure = { itemId: request.itemId, message: e.message.replace(`item ${request.itemId}: `, "") };
          failures.push(failure);
          hooks.onFailure?.(failure);
          continue;
        }
        hooks.onReply(request.itemId, reply);
        // Let the progress line and signals through on long runs.
        if (k % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
      }
      return failures;
    },
  };
}
