// Log-probabilities of given answers under a TinyVLM (the reference model of DPO): each answer's token log-probs,
// summed and averaged, through the log-prob program in batches of a fixed size; sequences are grouped by padded
// length so a short answer is not padded to the longest. Rows that fill up a batch repeat its first rows and are ignored.

import { buildLogProbProgram } from "../../../models/tinyvlm/programs.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import { serializeModel } from "../../../tensor/onnx/serialize.ts";
import type { LoadedSession, Runtime } from "../../engine/session.ts";
import { type Example, sftFeeds } from "./feeds.ts";
import { paramShapes, type VlmModel } from "./model.ts";
import { paddedLengths } from "./sft.ts";

export interface SequenceLogProb {
  sum: number;
  mean: number;
  /** Answer tokens scored (with the final <eos>). */
  tokens: number;
}

/** Log-probs of each example's answer given its prompt and image, by example id. */
export async function answerLogProbs(
  runtime: Runtime,
  model: VlmModel,
  examples: readonly Example[],
  o: { batch?: number; onBatch?: (done: number, total: number) => void; onScored?: (id: string, lp: SequenceLogProb) => void } = {},
): Promise<Map<string, SequenceLogProb>> {
  const out = new Map<string, SequenceLogProb>();
  if (examples.length === 0) return out;
  const lengths = paddedLengths(model, examples);
  const byLength = new Map<number, number[]>();
  for (const [i, length] of lengths.entries()) byLength.set(length, [...(byLength.get(length) ?? []), i]);
  const weights: Record<string, TensorData> = {};
  for (const [name, t] of model.params) weights[`param/${name}`] = t;
  const sessions = new Map<string, Promise<LoadedSession>>();
  const maxBatch = Math.max(1, o.batch ?? 32);
  let done = 0;
  for (const length of [...byLength.keys()].sort((a, b) => a - b)) {
    const members = byLength.get(length) as number[];
    for (let start = 0; start < members.length; start += maxBatch) {
      const chunk = members.slice(start, start + maxBatch).map((i) => examples[i] as Example);
      // Always the same batch size: ONNX Runtime's kernels may round differently for another batch shape, and an
      // answer's log-prob must not depend on which other answers were scored with it (they are cached by content).
      const batch = maxBatch;
      const key = `${batch}/${length}`;
      let session = sessions.get(key);
      if (!session) {
        session = runtime.load(serializeModel(buildLogProbProgram(model.config, paramShapes(model), batch, length).root));
        sessions.set(key, session);
      }
      // sftFeeds stages [steps, batch, …]; one step of `batch` rows, filled up by wrapping around the chunk.
      const staged = sftFeeds(model.config, model.tokenizer, chunk, batch, 1, length);
      const feeds: Record<string, TensorData> = { ...weights };
      for (const [field, t] of Object.entries(staged)) feeds[field] = { ...t, shape: t.shape.slice(1) };
      const result = await runtime.run(await session, feeds);
      const sums = result.sum!.data as Float32Array;
      const means = result.mean!.data as Float32Array;
      const masks = staged.loss_mask!.data as Float32Array;
      chunk.forEach((ex, r) => {
        let tokens = 0;
        for (let t = 0; t < length; t++) tokens += masks[r * length + t] as number;
        const lp = { sum: sums[r] as number, mean: means[r] as number, tokens };
        out.set(ex.id, lp);
        o.onScored?.(ex.id, lp);
      });
      done += chunk.length;
      o.onBatch?.(done, examples.length);
    }
  }
  return out;
}
