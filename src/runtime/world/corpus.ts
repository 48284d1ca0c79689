// The text a world-trained tokenizer learns from: prompts and answers of every task in every split (a fixed seed,
// so the tokenizer is a function of the generator version), every vocabulary word, and an alphabet of printable
// ASCII so that other text still tokenizes without <unk>.
import { GENERATOR } from "./format.ts";
import { generateItem } from "./generate.ts";
import { SPLITS, worldOptions } from "./options.ts";
import { vocabulary } from "./vocab.ts";

/** Printable ASCII: the tokenizer's base alphabet even where the corpus lacks a character. */
export const ASCII_ALPHABET = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");

/** Identifies the corpus: a tokenizer trained on it changes only when this does. */
export const CORPUS_VERSION = `${GENERATOR}/corpus-1`;

export function* worldCorpus(itemsPerSplit = 1500): Generator<string> {
  for (const split of SPLITS) {
    const options = worldOptions({ split, count: itemsPerSplit, seed: 0, max_objects: 6, image_size: 16 });
    for (let i = 0; i < itemsPerSplit; i++) {
      const { item } = generateItem(options, i);
      yield item.prompt;
      yield item.answer;
    }
  }
  // Every word the vocabulary knows, synonyms and phrases included.
  yield* JSON.stringify(vocabulary())
    .split(/[^a-z_ ]+/)
    .filter((w) => w.trim() !== "");
}
