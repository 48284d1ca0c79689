// How many parameters a Hugging Face model has and how many a training phase trains, from its config alone (exact:
// the tensors the config implies, a tied head once). `alignc plan` prints them per training phase, so a recipe's
// size is known from the checkpoint's JSON files before any weight is downloaded.
import { type HfLoraModule, hfLoraModules } from "../config.ts";
import type { HfModelConfig } from "../model-config.ts";
import { expectedDecoderTensors } from "../weights.ts";

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Parameters of the parts: the language model, a LLaVA's vision tower (every layer, as the checkpoint holds it) and
 * projector — with LLaVA-NeXT's image_newline, which sits between them and trains with the projector in full fine-tuning.
 */
export function parameterCounts(c: HfModelConfig): { language: number; tower: number; projector: number } {
  let language = 0;
  for (const shape of expectedDecoderTensors(c.text).values()) language += elements(shape);
  if (!c.llava) return { language, tower: 0, projector: 0 };
  const v = c.llava.vision;
  const D = v.hidden;
  const positions = v.grid * v.grid + (v.classToken ? 1 : 0);
  const layer = 4 * (D * D + D) + 2 * D * v.intermediate + v.intermediate + D + 4 * D; // attention, MLP, two LayerNorms
  const embeddings = 3 * v.patchSize * v.patchSize * D + (v.patchBias ? D : 0) + (v.classToken ? D : 0) + positions * D;
  // CLIP: pre_layrnorm and post_layernorm; SigLIP: post_layernorm and its attention-pooling head (hub checkpoints keep both).
  const ends = v.classToken ? 4 * D : 2 * D + siglipHead(D, v.intermediate, v.heads);
  const tower = v.layers * layer + embeddings + ends;
  const T = c.text.hiddenSize;
  const bias = c.llava.projectorBias ? 2 * T : 0;
  const projector = D * c.llava.featureLayers.length * T + T * T + bias + (c.llava.pinpoints ? T : 0);
  return { language, tower, projector };
}

/** SigLIP's multihead attention pooling head: a probe, in-projection and out-projection, a LayerNorm and an MLP. */
function siglipHead(D: number, I: number, _heads: number): number {
  return D + (3 * D * D + 3 * D) + (D * D + D) + 2 * D + (D * I + I + I * D + D);
}

/** Parameters a phase trains: LoRA adapters (r·(in + out) per adapted module) and a projector at projector_lr, or every language-model and projector weight. */
export function trainableCount(c: HfModelConfig, lora: { rank: number; targets: readonly string[]; projector: boolean } | undefined): number {
  const counts = parameterCounts(c);
  if (!lora) return counts.language + counts.projector;
  const adapters = hfLoraModules(c.text)
    .filter((m) => lora.targets.includes(m.name as HfLoraModule))
    .reduce((n, m) => n + m.count * lora.rank * (m.in + m.out), 0);
  // A PEFT adapter saves the projector as a module; NeXT's image_newline (a bare parameter) stays frozen under LoRA.
  return adapters + (lora.projector ? counts.projector - (c.llava?.pinpoints ? c.text.hiddenSize : 0) : 0);
}
