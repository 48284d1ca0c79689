// Items of the world, one at a time. Item i depends only on (seed, split, i) and the options: a larger count
// extends a dataset without changing its first items. Tasks take turns (item i has task i mod #tasks), and POPE
// items take turns over the negative splits, so every mix is balanced.
import { Rng } from "../../util/random.ts";
import { IMAGES_DIR, type WorldItem } from "./format.ts";
import type { WorldOptions } from "./options.ts";
import { encodePng } from "./png.ts";
import { render } from "./raster.ts";
import { type Scene, sampleScene, sceneKey, splitOf } from "./scene.ts";
import { ATTRIBUTE_KINDS, attribute, COUNT_KINDS, count, describe, pick, pope, type Question } from "./tasks.ts";
import { textTask } from "./text-tasks.ts";

/** Scenes drawn for one item before giving up; a val or test item needs about 10 on average. */
const MAX_TRIES = 10_000;

export interface GeneratedItem {
  item: WorldItem;
  /** The PNG of item.image, or null for text-only items. */
  png: Buffer | null;
}

export const itemId = (options: WorldOptions, index: number): string =>
  `${options.split}-${String(index).padStart(Math.max(6, String(options.count - 1).length), "0")}`;

export function generateItem(options: WorldOptions, index: number): GeneratedItem {
  const rng = new Rng(options.seed).fork(`shapes/${options.split}/${index}`);
  const task = options.tasks[index % options.tasks.length] as WorldItem["task"];
  const id = itemId(options, index);
  const base = { id, split: options.split, task };

  if (task === "text") {
    const q = draw(rng, options, (r) => {
      const t = textTask(r);
      return splitOf(`text: ${t.prompt}`) === options.split ? t : undefined;
    });
    return { item: { ...base, ...q, image: null, scene: null, negative: null }, png: null };
  }

  // What to ask is fixed before any scene is drawn, so redrawing scenes never shifts the mix (e.g. yes/no).
  let make: (r: Rng, scene: Scene) => Question | undefined;
  let negative: WorldItem["negative"] = null;
  if (task === "describe") make = (_, scene) => describe(scene);
  else if (task === "pope") {
    const n = options.negatives[Math.floor(index / options.tasks.length) % options.negatives.length] as NonNullable<WorldItem["negative"]>;
    const positive = rng.uniform() < 0.5;
    negative = n;
    make = (r, scene) => pope(r, scene, n, positive);
  } else if (task === "attribute") {
    const kind = pick(rng, ATTRIBUTE_KINDS);
    make = (r, scene) => attribute(r, scene, kind);
  } else {
    const kind = pick(rng, COUNT_KINDS);
    const zero = kind !== "count_all" && rng.uniform() < 0.25;
    make = (r, scene) => count(r, scene, kind, zero);
  }
  const drawn = draw(rng, options, (r) => {
    const scene = sampleScene(r, options.max_objects, options.bias);
    if (splitOf(sceneKey(scene)) !== options.split) return undefined;
    const q = make(r, scene);
    return q && { q, scene };
  });
  const image = `${IMAGES_DIR}/${id}.png`;
  const png = encodePng(render(drawn.scene, options.image_size), options.image_size, options.image_size);
  return { item: { ...base, ...drawn.q, image, scene: drawn.scene, negative }, png };
}

/** Redraws until `attempt` gives a question of this split. */
function draw<T>(rng: Rng, options: WorldOptions, attempt: (rng: Rng) => T | undefined): T {
  for (let i = 0; i < MAX_TRIES; i++) {
    const q = attempt(rng);
    if (q) return q;
  }
  throw new Error(`shapes: no ${options.split} item found in ${MAX_TRIES} draws (options ${JSON.stringify(options)})`);
}

export function* generateItems(options: WorldOptions): Generator<GeneratedItem> {
  for (let i = 0; i < options.count; i++) yield generateItem(options, i);
}
