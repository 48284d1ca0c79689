// Batched generation with a Hugging Face decoder through its KV-cache program (src/models/hf/generate.ts): rows are
// token-id prompts, generated in rounds and batches by width (../generation-rounds.ts); one program per (batch, width,
// steps, sampling, stops) is compiled and kept for the calls that follow. The weights
// stay in the checkpoint's files (external data); the programs hold only references. A vision-language model's rows
// carry their images: each row of a batch has its own feature slot (images.ts), merged into the prompt's prefill.
//
// Sampling noise: as TinyVLM's Generator, the programs load into a private Runtime, so the noise depends only on the
// seed and on the calls made through this generator; close() releases those sessions.
import { buildHfGenerateProgram } from "../../../models/hf/generate.ts";
import type { HfAdapterValues } from "../../../models/hf/lora.ts";
import { ropeTables } from "../../../models/hf/rope.ts";
import { buildLlavaGenerateProgram } from "../../../models/hf/vision/llava.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import { externalDataOf, serializeModel } from "../../../tensor/onnx/serialize.ts";
import { Rng } from "../../../util/random.ts";
import { type LoadedSession, Runtime } from "../../engine/session.ts";
import { generateInRounds, passByWidth } from "../generation-rounds.ts";
import type { GeneratedRow, GenerateRowsOptions, GeneratorStats } from "../tinyvlm/generate-rows.ts";
import { ImageFeeds } from "./images.ts";
import { HfCheckpointError, type HfModel } from "./model.ts";

export interface HfGenerateRow {
  /** Prompt token ids (BOS or the chat template's tokens included). */
  promptIds: readonly number[];
  /** The image a vision-language model sees with the prompt (a file path; its tokens are among promptIds). */
  image?: string;
  /** Per image token of the prompt, in order: 1 visible, 0 hidden from every query (BDHS's mask); default all visible. */
  keep?: Float32Array;
}

export class HfGenerator {
  private readonly own: Runtime;
  private readonly sessions = new Map<string, Promise<LoadedSession>>();
  private readonly images: ImageFeeds | undefined;
  readonly stats: GeneratorStats = { rows: 0, tokens: 0, runs: 0, programs: 0, seconds: 0 };

  constructor(
    runtime: Runtime,
    readonly model: HfModel,
    /** LoRA adapters over the model's weights (an online phase's policy); none: the model itself. */
    private readonly adapters?: HfAdapterValues,
  ) {
    this.own = new Runtime(runtime.options);
    this.images = model.vision ? new ImageFeeds(model.vision) : undefined;
  }

  /** Most positions a row may fill: max_position_embeddings. */
  get context(): number {
    return this.model.config.maxPositionEmbeddings;
  }

  /** Generates for every row, in row order; stops at `stopTokens` (default: the model's stop ids). */
  async generate(rows: readonly HfGenerateRow[], o: GenerateRowsOptions, onBatch?: (done: number, total: number) => void): Promise<GeneratedRow[]> {
    const stops = [...new Set(o.stopTokens ?? this.model.stopIds)].sort((a, b) => a - b);
    const round = o.roundTokens !== undefined && o.roundTokens >= 1 ? Math.min(Math.floor(o.roundTokens), o.maxTokens) : o.maxTokens;
    rows.forEach((row, i) => {
      if (row.promptIds.length === 0) throw new HfCheckpointError(`generate: row ${i} has no prompt tokens`);
    });
    this.stats.rows += rows.length;
    const stopSet = new Set(stops);
    const state = await generateInRounds(
      rows,
      { maxTokens: o.maxTokens, round, stops: stopSet, context: this.context },
      (r, n) => this.pass(r, n, stops, o),
      onBatch,
    );
    const tok = this.model.tokenizer;
    return state.map((st) => {
      const said = st.tokens.filter((id) => !stopSet.has(id));
      const text = said.length > 0 ? tok.decode(said, { skipSpecial: true }).trim() : "";
      return { tokens: st.tokens, text, logprob: st.logprob, stopped: st.stopped };
    });
  }

  private pass(rows: HfGenerateRow[], maxTokens: number, stops: number[], o: GenerateRowsOptions): Promise<{ tokens: number[]; logprobs: number[] }[]> {
    return passByWidth(rows, { maxTokens, context: this.context, maxBatch: o.batch ?? 16 }, (batchRows, batch, width, steps) =>
      this.runBatch(batchRows, batch, width, steps, stops, o),
    );
  }

  private session(batch: number, width: number, steps: number, stops: number[], o: GenerateRowsOptions): Promise<LoadedSession> {
    const sampling = { temperature: o.temperature, topP: o.topP, topK: o.topK };
    const key = JSON.stringify({ batch, width, steps, stops, ...sampling, seed: o.seed });
    let s = this.sessions.get(key);
    if (!s) {
      const spec = {
        batch,
        promptLength: width,
        steps,
        ...sampling,
        seed: new Rng(Math.trunc(o.seed)).fork(key).nextU32() & 0x7fffffff,
        stopTokens: stops,
        pad: this.model.padId,
      };
      const vision = this.model.vision;
      const program = vision
        ? buildLlavaGenerateProgram(vision.config, this.model.shape, this.model.weights.tensors, spec, batch, this.adapters)
        : buildHfGenerateProgram(this.model.shape, this.model.weights, spec, this.adapters);
      s = this.own.load(serializeModel(program.root), undefined, externalDataOf(program.root, this.model.weights.folder));
      this.sessions.set(key, s);
      this.stats.programs++;
    }
    return s;
  }

  private async runBatch(
    rows: HfGenerateRow[],
    batch: number,
    width: number,
    steps: number,
    stops: number[],
    o: GenerateRowsOptions,
  ): Promise<{ tokens: number[]; logprobs: number[] }[]> {
    const session = await this.session(batch, width, steps, stops, o);
    const t0 = performance.now();
    const prompt = new BigInt64Array(batch * width).fill(BigInt(this.model.padId));
    const lengths = new BigInt64Array(batch);
    // Unused rows of the last batch repeat row 0; their outputs are ignored.
    for (let r = 0; r < batch; r++) {
      const row = rows[r < rows.length ? r : 0] as HfGenerateRow;
      row.promptIds.forEach((id, i) => {
        prompt[r * width + i] = BigInt(id);
      });
      lengths[r] = BigInt(row.promptIds.length);
    }
    const total = width + steps;
    const { cos, sin } = ropeTables(this.model.shape, [Array.from({ length: total }, (_, i) => i)]);
    const ids: TensorData = { dtype: "int64", shape: [batch, width], data: prompt };
    const feeds: Record<string, TensorData> = {
      prompt: ids,
      prompt_length: { dtype: "int64", shape: [batch], data: lengths },
      rope_cos: { ...cos, shape: [total, this.model.shape.headDim] } as TensorData,
      rope_sin: { ...sin, shape: [total, this.model.shape.headDim] } as TensorData,
    };
    if (this.images) {
      const rowAt = (r: number) => rows[r < rows.length ? r : 0] as HfGenerateRow;
      Object.assign(
        feeds,
        await this.images.rowFeeds(
          ids,
          Array.from({ length: batch }, (_, r) => rowAt(r).image),
        ),
      );
      feeds.prompt_keep = promptKeep(
        Array.from({ length: batch }, (_, r) => rowAt(r)),
        width,
        this.model.vision?.imageTokenId as number,
      );
    }
    const out = await this.own.run(session, feeds);
    const tokens = out.tokens?.data as BigInt64Array;
    const logprobs = out.logprobs?.data as Float32Array;
    const counts = out.lengths?.data as BigInt64Array;
    const results: { tokens: number[]; logprobs: number[] }[] = [];
    for (let r = 0; r < rows.length; r++) {
      const n = Number(counts[r]);
      results.push({
        tokens: Array.from(tokens.subarray(r * steps, r * steps + n), Number),
        logprobs: Array.from(logprobs.subarray(r * steps, r * steps + n)),
      });
      this.stats.tokens += n;
    }
    this.stats.runs++;
    this.stats.seconds += (performance.now() - t0) / 1000;
    return results;
  }

  async close(): Promise<void> {
    this.sessions.clear();
    await this.own.release();
  }
}

/** `prompt_keep` [B, W]: 1 everywhere but at the image tokens a row's `keep` hides (its k-th image token takes keep[k]). */
function promptKeep(rows: readonly HfGenerateRow[], width: number, imageTokenId: number): TensorData {
  const data = new Float32Array(rows.length * width).fill(1);
  rows.forEach((row, r) => {
    if (!row.keep) return;
    // The image's tokens come first; an image token the model generated (a continued row) is text and stays visible.
    let k = 0;
    row.promptIds.forEach((id, t) => {
      if (id === imageTokenId && k < (row.keep?.length ?? 0)) data[r * width + t] = row.keep?.[k++] as number;
    });
    if (k !== row.keep.length) throw new HfCheckpointError(`generate: a keep mask of ${row.keep.length} values for a prompt of ${k} image tokens`);
  });
  return { dtype: "float32", shape: [rows.length, width], data };
}
