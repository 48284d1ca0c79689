// What a BDHS run counts as it goes (acceptances, similarities, generation work) and the stats it reports at the end.

export const HISTOGRAM_BINS = 10;

export interface BdhsStats {
  items: number;
  pairs: number;
  tries: number;
  epsilon: number;
  /** Items accepted at attempt i (index i − 1). */
  accepted_at: number[];
  /** accepted_at / items, and its running sum: the share accepted within the first i attempts. */
  accepted_share: number[];
  accepted_share_cumulative: number[];
  /** Items no attempt satisfied (emitted with their last attempt, accepted: null). */
  not_accepted: number;
  /** Similarities in HISTOGRAM_BINS equal bins over [0, 1] (values below 0 count in the first, 1 and above in the last). */
  similarity_histogram: { bins: number; all_tries: number[]; emitted: number[] };
  similarity_mean_emitted: number;
  /** Guided sentences completed and how many had their yes/no swapped. */
  guided_sentences: number;
  flips: number;
  /** Mean image tokens left visible per attempt with an image. */
  visible_mean: number;
  /** Generation rows (sentence completions and unguided answers), their new tokens, and the time spent generating. */
  completions: number;
  completion_tokens: number;
  generation_seconds: number;
  completions_per_second: number;
  tokens_per_second: number;
  seconds: number;
}

/** Running counts of one BDHS run, over every chunk and attempt. */
export class BdhsTally {
  readonly acceptedAt: number[];
  readonly allSims: number[] = [];
  readonly emittedSims: number[] = [];
  guidedSentences = 0;
  flips = 0;
  visibleSum = 0;
  visibleCount = 0;
  completions = 0;
  completionTokens = 0;
  generationSeconds = 0;
  /** Items emitted so far, for progress. */
  done = 0;

  constructor(tries: number) {
    this.acceptedAt = new Array<number>(tries).fill(0);
  }

  /** The stats of a run over `items` items that emitted `pairs` pairs and took `seconds` in all. */
  stats(items: number, pairs: number, tries: number, epsilon: number, seconds: number): BdhsStats {
    const shares = this.acceptedAt.map((a) => (items > 0 ? a / items : 0));
    let running = 0;
    const cumulative = shares.map((s) => {
      running += s;
      return running;
    });
    const gen = this.generationSeconds;
    return {
      items,
      pairs,
      tries,
      epsilon,
      accepted_at: this.acceptedAt,
      accepted_share: shares,
      accepted_share_cumulative: cumulative,
      not_accepted: items - this.acceptedAt.reduce((a, b) => a + b, 0),
      similarity_histogram: { bins: HISTOGRAM_BINS, all_tries: histogram(this.allSims), emitted: histogram(this.emittedSims) },
      similarity_mean_emitted: this.emittedSims.length > 0 ? this.emittedSims.reduce((a, b) => a + b, 0) / this.emittedSims.length : 0,
      guided_sentences: this.guidedSentences,
      flips: this.flips,
      visible_mean: this.visibleCount > 0 ? this.visibleSum / this.visibleCount : 0,
      completions: this.completions,
      completion_tokens: this.completionTokens,
      generation_seconds: gen,
      completions_per_second: gen > 0 ? this.completions / gen : 0,
      tokens_per_second: gen > 0 ? this.completionTokens / gen : 0,
      seconds,
    };
  }
}

function histogram(values: readonly number[]): number[] {
  const bins = new Array<number>(HISTOGRAM_BINS).fill(0);
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    const i = Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(v * HISTOGRAM_BINS)));
    bins[i] = (bins[i] as number) + 1;
  }
  return bins;
}
