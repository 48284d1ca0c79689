// model.init: a freshly initialised TinyVLM of a named size (with overrides) and a tokenizer trained on the world's
// text, written as a checkpoint directory.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { imageTokens, parameterCount, SIZES, type SizeName, type TinyVlmConfig, tinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import { initTinyVlm } from "../../../models/tinyvlm/init.ts";
import { Rng } from "../../../util/random.ts";
import { saveCheckpoint } from "../../models/checkpoint.ts";
import { modelToCheckpoint } from "../../models/tinyvlm/model.ts";
import { Tokenizer } from "../../models/tokenizer/tokenizer.ts";
import { ASCII_ALPHABET, CORPUS_VERSION, worldCorpus } from "../../world/corpus.ts";
import { NodeError, type NodeExecutor } from "../node-executor.ts";

/** Tokenizer vocabulary budget per size (BPE stops earlier when no pair is frequent enough). */
const VOCAB_BUDGET: Record<SizeName, number> = { nano: 512, small: 1024, base: 1024 };

export const modelInit: NodeExecutor = {
  ...nodeKind("model.init"),
  async run(ctx) {
    const p = ctx.node.params;
    const size = (p.size ?? "nano") as SizeName;
    if (!(size in SIZES)) throw new NodeError(`tinyvlm: unknown size ${JSON.stringify(size)}; use ${Object.keys(SIZES).join(", ")}`);
    const tokenizer = Tokenizer.train(worldCorpus(), { vocabSize: VOCAB_BUDGET[size], initialAlphabet: ASCII_ALPHABET });
    const config = configure(tinyVlmConfig(size, tokenizer.vocabSize), p);
    const seed = typeof p.seed === "number" ? p.seed : 0;
    const params = new Map(initTinyVlm(config, new Rng(seed)).map((w) => [w.name, w.data]));
    saveCheckpoint(ctx.out, modelToCheckpoint({ config, tokenizer, params }));
    const count = parameterCount(config);
    ctx.log.line(`${ctx.node.id}: tinyvlm ${size}, ${count.toLocaleString("en-US")} parameters, vocabulary ${config.vocab} (${CORPUS_VERSION})`);
    return { size, parameters: count, vocab: config.vocab, imageTokens: imageTokens(config), textContext: config.textContext };
  },
};

/** Applies the `tinyvlm { … }` overrides to a named size's configuration. */
function configure(base: TinyVlmConfig, p: Record<string, unknown>): TinyVlmConfig {
  const c: TinyVlmConfig = { ...base, vision: { ...base.vision }, text: { ...base.text } };
  const int = (key: string): number | undefined => (typeof p[key] === "number" ? (p[key] as number) : undefined);
  const width = int("width");
  if (width !== undefined) c.text = { ...c.text, width, hidden: 4 * width };
  c.text.layers = int("layers") ?? c.text.layers;
  c.text.heads = int("heads") ?? c.text.heads;
  c.vision.layers = int("vision_layers") ?? c.vision.layers;
  c.patch = int("patch") ?? c.patch;
  c.imageSize = int("image_size") ?? c.imageSize;
  c.textContext = int("context") ?? c.textContext;
  if (c.text.width % c.text.heads !== 0)
    throw new NodeError(`tinyvlm: width ${c.text.width} is not divisible by ${c.text.heads} heads; set heads to a divisor of the width`);
  if (c.imageSize % c.patch !== 0)
    throw new NodeError(`tinyvlm: image_size ${c.imageSize} is not divisible by patch ${c.patch}; set patch to a divisor of the image size`);
  return c;
}
