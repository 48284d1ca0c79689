// The shapes world: a seeded synthetic multimodal dataset with exact scene graphs (docs/world.md).
export { FORMAT, FORMAT_VERSION, GENERATOR, IMAGES_DIR, ITEMS_FILE, MANIFEST_FILE, type WorldItem, type WorldManifest } from "./format.ts";
export { type GeneratedItem, generateItem, generateItems } from "./generate.ts";
export { type Mention, mentions } from "./mentions.ts";
export { DEFAULTS, NEGATIVES, type Negative, SPLITS, type Split, TASKS, type Task, type WorldOptions, WorldOptionsError, worldOptions } from "./options.ts";
export { decodePng, encodePng } from "./png.ts";
export { render } from "./raster.ts";
export { formatProblem, readWorld, type WorldDataset, type WorldProblem } from "./read.ts";
export { type Scene, type SceneObject, sampleScene, sceneKey, splitOf } from "./scene.ts";
export { caption } from "./tasks.ts";
export { WorldDirError, writeWorld } from "./write.ts";
