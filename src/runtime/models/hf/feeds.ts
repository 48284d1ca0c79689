// Host-side batches for the Hugging Face decoders' log-prob and training programs (src/models/hf/train.ts): each row
// is a prompt and an answer, right-padded to the batch's length; the answer's tokens are the scored slots — slot j
// scores answer token j from position |prompt| − 1 + j. RoPE tables for positions 0..length−1 (padding comes after
// the real tokens, so every row counts from 0 as transformers does).
import type { DecoderShape } from "../../../models/hf/decoder.ts";
import { ropeTables } from "../../../models/hf/rope.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";

export interface ScoredSequence {
  promptIds: readonly number[];
  answerIds: readonly number[];
  /** The image a vision-language model sees with the prompt (a file path; its tokens are among promptIds). */
  image?: string;
}

/** Length and scored slots a batch of `rows` needs: the longest prompt + answer and the longest answer. */
export function sequenceSize(rows: readonly ScoredSequence[]): { length: number; scored: number } {
  let length = 1;
  let scored = 1;
  for (const r of rows) {
    length = Math.max(length, r.promptIds.length + r.answerIds.length);
    scored = Math.max(scored, r.answerIds.length);
  }
  return { length, scored };
}

/**
 * Feeds of `hfSequenceBatch` for `rows` padded to `length` tokens and `scored` slots; a batch of `batch` rows repeats
 * the last row into unused slots with a zero score mask (so they add nothing). Every prompt needs at least one token.
 */
export function sequenceFeeds(
  s: DecoderShape,
  rows: readonly ScoredSequence[],
  batch: number,
  length: number,
  scored: number,
  pad: number,
): Record<string, TensorData> {
  const ids = new BigInt64Array(batch * length).fill(BigInt(pad));
  const mask = new BigInt64Array(batch * length);
  const positions = new BigInt64Array(batch * scored);
  const labels = new BigInt64Array(batch * scored);
  const scoreMask = new Float32Array(batch * scored);
  for (let r = 0; r < batch; r++) {
    const row = rows[Math.min(r, rows.length - 1)] as ScoredSequence;
    const real = r < rows.length;
    const seq = [...row.promptIds, ...row.answerIds];
    if (row.promptIds.length === 0) throw new RangeError("hf feeds: a prompt needs at least one token");
    if (seq.length > length || row.answerIds.length > scored)
      throw new RangeError(`hf feeds: a row of ${seq.length} tokens (${row.answerIds.length} scored) exceeds the batch's ${length} (${scored})`);
    seq.forEach((id, i) => {
      ids[r * length + i] = BigInt(id);
      mask[r * length + i] = 1n;
    });
    row.answerIds.forEach((id, j) => {
      positions[r * scored + j] = BigInt(row.promptIds.length - 1 + j);
      labels[r * scored + j] = BigInt(id);
      scoreMask[r * scored + j] = real ? 1 : 0;
    });
  }
  const at = Array.from({ length }, (_, i) => i);
  const { cos, sin } = ropeTables(
    s,
    Array.from({ length: batch }, () => at),
  );
  return {
    input_ids: { dtype: "int64", shape: [batch, length], data: ids },
    attention_mask: { dtype: "int64", shape: [batch, length], data: mask },
    cos,
    sin,
    positions: { dtype: "int64", shape: [batch, scored], data: positions },
    labels: { dtype: "int64", shape: [batch, scored], data: labels },
    score_mask: { dtype: "float32", shape: [batch, scored], data: scoreMask },
  };
}
