// Cosine similarity of a Hugging Face sentence encoder's embeddings (BERT, MPNet: all-mpnet-base-v2 is what the BDHS
// paper compares attempts with), as sentence-transformers computes them: the text tokenized with the encoder's
// special tokens and cut at its max_seq_length, the last hidden states mean-pooled over the tokens. The Normalize
// module some checkpoints end with is not computed: a cosine does not change when its vectors are scaled.
import { buildEncoderEmbeddingProgram, encoderPositionIds } from "../../../models/hf/encoder.ts";
import { serializeModel } from "../../../tensor/onnx/serialize.ts";
import type { LoadedSession, Runtime } from "../../engine/session.ts";
import type { HfEncoder } from "../../models/hf/encoder.ts";
import { EmbeddingSimilarity } from "./embedding-batches.ts";

export class EncoderCosineSimilarity extends EmbeddingSimilarity {
  readonly name: string;
  readonly maxLength: number;
  private readonly sessions = new Map<string, Promise<LoadedSession>>();

  constructor(
    private readonly runtime: Runtime,
    private readonly encoder: HfEncoder,
    batch = 64,
  ) {
    super(batch);
    this.name = `cosine(${encoder.config.architecture}, mean)`;
    this.maxLength = encoder.config.maxLength;
  }

  /** The encoder's ids with its special tokens, cut at max_seq_length (embeddings are mean-pooled, not normalised). */
  encode(text: string): number[] {
    const c = this.encoder.config;
    return this.encoder.tokenizer.encode(c.lowercaseInput ? text.toLowerCase() : text, c.maxLength);
  }

  async run(rows: number[][], batch: number, length: number): Promise<Float32Array[]> {
    const c = this.encoder.config;
    const key = `${batch}x${length}`;
    let session = this.sessions.get(key);
    if (!session) {
      const program = buildEncoderEmbeddingProgram(c, this.encoder.weights.tensors, { batch, length });
      session = this.runtime.load(serializeModel(program.root), undefined, { folder: this.encoder.weights.folder, files: this.encoder.weights.files });
      this.sessions.set(key, session);
    }
    const pad = this.encoder.tokenizer.padId;
    const ids = new BigInt64Array(batch * length).fill(BigInt(pad));
    const positions = new BigInt64Array(batch * length);
    const mask = new Float32Array(batch * length);
    for (let r = 0; r < batch; r++) {
      const row = rows[r < rows.length ? r : 0] as number[];
      const padded = [...row, ...new Array<number>(length - row.length).fill(pad)];
      const pos = encoderPositionIds(c, padded, length);
      for (let i = 0; i < length; i++) {
        ids[r * length + i] = BigInt(padded[i] as number);
        positions[r * length + i] = BigInt(pos[i] as number);
        if (i < row.length) mask[r * length + i] = 1;
      }
    }
    const out = await this.runtime.run(await session, {
      input_ids: { dtype: "int64", shape: [batch, length], data: ids },
      position_ids: { dtype: "int64", shape: [batch, length], data: positions },
      attention_mask: { dtype: "float32", shape: [batch, length], data: mask },
    });
    const data = out.embeddings?.data as Float32Array;
    const width = c.hiddenSize;
    return rows.map((_, r) => data.slice(r * width, (r + 1) * width));
  }
}
