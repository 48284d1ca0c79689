// Sampling n responses per prompt (the `sample` stage, also timed by `npm run bench -- prefdata`). Each prompt is
// repeated n times; the sampling noise differs per row and advances with every run of the generator, so the n
// responses are independent draws, and the same settings give the same responses on CPU. Responses are generated
// in rounds of 16 tokens: a row that stopped does not hold its batch for the remaining steps (one-word answers and
// long descriptions share batches), measured about 2× faster than one run of max_tokens steps.
import { imageTokens } from "../../../models/tinyvlm/config.ts";
import type { HfGenerator } from "../../models/hf/generate.ts";
import { imageOf, itemPromptIds } from "../../models/hf/prompts.ts";
import type { Example } from "../../models/tinyvlm/feeds.ts";
import type { GeneratedRow, GenerateRow, GenerateRowsOptions, Generator } from "../../models/tinyvlm/generate-rows.ts";
import type { WorldItem } from "../../world/format.ts";
import type { SampleRecord, SamplerInfo } from "./records.ts";

/** New tokens per generation run; unfinished rows continue in the next. */
export const ROUND_TOKENS = 16;

export class SampleError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7012";
  override name = "SampleError";
}

export interface SampleStats {
  prompts: number;
  responses: number;
  tokens: number;
  empty_responses: number;
  /** Responses that reached max_tokens (or the context) without <eos>. */
  unfinished_responses: number;
}

/** `examples[i]` is `items[i]` with its image decoded at the model's size. */
export async function sampleResponses(
  generator: Generator,
  items: readonly WorldItem[],
  examples: readonly Example[],
  n: number,
  sampler: SamplerInfo,
  onProgress?: (done: number, total: number) => void,
): Promise<{ records: SampleRecord[]; stats: SampleStats }> {
  const { model } = generator;
  const tok = model.tokenizer;
  const visible = imageTokens(model.config);
  const rows: GenerateRow[] = examples.map((ex) => {
    const promptIds = [tok.bosId, ...tok.encode(ex.prompt)];
    if (promptIds.length >= model.config.textContext)
      throw new SampleError(
        `item ${ex.id}: its prompt of ${promptIds.length} tokens leaves no room to answer within the model's text context of ${model.config.textContext}`,
      );
    return { promptIds, rgb: ex.rgb, keep: new Float32Array(visible).fill(ex.rgb ? 1 : 0) };
  });
  return drawSamples((r, o, p) => generator.generate(r, o, p), rows, items, n, sampler, [tok.eosId], onProgress);
}

/** n responses per item from a Hugging Face model (prompt text, or its conversation through the chat template; a vision-language model sees the item's image). */
export function sampleHfResponses(
  generator: HfGenerator,
  items: readonly WorldItem[],
  n: number,
  sampler: SamplerInfo,
  onProgress?: (done: number, total: number) => void,
): Promise<{ records: SampleRecord[]; stats: SampleStats }> {
  const model = generator.model;
  const rows = items.map((item) => {
    if (item.image && !model.vision) throw new SampleError(`item ${item.id} has an image, and ${model.architecture} is a text model; sample from text prompts`);
    const promptIds = itemPromptIds(model, item);
    if (promptIds.length >= model.config.maxPositionEmbeddings)
      throw new SampleError(
        `item ${item.id}: its prompt of ${promptIds.length} tokens leaves no room to answer within the model's ${model.config.maxPositionEmbeddings} positions`,
      );
    return { promptIds, ...imageOf(model, item) };
  });
  return drawSamples((r, o, p) => generator.generate(r, o, p), rows, items, n, sampler, undefined, onProgress);
}

/**
 * n responses for each of `items`, whose generation rows are `rows` (one per item), by `generate` — any model's
 * generator — with the sampler's settings and `stops`; the records and their statistics.
 */
export async function drawSamples<R>(
  generate: (rows: readonly R[], o: GenerateRowsOptions, onBatch?: (done: number, total: number) => void) => Promise<GeneratedRow[]>,
  rows: readonly R[],
  items: readonly WorldItem[],
  n: number,
  sampler: SamplerInfo,
  stops: readonly number[] | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<{ records: SampleRecord[]; stats: SampleStats }> {
  const repeated = rows.flatMap((row) => Array.from({ length: n }, () => row));
  const generated = await generate(
    repeated,
    {
      maxTokens: sampler.max_tokens,
      temperature: sampler.temperature,
      topP: sampler.top_p < 1 ? sampler.top_p : undefined,
      topK: sampler.top_k > 0 ? sampler.top_k : undefined,
      seed: sampler.seed,
      ...(stops ? { stopTokens: stops } : {}),
      roundTokens: ROUND_TOKENS,
    },
    onProgress,
  );
  const stats: SampleStats = { prompts: items.length, responses: repeated.length, tokens: 0, empty_responses: 0, unfinished_responses: 0 };
  const records = items.map((item, i) => ({
    id: item.id,
    item,
    responses: generated.slice(i * n, (i + 1) * n).map((g) => {
      stats.tokens += g.tokens.length;
      if (g.text === "") stats.empty_responses++;
      if (!g.stopped) stats.unfinished_responses++;
      return { text: g.text, tokens: g.tokens.length, logprob: g.logprob };
    }),
    sampler,
  }));
  return { records, stats };
}
