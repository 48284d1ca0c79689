// What every embedding similarity shares: texts embedded once each (a reference compared many times is embedded
// once), in batches of similar length, each batch padded to a multiple of 8 tokens and a power-of-two row count so a
// few program shapes serve a whole run; and the cosine of candidate i against reference i.
import { checkLengths, type Similarity } from "./similarity-contract.ts";

export interface EmbeddingBackend {
  /** The token ids of a text, special tokens included, at most `maxLength`. */
  encode(text: string): number[];
  /** The longest row a program takes. */
  readonly maxLength: number;
  /** One vector per row of `rows` (fewer rows than `batch`: the rest are padding the backend fills). */
  run(rows: number[][], batch: number, length: number): Promise<Float32Array[]>;
}

const WIDTH_STEP = 8;
const CACHE_LIMIT = 100_000;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Cosine of two vectors, in float64; 0 when either is zero. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** A similarity that embeds texts: the cosine of candidate i's embedding and reference i's. Subclasses encode and run. */
export abstract class EmbeddingSimilarity implements Similarity, EmbeddingBackend {
  abstract readonly name: string;
  abstract readonly maxLength: number;
  private cacheOf: EmbeddingCache | undefined;

  constructor(private readonly batch = 64) {}

  abstract encode(text: string): number[];
  abstract run(rows: number[][], batch: number, length: number): Promise<Float32Array[]>;

  private get embeddings(): EmbeddingCache {
    this.cacheOf ??= new EmbeddingCache(this, this.batch);
    return this.cacheOf;
  }

  async scores(candidates: readonly string[], references: readonly string[]): Promise<number[]> {
    checkLengths(candidates, references);
    return this.embeddings.cosines(candidates, references);
  }

  /** The texts' embeddings, in order. */
  embed(texts: readonly string[]): Promise<Float32Array[]> {
    return this.embeddings.embed(texts);
  }
}

export class EmbeddingCache {
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    private readonly backend: EmbeddingBackend,
    private readonly batch = 64,
  ) {}

  /** Embeddings of the texts, in order. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
    if (this.cache.size + missing.length > CACHE_LIMIT) this.cache.clear();
    const encoded = missing.map((text) => ({ text, ids: this.backend.encode(text) }));
    encoded.sort((a, b) => a.ids.length - b.ids.length);
    const found = new Map<string, Float32Array>();
    const maxBatch = Math.max(1, Math.floor(this.batch));
    for (let start = 0; start < encoded.length; start += maxBatch) {
      const chunk = encoded.slice(start, start + maxBatch);
      const longest = Math.max(...chunk.map((e) => e.ids.length));
      const length = Math.min(Math.ceil(longest / WIDTH_STEP) * WIDTH_STEP, this.backend.maxLength);
      const vectors = await this.backend.run(
        chunk.map((e) => e.ids),
        Math.min(maxBatch, nextPow2(chunk.length)),
        length,
      );
      chunk.forEach((e, i) => {
        found.set(e.text, vectors[i] as Float32Array);
        this.cache.set(e.text, vectors[i] as Float32Array);
      });
    }
    return texts.map((t) => (found.get(t) ?? this.cache.get(t)) as Float32Array);
  }

  /** cos(candidates[i], references[i]) for every i (the lists have equal length, checked by the caller). */
  async cosines(candidates: readonly string[], references: readonly string[]): Promise<number[]> {
    const vectors = await this.embed([...candidates, ...references]);
    return candidates.map((_, i) => cosine(vectors[i] as Float32Array, vectors[candidates.length + i] as Float32Array));
  }
}
