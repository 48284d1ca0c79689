// A TinyVLM as the runtime handles it: its architecture, its tokenizer and its weights by name. Checkpoint
// directories (src/runtime/models/checkpoint.ts) convert to and from this.

import type { TinyVlmConfig } from "../../../models/tinyvlm/config.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import type { Checkpoint } from "../checkpoint.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";

export interface VlmModel {
  config: TinyVlmConfig;
  tokenizer: Tokenizer;
  params: Map<string, TensorData>;
}

export function modelFromCheckpoint(ck: Checkpoint, source: string): VlmModel {
  const tokenizer = Tokenizer.fromJSON(ck.tokenizer, `${source}/tokenizer.json`);
  if (tokenizer.vocabSize > ck.config.vocab)
    throw new Error(`${source}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${ck.config.vocab}; they do not belong together`);
  return { config: ck.config, tokenizer, params: ck.params };
}

export function modelToCheckpoint(m: VlmModel): Checkpoint {
  return { config: m.config, tokenizer: m.tokenizer.toJSON(), params: m.params };
}

/** Parameter names and shapes, in the model's order (what program builders take). */
export function paramShapes(m: VlmModel): { name: string; shape: number[] }[] {
  return [...m.params].map(([name, t]) => ({ name, shape: [...t.shape] }));
}
