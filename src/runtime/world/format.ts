// The on-disk format of a world dataset directory (docs/world.md): manifest.json, items.jsonl, images/*.png.
import type { Negative, Split, Task, WorldOptions } from "./options.ts";
import type { Scene } from "./scene.ts";
import type { vocabulary } from "./vocab.ts";

export const FORMAT = "alignc-world";
export const FORMAT_VERSION = 1;
/** The generator's algorithm version: the same options give the same items only under the same generator. */
export const GENERATOR = "shapes/1";
export const MANIFEST_FILE = "manifest.json";
export const ITEMS_FILE = "items.jsonl";
export const IMAGES_DIR = "images";

/** One line of items.jsonl. */
export interface WorldItem {
  id: string;
  split: Split;
  task: Task;
  /** The question type within the task, e.g. "color" or "count_shape" (docs/world.md lists them). */
  kind: string;
  prompt: string;
  /** The reference answer. */
  answer: string;
  /** Path of the PNG relative to the directory, or null for text-only items. */
  image: string | null;
  /** The scene graph of the image, or null for text-only items. */
  scene: Scene | null;
  /** POPE only: the negative-sampling split the question belongs to (its positives too). */
  negative: Negative | null;
  /**
   * Present when a file gave the prompt as a conversation (TRL's conversational format): the messages as written.
   * A model with a chat template renders them with its generation prompt; `prompt` is the user's text (TRL's rule:
   * plain-string prompts are used as they are).
   */
  messages?: ChatTurn[];
}

/** One message of a conversational prompt. */
export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface WorldManifest {
  format: typeof FORMAT;
  version: number;
  generator: string;
  options: WorldOptions;
  counts: { items: number; images: number; tasks: Partial<Record<Task, number>>; negatives: Partial<Record<Negative, number>> };
  vocabulary: ReturnType<typeof vocabulary>;
  files: { items: string; images: string };
}
