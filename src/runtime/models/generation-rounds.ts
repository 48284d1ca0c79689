// Generation in rounds, shared by every model's generator: a generation program always runs its full step count, so
// rows are generated at most `round` tokens at a time, and a row that has not stopped continues in the next round
// with its tokens appended to its prompt (continuing from a prefix is the same as a longer prompt), until it stops,
// reaches maxTokens or fills the context. Short rounds save the steps of rows that stopped early.

/** A row's outcome: its new tokens (the stop token included), their summed log-prob, whether a stop token ended it. */
export interface RoundsResult {
  tokens: number[];
  logprob: number;
  stopped: boolean;
}

export interface RoundsOptions {
  maxTokens: number;
  /** Most new tokens per pass. */
  round: number;
  stops: ReadonlySet<number>;
  /** Most tokens a row may hold, prompt included. */
  context: number;
}

/** One pass: at most `maxTokens` new tokens for each row (their prompts extended by what earlier rounds made). */
export type GenerationPass<R> = (rows: R[], maxTokens: number) => Promise<{ tokens: number[]; logprobs: number[] }[]>;

export async function generateInRounds<R extends { promptIds: readonly number[] }>(
  rows: readonly R[],
  o: RoundsOptions,
  pass: GenerationPass<R>,
  onBatch?: (done: number, total: number) => void,
): Promise<RoundsResult[]> {
  const state: RoundsResult[] = rows.map(() => ({ tokens: [], logprob: 0, stopped: false }));
  const room = (i: number) => o.context - (rows[i] as R).promptIds.length - (state[i] as RoundsResult).tokens.length;
  let active = rows.map((_, i) => i).filter((i) => o.maxTokens > 0 && room(i) > 0);
  while (active.length > 0) {
    const passRows = active.map((i) => {
      const row = rows[i] as R;
      const made = (state[i] as RoundsResult).tokens;
      return made.length === 0 ? row : { ...row, promptIds: [...row.promptIds, ...made] };
    });
    const out = await pass(passRows, o.round);
    const next: number[] = [];
    active.forEach((i, k) => {
      const st = state[i] as RoundsResult;
      const got = out[k] as { tokens: number[]; logprobs: number[] };
      const take = Math.min(got.tokens.length, o.maxTokens - st.tokens.length);
      for (let t = 0; t < take; t++) {
        st.tokens.push(got.tokens[t] as number);
        st.logprob += got.logprobs[t] as number;
      }
      st.stopped = take > 0 && o.stops.has(st.tokens.at(-1) as number);
      if (!st.stopped && take > 0 && st.tokens.length < o.maxTokens && room(i) > 0) next.push(i);
    });
    active = next;
    onBatch?.(rows.length - active.length, rows.length);
  }
  return state;
}
