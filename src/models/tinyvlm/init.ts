// TinyVLM parameter names and initial values (Hugging Face-style dotted names, stored as such in
// model.safetensors).
import type { TensorData } from "../../tensor/ir/graph.ts";
import type { Rng } from "../../util/random.ts";
import { initStack } from "../layers/stack.ts";
import { normal, ones, zeros } from "../params/init.ts";
import { imageTokens, type TinyVlmConfig } from "./config.ts";

export function initTinyVlm(c: TinyVlmConfig, rng: Rng): { name: string; data: TensorData }[] {
  const out: { name: string; data: TensorData }[] = [];
  const add = (name: string, data: TensorData) => {
    out.push({ name, data });
  };
  const d = c.dtype;
  const p = imageTokens(c);
  const patchIn = c.patch * c.patch * 3;
  add("vision.patch_embed", normal(rng.fork("vision.patch_embed"), [patchIn, c.vision.width], 1 / Math.sqrt(patchIn), 0, d));
  add("vision.patch_bias", zeros([c.vision.width], d));
  add("vision.positions", normal(rng.fork("vision.positions"), [p, c.vision.width], 0.02, 0, d));
  initStack(add, "vision.blocks", c.vision, rng, d);
  add("vision.final_norm.scale", ones([c.vision.width], d));
  add("vision.final_norm.bias", zeros([c.vision.width], d));
  add("projector.weight", normal(rng.fork("projector.weight"), [c.vision.width, c.text.width], 1 / Math.sqrt(c.vision.width), 0, d));
  add("projector.bias", zeros([c.text.width], d));
  add("text.embed.tokens", normal(rng.fork("text.embed.tokens"), [c.vocab, c.text.width], 0.02, 0, d));
  add("text.embed.positions", normal(rng.fork("text.embed.positions"), [p + c.textContext, c.text.width], 0.02, 0, d));
  initStack(add, "text.blocks", c.text, rng, d);
  add("text.final_norm.scale", ones([c.text.width], d));
  add("text.final_norm.bias", zeros([c.text.width], d));
  add("text.unembed", normal(rng.fork("text.unembed"), [c.text.width, c.vocab], 0.02, 0, d));
  return out;
}
