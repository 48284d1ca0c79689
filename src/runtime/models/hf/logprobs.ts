// Answer log-probs under a Hugging Face decoder (reference log-probs of DPO, log-likelihood evaluations): rows of
// (prompt ids, answer ids) in batches of similar size through the log-prob program (logits only at the answer's
// positions), weights in place. Each answer gets the sum and the mean of its tokens' log-probs. A vision-language
// model's rows carry their images (one feature slot per row, images.ts).
import { buildHfLogProbProgram } from "../../../models/hf/decoder.ts";
import type { HfAdapterValues } from "../../../models/hf/lora.ts";
import { buildLlavaLogProbProgram } from "../../../models/hf/vision/llava.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import { externalDataOf, serializeModel } from "../../../tensor/onnx/serialize.ts";
import type { Runtime } from "../../engine/session.ts";
import type { SequenceLogProb } from "../tinyvlm/logprobs.ts";
import { type ScoredSequence, sequenceFeeds } from "./feeds.ts";
import { ImageFeeds } from "./images.ts";
import { HfCheckpointError, type HfModel } from "./model.ts";

const BATCH = 8;
const STEP = 16;
const up = (n: number) => Math.ceil(n / STEP) * STEP;

/** Log-probs of every row's answer, in row order; `onScored(i, lp)` as each batch finishes. */
export async function hfAnswerLogProbs(
  runtime: Runtime,
  model: HfModel,
  rows: readonly ScoredSequence[],
  o: {
    onBatch?: (done: number) => void;
    onScored?: (index: number, lp: SequenceLogProb) => void;
    /** LoRA adapters over the model's weights (an online phase's sampling policy). */
    adapters?: HfAdapterValues;
  } = {},
): Promise<SequenceLogProb[]> {
  const context = model.config.maxPositionEmbeddings;
  rows.forEach((r, i) => {
    if (r.answerIds.length === 0) throw new HfCheckpointError(`row ${i}: an empty answer has no log-prob`);
    if (r.promptIds.length + r.answerIds.length > context)
      throw new HfCheckpointError(`row ${i}: ${r.promptIds.length + r.answerIds.length} tokens exceed the model's ${context} positions`);
  });
  // Rows by (padded length, padded answer length), so short answers do not pay for long ones.
  const order = rows.map((_, i) => i).sort((a, b) => size(rows[a] as ScoredSequence) - size(rows[b] as ScoredSequence));
  const out: SequenceLogProb[] = new Array(rows.length);
  let images: ImageFeeds | undefined;
  let done = 0;
  for (let at = 0; at < order.length; at += BATCH) {
    const chunk = order.slice(at, at + BATCH);
    const seqs = chunk.map((i) => rows[i] as ScoredSequence);
    const length = Math.min(context, up(Math.max(...seqs.map((s) => s.promptIds.length + s.answerIds.length))));
    const scored = up(Math.max(...seqs.map((s) => s.answerIds.length)));
    const batch = chunk.length;
    const vision = model.vision;
    const program = vision
      ? buildLlavaLogProbProgram(vision.config, model.shape, model.weights.tensors, { batch, length, scored, images: batch }, o.adapters)
      : buildHfLogProbProgram(model.shape, model.weights, { batch, length, scored }, o.adapters);
    const session = await runtime.load(serializeModel(program.root), undefined, externalDataOf(program.root, model.weights.folder));
    const { score_mask: _mask, ...feeds } = sequenceFeeds(model.shape, seqs, batch, length, scored, model.padId);
    if (vision) {
      images ??= new ImageFeeds(vision);
      Object.assign(
        feeds,
        await images.rowFeeds(
          feeds.input_ids as TensorData,
          seqs.map((s) => s.image),
        ),
      );
    }
    const got = (await runtime.run(session, feeds)).token_logprobs?.data as Float32Array;
    chunk.forEach((index, r) => {
      const n = (rows[index] as ScoredSequence).answerIds.length;
      let sum = 0;
      for (let j = 0; j < n; j++) sum += got[r * scored + j] as number;
      const lp = { sum, mean: sum / n, tokens: n };
      out[index] = lp;
      o.onScored?.(index, lp);
    });
    done += chunk.length;
    o.onBatch?.(done);
  }
  return out;
}

function size(s: ScoredSequence): number {
  return up(s.promptIds.length + s.answerIds.length) * 10_000 + up(s.answerIds.length);
}
