// A Hugging Face vision-language model (LLaVA, LLaVA-NeXT) as BDHS's completer (src/runtime/data/prefdata/bdhs.ts):
// prompts as TRL builds them with the item's image (prompts.ts), the keep mask over the prompt's image tokens — one
// per feature row, so LLaVA-NeXT's count depends on the image — hides those tokens' keys from every query (the
// generation program's `prompt_keep`; positions unchanged), and a sentence ends at any token whose text ends in ".".
// BDHS's guiding heads are encoded without special tokens and follow the prompt, as an answer's tokens do.
import type { BdhsCompleter } from "../../data/prefdata/bdhs.ts";
import type { HfGenerator } from "./generate.ts";
import { imageTokensFor } from "./images.ts";
import type { HfModel } from "./model.ts";
import { itemPromptIds } from "./prompts.ts";

export function hfCompleter(generator: HfGenerator): BdhsCompleter {
  const model = generator.model;
  const tok = model.tokenizer;
  const vision = model.vision;
  const stops = new Set(model.stopIds);
  const decode = (ids: readonly number[]) => tok.decode(ids, { skipSpecial: true });
  return {
    tokenizer: {
      encode: (text) => tok.encode(text),
      decode: (ids, o) => tok.decode(ids, o),
      // What the model's text of `text` reads as: its tokens decoded (token cuts compare prefixes with it).
      normalize: (text) => decode(tok.encode(text)),
    },
    promptIds: (entry) => itemPromptIds(model, entry.item),
    imageTokens: (entry) => (vision && entry.item.image ? imageTokensFor(vision, entry.item.image) : 0),
    pixelNoise: false,
    sentenceStops: sentenceStops(model),
    answerStops: model.stopIds,
    continuationText(head, continuation) {
      const said = continuation.filter((id) => !stops.has(id));
      if (said.length === 0) return "";
      const before = decode(head);
      const whole = decode([...head, ...said]);
      return whole.startsWith(before) ? whole.slice(before.length) : decode(said);
    },
    generate: (rows, o) =>
      generator.generate(
        rows.map((r) => ({
          promptIds: r.promptIds,
          ...(vision && r.entry.item.image ? { image: r.entry.item.image, keep: r.keep } : {}),
        })),
        o,
      ),
    get stats() {
      return generator.stats;
    },
  };
}

const stopsByModel = new WeakMap<HfModel, number[]>();

/** The model's stop ids and every token whose text ends with "." (once per model: it decodes the vocabulary). */
function sentenceStops(model: HfModel): number[] {
  const known = stopsByModel.get(model);
  if (known) return known;
  const ids = new Set(model.stopIds);
  for (let id = 0; id < model.tokenizer.vocabSize; id++) if (model.tokenizer.decode([id], { skipSpecial: true }).endsWith(".")) ids.add(id);
  const out = [...ids].sort((a, b) => a - b);
  stopsByModel.set(model, out);
  return out;
}
