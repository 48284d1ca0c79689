// What a similarity is (BDHS rejects answers too similar to the ground truth; docs/bdhs.md), its error, and the one
// rule every similarity shares: candidates and references are compared pairwise.

export interface Similarity {
  /** What it is, e.g. "lexical(rouge_l)" or "cosine(mean)". */
  readonly name: string;
  /** Similarity of candidates[i] to references[i], for every i (the lists have equal length). */
  scores(candidates: readonly string[], references: readonly string[]): Promise<number[]>;
}

export class SimilarityError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7014";
  override name = "SimilarityError";
}

export function checkLengths(candidates: readonly string[], references: readonly string[]): void {
  if (candidates.length !== references.length)
    throw new SimilarityError(`similarity: ${candidates.length} candidates but ${references.length} references; they are compared pairwise`);
}
