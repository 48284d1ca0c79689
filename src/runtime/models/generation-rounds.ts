// Generation in rounds, shared by every model's generator: a generation program always runs its full step count, so
// rows are generated at most `round` tokens at a time, and a row that has not stopped continues in the next round
// with its tokens appended to its prompt (continuing from a prefix is the same as a longer prompt), until it stops,
// reaches maxTokens or fills the context. Short rounds save the steps of rows that stopped early. Within a pass, rows
// are grouped by prompt width (rounded up to a multiple of 8) and generated in batches of a power of two rows, so a
// generator compiles one program per (batch, width, steps) and keeps it for the calls that follow.

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

/** One batch of a pass: `rows` padded to `batch` rows of prompt width `width`, at most `steps` new tokens each. */
export type BatchRun<R> = (rows: R[], batch: number, width: number, steps: number) => Promise<{ tokens: number[]; logprobs: number[] }[]>;

const WIDTH_STEP = 8;

/** One pass over `rows` (at most `maxTokens` new tokens each) in batches by prompt width; results in row order. */
export async function passByWidth<R extends { promptIds: readonly number[] }>(
  rows: readonly R[],
  o: { maxTokens: number; context: number; maxBatch: number },
  run: BatchRun<R>,
): Promise<{ tokens: number[]; logprobs: number[] }[]> {
  const results: { tokens: number[]; logprobs: number[] }[] = new Array(rows.length);
  const groups = new Map<number, number[]>();
  rows.forEach((row, i) => {
    const width = Math.min(Math.ceil(row.promptIds.length / WIDTH_STEP) * WIDTH_STEP, o.context - 1);
    const g = groups.get(width) ?? [];
    g.push(i);
    groups.set(width, g);
  });
  const maxBatch = Math.max(1, Math.floor(o.maxBatch));
  for (const width of [...groups.keys()].sort((a, b) => a - b)) {
    const members = groups.get(width) as number[];
    const steps = Math.min(o.maxTokens, o.context - width);
    for (let start = 0; start < members.length; start += maxBatch) {
      const chunk = members.slice(start, start + maxBatch);
      const batch = Math.min(maxBatch, nextPow2(chunk.length));
      const out = await run(
        chunk.map((i) => rows[i] as R),
        batch,
        width,
        steps,
      );
      chunk.forEach((i, r) => {
        results[i] = out[r] as { tokens: number[]; logprobs: number[] };
      });
    }
  }
  return results;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
