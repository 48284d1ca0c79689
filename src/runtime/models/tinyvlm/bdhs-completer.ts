// TinyVLM's generator as BDHS's completer (src/runtime/data/prefdata/bdhs.ts): prompts are <bos> + the item's text,
// every item shows the model's fixed number of image tokens, the keep mask is the programs' `image_keep` input and
// noise "pixels" replaces the image's pixels.
import { imageTokens } from "../../../models/tinyvlm/config.ts";
import type { BdhsCompleter } from "../../data/prefdata/bdhs.ts";
import { continuationText, type Generator, sentenceStopTokens } from "./generate-rows.ts";

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
