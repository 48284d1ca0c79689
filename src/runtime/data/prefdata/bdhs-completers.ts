// The models BDHS completes with (bdhs.ts's BdhsCompleter), one function per family:
//  • TinyVLM's generator: prompts are <bos> + the item's text, every item shows the model's fixed number of image
//    tokens, the keep mask is the programs' `image_keep` input and noise "pixels" replaces the image's pixels;
//  • a Hugging Face vision-language model (LLaVA, LLaVA-NeXT): prompts as TRL builds them with the item's image
//    (models/hf/prompts.ts), the keep mask over the prompt's image tokens — one per feature row, so LLaVA-NeXT's count
//    depends on the image — hides those tokens' keys from every query (the generation program's `prompt_keep`;
//    positions unchanged), and a sentence ends at any token whose text ends in ".". BDHS's guiding heads are encoded
//    without special tokens and follow the prompt, as an answer's tokens do.
import { imageTokens } from "../../../models/tinyvlm/config.ts";
import type { HfGenerator } from "../../models/hf/generate.ts";
import { imageTokensFor } from "../../models/hf/images.ts";
import type { HfModel } from "../../models/hf/model.ts";
import { itemPromptIds } from "../../models/hf/prompts.ts";
import { continuationText, type Generator, sentenceStopTokens } from "../../models/tinyvlm/generate-rows.ts";
import type { BdhsCompleter } from "./bdhs.ts";

export function tinyVlmCompleter(generator: Generator): BdhsCompleter {
  const tok = generator.model.tokenizer;
  const p = imageTokens(generator.model.config);
  return {
    tokenizer: tok,
    promptIds: (entry) => [tok.bosId, ...tok.encode(entry.item.prompt)],
    imageTokens: (entry) => (entry.rgb ? p : 0),
    pixelNoise: true,
    sentenceStops: sentenceStopTokens(tok),
    answerStops: [tok.eosId],
    continuationText: (head, continuation) => continuationText(tok, head, continuation),
    // A row without an image hides every image token.
    generate: (rows, o) =>
      generator.generate(
        rows.map((r) => ({
          promptIds: r.promptIds,
          rgb: r.entry.rgb,
          keep: r.keep.length > 0 ? r.keep : new Float32Array(p),
          ...(r.pixels ? { pixels: r.pixels } : {}),
        })),
        o,
      ),
    get stats() {
      return generator.stats;
    },
  };
}

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
