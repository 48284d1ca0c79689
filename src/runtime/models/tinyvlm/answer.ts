// Answers of a TinyVLM to a list of examples' prompts: batches of prompts through the generation program (KV cache,
// one Loop run per batch), stopped at <eos>, decoded without special tokens.

import { imageTokens } from "../../../models/tinyvlm/config.ts";
import { buildGenerateProgram } from "../../../models/tinyvlm/generate.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import { serializeModel } from "../../../tensor/onnx/serialize.ts";
import type { Runtime } from "../../engine/session.ts";
import { type Example, FeedError } from "./feeds.ts";
import { paramShapes, type VlmModel } from "./model.ts";

export interface AnswerOptions {
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  topK?: number;
  seed: number;
  /** Prompts per generation run (default 64). */
  batch?: number;
  /** Hide every image token (the per-example keep mask all zero): what the model says without looking. */
  blind?: boolean;
}

export interface Answer {
  text: string;
  tokens: number[];
  /** Sum of the chosen tokens' log-probabilities under the untempered model. */
  logprob: number;
}

export interface AnswerRun {
  answers: Map<string, Answer>;
  /** New tokens per prompt actually allowed: maxTokens, or less when prompt + answer would exceed the context. */
  maxTokens: number;
}

export async function answerAll(
  runtime: Runtime,
  model: VlmModel,
  examples: readonly Example[],
  o: AnswerOptions,
  onBatch?: (done: number, total: number) => void,
): Promise<AnswerRun> {
  const c = model.config;
  const tok = model.tokenizer;
  const prompts = examples.map((ex) => [tok.bosId, ...tok.encode(ex.prompt)]);
  const longest = Math.max(1, ...prompts.map((p) => p.length));
  if (longest >= c.textContext)
    throw new FeedError(`a prompt of ${longest} tokens leaves no room to answer within the model's text context of ${c.textContext}`);
  const promptLength = Math.min(Math.ceil(longest / 8) * 8, c.textContext - 1);
  const steps = Math.min(o.maxTokens, c.textContext - promptLength);
  const batch = Math.max(1, Math.min(o.batch ?? 64, examples.length));
  const program = buildGenerateProgram(c, paramShapes(model), {
    batch,
    promptLength,
    steps,
    temperature: o.temperature,
    topP: o.topP,
    topK: o.topK,
    seed: o.seed,
    stopTokens: [tok.eosId],
    pad: tok.padId,
  });
  const session = await runtime.load(serializeModel(program.root));
  const weights: Record<string, TensorData> = {};
  for (const [name, t] of model.params) weights[`param/${name}`] = t;

  const side = c.imageSize;
  const p = imageTokens(c);
  const answers = new Map<string, Answer>();
  for (let start = 0; start < examples.length; start += batch) {
    const pixels = new Float32Array(batch * side * side * 3);
    const keep = new Float32Array(batch * p);
    const promptIds = new BigInt64Array(batch * promptLength).fill(BigInt(tok.padId));
    const lengths = new BigInt64Array(batch);
    // The last batch is filled up with the first example again; those rows are ignored.
    const rows = Array.from({ length: batch }, (_, r) => (start + r < examples.length ? start + r : 0));
    rows.forEach((index, r) => {
      const ex = examples[index] as Example;
      if (ex.rgb) {
        if (ex.rgb.length !== side * side * 3) throw new FeedError(`example ${ex.id}: the image is not ${side}×${side}`);
        for (let i = 0; i < ex.rgb.length; i++) pixels[r * side * side * 3 + i] = (ex.rgb[i] as number) / 255;
        if (!o.blind) keep.fill(1, r * p, (r + 1) * p);
      }
      const ids = prompts[index] as number[];
      ids.forEach((id, i) => {
        promptIds[r * promptLength + i] = BigInt(id);
      });
      lengths[r] = BigInt(ids.length);
    });
    const out = await runtime.run(session, {
      ...weights,
      pixels: { dtype: "float32", shape: [batch, side, side, 3], data: pixels },
      prompt: { dtype: "int64", shape: [batch, promptLength], data: promptIds },
      prompt_length: { dtype: "int64", shape: [batch], data: lengths },
      image_keep: { dtype: "float32", shape: [batch, p], data: keep },
    });
    const tokens = out.tokens!.data as BigInt64Array;
    const logprobs = out.logprobs!.data as Float32Array;
    const counts = out.lengths!.data as BigInt64Array;
    for (let r = 0; r < batch && start + r < examples.length; r++) {
      const n = Number(counts[r]);
      const ids = Array.from(tokens.subarray(r * steps, r * steps + n), Number);
      let logprob = 0;
      for (let i = 0; i < n; i++) logprob += logprobs[r * steps + i] as number;
      const said = ids.filter((id) => id !== tok.eosId);
      const text = tok.decode(said, { skipSpecial: true }).trim();
      answers.set((examples[start + r] as Example).id, { text, tokens: ids, logprob });
    }
    onBatch?.(Math.min(start + batch, examples.length), examples.length);
  }
  return { answers, maxTokens: steps };
}
