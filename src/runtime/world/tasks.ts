// Questions about a scene, in a fixed grammar: descriptions, POPE yes/no questions, attribute and counting
// questions. Each returns undefined when the scene cannot carry the question (the caller draws another scene).
import type { Rng } from "../../util/random.ts";
import type { Negative } from "./options.ts";
import { type Scene, type SceneObject, shapeCount } from "./scene.ts";
import { COLORS, COMPANION, numberWord, POPULARITY, POSITION_PHRASE, plural, SHAPES, type Shape } from "./vocab.ts";

export interface Question {
  kind: string;
  prompt: string;
  answer: string;
}

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)] as T;
/** A one-phrase answer as a sentence: "Red." */
export const sentence = (s: string): string => `${s[0]?.toUpperCase() ?? ""}${s.slice(1)}.`;
const article = (word: string): string => (/^[aeiou]/.test(word) ? "an" : "a");
const unique = <T>(xs: readonly SceneObject[], key: (o: SceneObject) => T): SceneObject[] => xs.filter((o) => xs.filter((p) => key(p) === key(o)).length === 1);

export const DESCRIBE_PROMPT = "Describe the image in detail.";

/** The caption: how many objects, then one sentence per object in reading order. */
export function caption(scene: Scene): string {
  const n = scene.objects.length;
  const head = n === 1 ? "There is one object." : `There are ${numberWord(n)} objects.`;
  return [head, ...scene.objects.map((o) => `A ${o.size} ${o.color} ${o.shape} is ${POSITION_PHRASE[o.position]}.`)].join(" ");
}

export function describe(scene: Scene): Question {
  return { kind: "describe", prompt: DESCRIBE_PROMPT, answer: caption(scene) };
}

/** The shapes a POPE negative of split `negative` may ask about; all absent from the scene. */
export function negativeCandidates(scene: Scene, negative: Negative): Shape[] {
  const absent = SHAPES.filter((s) => shapeCount(scene, s) === 0);
  if (negative === "random") return absent;
  // POPE's popular split: the k = 3 most frequent objects of the dataset that the image lacks.
  if (negative === "popular") return [...absent].sort((a, b) => POPULARITY[b] - POPULARITY[a]).slice(0, 3);
  // The adversarial split: objects that usually co-occur with those present, here their absent companions.
  return absent.filter((s) => shapeCount(scene, COMPANION[s]) > 0);
}

export function pope(rng: Rng, scene: Scene, negative: Negative, positive: boolean): Question | undefined {
  const ask = (color: string, shape: string) => `Is there ${article(color)} ${color} ${shape} in the image?`;
  if (positive) {
    const o = pick(rng, scene.objects);
    return { kind: "pope", prompt: ask(o.color, o.shape), answer: "Yes." };
  }
  const candidates = negativeCandidates(scene, negative);
  if (candidates.length === 0) return undefined;
  return { kind: "pope", prompt: ask(pick(rng, COLORS), pick(rng, candidates)), answer: "No." };
}

export const ATTRIBUTE_KINDS = ["color", "shape", "size", "position"] as const;

export function attribute(rng: Rng, scene: Scene, kind: (typeof ATTRIBUTE_KINDS)[number]): Question | undefined {
  const objects = scene.objects;
  // Each question names its object by something no other object in the scene shares.
  const among =
    kind === "shape" ? unique(objects, (o) => o.position) : kind === "size" ? unique(objects, (o) => `${o.color} ${o.shape}`) : unique(objects, (o) => o.shape);
  if (among.length === 0) return undefined;
  const o = pick(rng, among);
  if (kind === "color") return { kind, prompt: `What color is the ${o.shape}?`, answer: sentence(o.color) };
  if (kind === "shape") return { kind, prompt: `What shape is ${POSITION_PHRASE[o.position]}?`, answer: sentence(o.shape) };
  if (kind === "size") return { kind, prompt: `What size is the ${o.color} ${o.shape}?`, answer: sentence(o.size) };
  return { kind, prompt: `Where is the ${o.shape}?`, answer: sentence(POSITION_PHRASE[o.position]) };
}

export const COUNT_KINDS = ["count_all", "count_shape", "count_color"] as const;

/** `zero`: ask about a shape or colour the scene lacks, so that "zero" is sometimes the answer. */
export function count(rng: Rng, scene: Scene, kind: (typeof COUNT_KINDS)[number], zero: boolean): Question | undefined {
  const objects = scene.objects;
  if (kind === "count_all") return { kind, prompt: "How many objects are there?", answer: sentence(numberWord(objects.length)) };
  if (kind === "count_shape") {
    const shapes = SHAPES.filter((s) => (shapeCount(scene, s) === 0) === zero);
    if (shapes.length === 0) return undefined;
    const s = pick(rng, shapes);
    return { kind, prompt: `How many ${plural(s)} are there?`, answer: sentence(numberWord(shapeCount(scene, s))) };
  }
  const colors = COLORS.filter((c) => objects.some((o) => o.color === c) !== zero);
  if (colors.length === 0) return undefined;
  const c = pick(rng, colors);
  return { kind, prompt: `How many ${c} objects are there?`, answer: sentence(numberWord(objects.filter((o) => o.color === c).length)) };
}
