// model.init: a freshly initialised TinyVLM of a named size (with overrides) and a tokenizer trained on the world's
// text, written as a checkpoint directory.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { imageTokens, parameterCount, type SizeName, type TinyVlmConfig, tinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import { initTinyVlm } from "../../../models/tinyvlm/init.ts";
import { Rng } from "../../../util/random.ts";
import { saveCheckpoint } from "../../models/checkpoint.ts";
import { modelToCheckpoint } from "../../models/tinyvlm/model.ts";
import { Tokenizer } from "../../models/tokenizer/tokenizer.ts";
import { ASCII_ALPHABET, CORPUS_VERSION, worldCorpus } from "../../world/corpus.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

/** Tokenizer vocabulary budget per size (BPE stops earlier when no pair is frequent enough). */
const VOCAB_BUDGET: Record<SizeName, number> = { nano: 512, small: 1024, base: 1024 };

/** What a `tinyvlm { … }` declaration sets over its named size's configuration (absent: the size's). */
interface Overrides {
  layers: number | undefined;
  width: number | undefined;
  heads: number | undefined;
  visionLayers: number | undefined;
  patch: number | undefined;
  imageSize: number | undefined;
  context: number | undefined;
}

export const modelInit = defineExecutor({
  ...nodeKind("model.init"),
  settings: (p) => ({
    size: p.size satisfies SizeName,
    seed: p.seed,
    overrides: {
      layers: p.layers,
      width: p.width,
      heads: p.heads,
      visionLayers: p.vision_layers,
      patch: p.patch,
      imageSize: p.image_size,
      context: p.context,
    } satisfies Overrides,
  }),
  async run(ctx, { size, seed, overrides }) {
    const tokenizer = Tokenizer.train(worldCorpus(), { vocabSize: VOCAB_BUDGET[size], initialAlphabet: ASCII_ALPHABET });
    const config = configure(tinyVlmConfig(size, tokenizer.vocabSize), overrides);
    const params = new Map(initTinyVlm(config, new Rng(seed)).map((w) => [w.name, w.data]));
    saveCheckpoint(ctx.out, modelToCheckpoint({ config, tokenizer, params }));
    const count = parameterCount(config);
    ctx.log.line(`${ctx.node.id}: tinyvlm ${size}, ${count.toLocaleString("en-US")} parameters, vocabulary ${config.vocab} (${CORPUS_VERSION})`);
    return { size, parameters: count, vocab: config.vocab, imageTokens: imageTokens(config), textContext: config.textContext };
  },
});

/**
 * Applies the `tinyvlm { … }` overrides to a named size's configuration. The checker sees width and heads (or patch
 * and image_size) only when both are written; one written over the size's other can still not divide.
 */
function configure(base: TinyVlmConfig, o: Overrides): TinyVlmConfig {
  const c: TinyVlmConfig = { ...base, vision: { ...base.vision }, text: { ...base.text } };
  if (o.width !== undefined) c.text = { ...c.text, width: o.width, hidden: 4 * o.width };
  c.text.layers = o.layers ?? c.text.layers;
  c.text.heads = o.heads ?? c.text.heads;
  c.vision.layers = o.visionLayers ?? c.vision.layers;
  c.patch = o.patch ?? c.patch;
  c.imageSize = o.imageSize ?? c.imageSize;
  c.textContext = o.context ?? c.textContext;
  if (c.text.width % c.text.heads !== 0)
    throw new NodeError(`tinyvlm: width ${c.text.width} is not divisible by ${c.text.heads} heads; set heads to a divisor of the width`);
  if (c.imageSize % c.patch !== 0)
    throw new NodeError(`tinyvlm: image_size ${c.imageSize} is not divisible by patch ${c.patch}; set patch to a divisor of the image size`);
  return c;
}
