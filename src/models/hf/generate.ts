// Generation for a batch of prompts inside one Loop run with a KV cache, for the Hugging Face decoders (decoder.ts).
// Prompts are right-padded to a width W and their lengths are an input. The prefill runs every prompt through the
// decoder once and keeps each layer's keys (RoPE applied) and values in caches of S = W + steps positions; each Loop
// iteration chooses a token from the last logits, writes its keys and values at the row's next position and computes
// the next logits from that one position. A row's positions are 0, 1, … over its real tokens, as transformers counts
// them from the attention mask, so padding changes nothing. `visible` [B, S] marks the cache positions a query may
// attend to: the real prompt tokens and the tokens generated so far (which makes attention causal).
//
// RoPE tables come from the host for positions 0..S−1 (`rope_cos`, `rope_sin` [S, headDim], rope.ts); each step
// gathers its row's position. Token choice (greedy, or Gumbel-max after temperature/top-k/top-p) is layers/sampling.ts.
import type { Tensor } from "../../tensor/ir/graph.ts";
import { ShapeError } from "../../tensor/ir/shape.ts";
import { Builder } from "../../tensor/ops/builder.ts";
import * as op from "../../tensor/ops/index.ts";
import { hiddenBias } from "../layers/attention.ts";
import { chooseStep, generationOutputs, type StepChoice } from "../layers/sampling.ts";
import {
  attendAndProject,
  attentionBias,
  type DecoderParams,
  type DecoderShape,
  type DecoderWeights,
  decoderHead,
  layerWindow,
  mergeImageFeatures,
  projectQkv,
  rmsNorm,
  swigluMlp,
  weightInitializers,
} from "./decoder.ts";
import { adapterInitializers, type HfAdapterValues } from "./lora.ts";

export interface HfGenerateSpec extends StepChoice {
  batch: number;
  /** Prompt tensor width (right-padded). */
  promptLength: number;
  /** Most new tokens per row. */
  steps: number;
  /**
   * An input `prompt_keep` float32 [B, W]: 0 hides that prompt position's key from every query (BDHS masks image
   * tokens so); positions and the other keys are unchanged. Without it every real prompt token is visible.
   */
  promptKeep?: boolean;
}

/**
 * Inputs: `prompt` int64 [B, W], `prompt_length` int64 [B] (≥ 1), `rope_cos`, `rope_sin` float32 [W + steps, headDim].
 * Outputs: `tokens` int64 [B, steps] (pad after a stop), `logprobs` float32 [B, steps] (log p of each chosen token
 * under the untempered model; 0 after a stop), `lengths` int64 [B] (tokens made, the stop token included); with
 * `spec.promptKeep` also the input `prompt_keep` float32 [B, W]. With
 * `adapters`, the decoder with those LoRA adapters (lora.ts), as the policy of an online phase samples.
 */
export function buildHfGenerateProgram(
  s: DecoderShape,
  weights: DecoderWeights,
  spec: HfGenerateSpec,
  adapters?: HfAdapterValues,
  /** A vision-language model's images, merged into the prompt's embeddings (decoder.ts DecoderInputs.images; index [B·W]). */
  images?: (b: Builder) => { features: Tensor; index: Tensor },
): Builder {
  const { batch: bsz, promptLength: tp, steps } = spec;
  if (!(tp >= 1 && steps >= 1)) throw new ShapeError(`hf generate: prompt width ${tp} and steps ${steps} must both be at least 1`);
  const total = tp + steps;
  const b = new Builder("hf_generate");
  const weight = weightInitializers(b, s, weights);
  const p: DecoderParams = adapters ? { weight, lora: adapterInitializers(b, s, adapters) } : { weight };
  const dtype = weight("model.embed_tokens.weight").dtype;
  const prompt = b.input("prompt", "int64", [bsz, tp]);
  const promptLength = b.input("prompt_length", "int64", [bsz]);
  const ropeCos = b.input("rope_cos", "float32", [total, s.headDim]);
  const ropeSin = b.input("rope_sin", "float32", [total, s.headDim]);
  const asDtype = (x: Tensor) => (x.dtype === dtype ? x : op.cast(x, dtype));
  const cosAll = asDtype(ropeCos);
  const sinAll = asDtype(ropeSin);

  // Prefill: [B, W] prompts, positions 0..W−1 (padding sits after each row's real tokens, so positions match).
  const real = op.cast(op.less(b.tensor("int64", range(tp), [1, tp]), op.unsqueeze(promptLength, [1])), "float32"); // [B, W]
  const promptMask = spec.promptKeep ? op.mul(real, b.input("prompt_keep", "float32", [bsz, tp])) : real;
  const prefillTable = (x: Tensor) => op.unsqueeze(op.slice(x, [0], [tp], [0]), [0, 2]); // [1, W, 1, hd]
  const cache = { cos: prefillTable(cosAll), sin: prefillTable(sinAll) };
  const bias = attentionBias(promptMask, tp);
  // Sliding-window layers (decoder.ts layerWindow) see only the W − 1 positions before each query.
  const window = s.slidingWindow ?? undefined;
  const prefillWindowBias = window !== undefined && tp > window ? attentionBias(promptMask, tp, window) : bias;
  const windowIn = (l: number, length: number) => layerWindow(s, l, length) !== undefined;
  let h = op.reshape(op.gather(weight("model.embed_tokens.weight"), prompt, 0), [bsz * tp, s.hidden]);
  if (images) h = mergeImageFeatures(h, images(b));
  const caches: Tensor[] = [];
  for (let l = 0; l < s.layers; l++) {
    const layer = `model.layers.${l}`;
    const x = rmsNorm(h, weight(`${layer}.input_layernorm.weight`), s.rmsEps);
    const { q, k, v } = projectQkv(s, p, `${layer}.self_attn`, x, bsz, tp, cache.cos, cache.sin);
    // Caches of S positions: [B, KV, 1, S, hd].
    const padTo = (t: Tensor) => op.pad(t, [0, 0, 0, 0, 0, 0, 0, 0, steps, 0]);
    caches.push(padTo(k), padTo(v));
    h = op.add(h, attendAndProject(s, p, `${layer}.self_attn`, q, k, v, windowIn(l, tp) ? prefillWindowBias : bias, bsz, tp));
    h = op.add(h, swigluMlp(rmsNorm(h, weight(`${layer}.post_attention_layernorm.weight`), s.rmsEps), s, p, `${layer}.mlp`));
  }
  // Logits at each row's last real prompt token: row b·W + length − 1 of the [B·W, D] hidden states.
  const rowStart = b.tensor(
    "int64",
    Array.from({ length: bsz }, (_, i) => i * tp),
    [bsz],
  );
  const last = op.gather(h, op.add(op.sub(promptLength, 1), rowStart), 0); // [B, D]
  const logits0 = decoderHead(s, p, last);
  const visible0 = op.pad(promptMask, [0, 0, 0, steps]); // [B, S]
  const done0 = op.expand(b.tensor("bool", [0]), [bsz]);

  const result = op.loop(
    b,
    steps,
    [logits0, visible0, promptLength, done0, ...caches],
    (_i, [logits, visible, pos, done, ...kv]) => {
      const { token, nextDone, scans } = chooseStep(logits!, done!, spec);
      // The chosen token enters at position `pos` of its row.
      const at = op.oneHot(pos!, total, "float32"); // [B, S]
      const nextVisible = op.max(visible!, at);
      const write = op.greater(op.unsqueeze(at, [1, 2, 4]), 0.5); // [B, 1, 1, S, 1]
      const stepTable = (x: Tensor) => op.unsqueeze(op.gather(x, pos!, 0), [1, 2]); // [B, 1, 1, hd]
      const cos = stepTable(cosAll);
      const sin = stepTable(sinAll);
      const biasOf = (seen: Tensor) => op.unsqueeze(op.mul(op.sub(seen, 1), -hiddenBias("float32")), [1, 2, 3]); // [B, 1, 1, 1, S]
      const stepBias = biasOf(nextVisible);
      // Within the window: cache positions j > pos − W (the cache holds positions, so j is a position).
      const stepWindowBias =
        window !== undefined && total > window
          ? biasOf(op.mul(nextVisible, op.cast(op.greater(b.tensor("int64", range(total), [1, total]), op.unsqueeze(op.sub(pos!, window), [1])), "float32")))
          : stepBias;
      let x = op.gather(weight("model.embed_tokens.weight"), token, 0); // [B, D]
      const nextKv: Tensor[] = [];
      for (let l = 0; l < s.layers; l++) {
        const layer = `model.layers.${l}`;
        const normed = rmsNorm(x, weight(`${layer}.input_layernorm.weight`), s.rmsEps);
        const { q, k, v } = projectQkv(s, p, `${layer}.self_attn`, normed, bsz, 1, cos, sin);
        const kc = op.where(write, k, kv[2 * l]!);
        const vc = op.where(write, v, kv[2 * l + 1]!);
        nextKv.push(kc, vc);
        x = op.add(x, attendAndProject(s, p, `${layer}.self_attn`, q, kc, vc, windowIn(l, total) ? stepWindowBias : stepBias, bsz, 1));
        x = op.add(x, swigluMlp(rmsNorm(x, weight(`${layer}.post_attention_layernorm.weight`), s.rmsEps), s, p, `${layer}.mlp`));
      }
      return {
        carried: [decoderHead(s, p, x), nextVisible, op.add(pos!, 1), nextDone, ...nextKv],
        scans,
      };
    },
    { name: "generate" },
  );
  generationOutputs(b, result.scans);
  return b;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
