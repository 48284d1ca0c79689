// Scene graphs and how they are sampled: 1…max_objects objects on a grid of slots, each with a shape, colour,
// size and place, with companion pairs completed with probability `bias`.
import type { Rng } from "../../util/random.ts";
import type { Split } from "./options.ts";
import { COLORS, COMPANION, type Color, PAIR_OF, PAIRS, POPULARITY, POSITIONS, type Position, SHAPES, type Shape, SIZES, type Size } from "./vocab.ts";

export interface SceneObject {
  shape: Shape;
  color: Color;
  size: Size;
  /** The third of the image (across and down) that holds the object's centre. */
  position: Position;
  /** Centre and radius as fractions of the image side (x right, y down), rounded to 1e-4; the rasteriser draws exactly these. */
  x: number;
  y: number;
  r: number;
}

export interface Scene {
  /** In reading order: by region, then by slot. */
  objects: SceneObject[];
}

/** Radius as a share of the slot side, per size. Jitter keeps every object within 0.46 of a slot from its centre. */
const RADIUS: Record<Size, number> = { small: 0.26, large: 0.42 };
const EXTENT = 0.46;

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)] as T;

/** A shape drawn with weights POPULARITY from `allowed` (non-empty). */
function pickShape(rng: Rng, allowed: readonly Shape[]): Shape {
  const total = allowed.reduce((s, x) => s + POPULARITY[x], 0);
  let u = rng.uniform() * total;
  for (const s of allowed) {
    u -= POPULARITY[s];
    if (u < 0) return s;
  }
  return allowed[allowed.length - 1] as Shape;
}

/**
 * The shapes of a scene of n objects. The first time a pair is drawn, a Bernoulli(bias) decides whether both
 * members come in (then the pair is "both": either may repeat) or only the drawn one (the other is then banned).
 * A new pair is only opened while two slots are free, so for n ≥ 2 every pair a scene touches holds both
 * members with probability exactly `bias`.
 */
function sampleShapes(rng: Rng, n: number, bias: number): Shape[] {
  const shapes: Shape[] = [];
  const state: ("both" | Shape | undefined)[] = PAIRS.map(() => undefined);
  while (shapes.length < n) {
    const room = n - shapes.length;
    const allowed = SHAPES.filter((s) => {
      const st = state[PAIR_OF[s]];
      return st === undefined ? room >= 2 || shapes.length === 0 : st === "both" || st === s;
    });
    const s = pickShape(rng, allowed);
    const pair = PAIR_OF[s];
    if (state[pair] === undefined) {
      const both = room >= 2 && rng.uniform() < bias;
      state[pair] = both ? "both" : s;
      shapes.push(s);
      if (both) shapes.push(COMPANION[s]);
    } else shapes.push(s);
  }
  return shapes;
}

/** Slots per side: 3 (one per region) up to 9 objects, else 6 (four per region), so a region is never ambiguous. */
const gridSide = (maxObjects: number): number => (maxObjects <= 9 ? 3 : 6);

export function sampleScene(rng: Rng, maxObjects: number, bias: number): Scene {
  const n = 1 + Math.floor(rng.uniform() * maxObjects);
  const shapes = sampleShapes(rng, n, bias);
  const g = gridSide(maxObjects);
  // A partial Fisher-Yates shuffle picks n distinct slots.
  const slots = Array.from({ length: g * g }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng.uniform() * (slots.length - i));
    [slots[i], slots[j]] = [slots[j] as number, slots[i] as number];
  }
  const chosen = slots.slice(0, n);
  const objects = shapes.map((shape, i) => {
    const slot = chosen[i] as number;
    const size = pick(rng, SIZES);
    const color = pick(rng, COLORS);
    const row = Math.floor(slot / g);
    const col = slot % g;
    const jitter = EXTENT - RADIUS[size];
    const x = round4((col + 0.5 + (rng.uniform() * 2 - 1) * jitter) / g);
    const y = round4((row + 0.5 + (rng.uniform() * 2 - 1) * jitter) / g);
    const position = POSITIONS[Math.floor((row * 3) / g) * 3 + Math.floor((col * 3) / g)] as Position;
    return { slot, object: { shape, color, size, position, x, y, r: round4(RADIUS[size] / g) } };
  });
  objects.sort((a, b) => POSITIONS.indexOf(a.object.position) - POSITIONS.indexOf(b.object.position) || a.slot - b.slot);
  return { objects: objects.map((o) => o.object) };
}

/** A scene's content without the jitter: what makes two scenes "the same" for keeping splits apart. */
export function sceneKey(scene: Scene): string {
  return scene.objects
    .map((o) => `${o.size} ${o.color} ${o.shape} ${o.position}`)
    .sort()
    .join("; ");
}

/**
 * The split a scene (or a text-only prompt) belongs to: FNV-1a of its key, 80% train, 10% val, 10% test.
 * Independent of the seed, so `shapes { split: train, seed: 1 }` and `shapes { split: test, seed: 2 }`
 * never share a scene.
 */
export function splitOf(key: string): Split {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const bucket = h % 10;
  return bucket < 8 ? "train" : bucket === 8 ? "val" : "test";
}

export function shapeCount(scene: Scene, shape: Shape): number {
  return scene.objects.filter((o) => o.shape === shape).length;
}
