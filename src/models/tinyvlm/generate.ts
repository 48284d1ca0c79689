// Generation for a batch of prompts inside one Loop run, with a KV cache. The prefill runs the image and the
// prompts through the model once, keeping every layer's keys and values in caches of the full sequence length
// S = P + textContext; each Loop iteration then chooses a token, writes its keys and values at the example's next
// position, and computes the next logits from one position only. `visible` ([B, S]) says which cache positions a
// query may attend to: the kept image tokens, the real prompt tokens, and the tokens generated so far — which also
// makes the attention causal.
import type { Tensor } from "../../tensor/ir/graph.ts";
import { ShapeError } from "../../tensor/ir/shape.ts";
import { Builder } from "../../tensor/ops/builder.ts";
import * as op from "../../tensor/ops/index.ts";
import { attend, causalMask, keyMaskBias, projectHeads } from "../layers/attention.ts";
import { residualBlock } from "../layers/blocks.ts";
import { chooseStep, generationOutputs, type StepChoice } from "../layers/sampling.ts";
import { blockWeights } from "../layers/stack.ts";
import { imageTokens, type TinyVlmConfig } from "./config.ts";
import { encodeImage } from "./forward.ts";

/** The sampling, the stop tokens (EOS, or a stop token such as "."; kept in the output) and the pad, as StepChoice. */
export interface GenerateSpec extends StepChoice {
  batch: number;
  /** Prompt tensor width (prompts are right-padded; their lengths are an input). */
  promptLength: number;
  /** Most new tokens per example. */
  steps: number;
}

/** Program inputs: `param/<name>` for every weight, `pixels`, `prompt`, `prompt_length`, `image_keep`. Outputs: `tokens` [B, N], `logprobs` [B, N] (log p of each chosen token under the untempered model; 0 after a stop), `lengths` [B]. */
export function buildGenerateProgram(c: TinyVlmConfig, params: { name: string; shape: number[] }[], spec: GenerateSpec): Builder {
  const p = imageTokens(c);
  const s = p + c.textContext;
  const tp = spec.promptLength;
  if (tp + spec.steps > c.textContext) throw new ShapeError(`generate: prompt width ${tp} + ${spec.steps} steps exceed the text context ${c.textContext}`);
  const b = new Builder("generate");
  const weights = new Map(params.map((w) => [w.name, b.input(`param/${w.name}`, c.dtype, w.shape)]));
  const weight = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`generate: no parameter "${name}"`);
    return t;
  };
  const bsz = spec.batch;
  const pixels = b.input("pixels", c.dtype, [bsz, c.imageSize, c.imageSize, 3]);
  const prompt = b.input("prompt", "int64", [bsz, tp]);
  const promptLength = b.input("prompt_length", "int64", [bsz]);
  const imageKeep = b.input("image_keep", c.dtype, [bsz, p]);

  // Prefill over [image tokens][prompt].
  const promptMask = op.cast(op.less(b.tensor("int64", range(tp), [1, tp]), op.unsqueeze(promptLength, [1])), c.dtype); // [B, Tp]
  const keyMask = op.concat([imageKeep, promptMask], 1);
  const positions = weight("text.embed.positions");
  let h = op.add(op.concat([encodeImage(c, weight, pixels), op.gather(weight("text.embed.tokens"), prompt, 0)], 1), op.slice(positions, [0], [p + tp], [0]));
  const bias = op.add(causalMask(h, p + tp), keyMaskBias(keyMask));
  const caches: Tensor[] = [];
  for (let l = 0; l < c.text.layers; l++) {
    const w = blockWeights(weight, "text.blocks", l);
    h = residualBlock(h, w, (normed) => {
      const { q, k, v } = projectHeads(normed, w.attention, c.text.heads);
      const padTo = (t: Tensor) => op.pad(t, [0, 0, 0, 0, 0, 0, s - (p + tp), 0]);
      caches.push(padTo(k), padTo(v));
      return attend(q, k, v, bias, w.attention.o);
    });
  }
  // Logits at each example's last prompt token.
  const lastIndex = op.add(promptLength, p - 1);
  const pick = op.unsqueeze(op.oneHot(lastIndex, p + tp, c.dtype), [2]); // [B, P+Tp, 1]
  const last = op.reduceSum(op.mul(h, pick), [1]); // [B, D]
  const logits0 = finalLogits(weight, last);
  const visible0 = op.pad(keyMask, [0, 0, 0, s - (p + tp)]); // nothing generated yet
  const done0 = op.expand(b.tensor("bool", [0]), [bsz]);
  const pos0 = op.add(promptLength, p);

  const result = op.loop(
    b,
    spec.steps,
    [logits0, visible0, pos0, done0, ...caches],
    (_i, [logits, visible, pos, done, ...kv]) => {
      const { token, nextDone, scans } = chooseStep(logits!, done!, spec);
      // Feed the chosen token at `pos`.
      const at = op.oneHot(pos!, s, c.dtype); // [B, S]
      const nextVisible = op.max(visible!, at);
      const write = op.greater(op.unsqueeze(at, [1, 3]), 0.5); // [B, 1, S, 1]
      let x = op.unsqueeze(op.add(op.gather(weight("text.embed.tokens"), token, 0), op.gather(positions, pos!, 0)), [1]); // [B, 1, D]
      const stepBias = keyMaskBias(nextVisible);
      const nextKv: Tensor[] = [];
      for (let l = 0; l < c.text.layers; l++) {
        const w = blockWeights(weight, "text.blocks", l);
        x = residualBlock(x, w, (normed) => {
          const { q, k, v } = projectHeads(normed, w.attention, c.text.heads);
          const kc = op.where(write, k, kv[2 * l]!);
          const vc = op.where(write, v, kv[2 * l + 1]!);
          nextKv.push(kc, vc);
          return attend(q, kc, vc, stepBias, w.attention.o);
        });
      }
      const nextLogits = finalLogits(weight, op.squeeze(x, [1]));
      return {
        carried: [nextLogits, nextVisible, op.add(pos!, 1), nextDone, ...nextKv],
        scans,
      };
    },
    { name: "generate" },
  );
  generationOutputs(b, result.scans);
  return b;
}

function finalLogits(weight: (name: string) => Tensor, hidden: Tensor): Tensor {
  return op.matmul(op.layerNorm(hidden, weight("text.final_norm.scale"), weight("text.final_norm.bias")), weight("text.unembed"));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
