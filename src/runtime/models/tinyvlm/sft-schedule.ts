// The order in which SFT sees its examples, and how they are cut into ONNX Runtime runs. Each example gets a
// padded length (its tokens rounded up to 8); with length buckets, examples of similar length are grouped so
// a short yes/no question is not padded to the longest caption. A run's K steps all come from one bucket (one
// compiled program per bucket length), and buckets take turns at random in proportion to their size.
import { Rng } from "../../../util/random.ts";

export interface ScheduleOptions {
  /** Examples per optimizer step: batch × accumulation. */
  perStep: number;
  steps: number;
  /** Optimizer steps per run (K). */
  stepsPerRun: number;
  /** Most buckets (1: every example padded to the longest). */
  buckets: number;
  seed: number;
}

/** One ONNX Runtime run: `steps` optimizer steps on `examples` (steps × perStep indices), padded to `length`. */
export interface SftRun {
  length: number;
  steps: number;
  examples: number[];
}

/**
 * Bucket lengths for padded lengths `lengths` (one per example): at most `most` of them, each holding at least
 * `minSize` examples, chosen to pad as little as possible (every example is padded to its bucket's length).
 */
export function bucketLengths(lengths: readonly number[], most: number, minSize: number): number[] {
  const counts = new Map<number, number>();
  for (const l of lengths) counts.set(l, (counts.get(l) ?? 0) + 1);
  const distinct = [...counts.keys()].sort((a, b) => a - b);
  const n = distinct.length;
  const prefix = [0];
  for (const l of distinct) prefix.push((prefix.at(-1) as number) + (counts.get(l) as number));
  // best[g][j]: least padded total for the j shortest distinct lengths in g buckets; cut[g][j] where the last bucket starts.
  const best = Array.from({ length: most + 1 }, () => new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY));
  const cut = Array.from({ length: most + 1 }, () => new Array<number>(n + 1).fill(0));
  (best[0] as number[])[0] = 0;
  for (let g = 1; g <= most; g++)
    for (let j = 1; j <= n; j++)
      for (let i = 0; i < j; i++) {
        const size = (prefix[j] as number) - (prefix[i] as number);
        const before = (best[g - 1] as number[])[i] as number;
        if (size < minSize || before === Number.POSITIVE_INFINITY) continue;
        const cost = before + size * (distinct[j - 1] as number);
        if (cost < ((best[g] as number[])[j] as number)) [(best[g] as number[])[j], (cut[g] as number[])[j]] = [cost, i];
      }
  let g = 1;
  for (let k = 2; k <= most; k++) if (((best[k] as number[])[n] as number) < ((best[g] as number[])[n] as number)) g = k;
  // Too few examples for any split: one bucket of everything.
  if ((best[g] as number[])[n] === Number.POSITIVE_INFINITY) return [distinct.at(-1) as number];
  const out: number[] = [];
  for (let j = n; g > 0; g--) {
    out.unshift(distinct[j - 1] as number);
    j = (cut[g] as number[])[j] as number;
  }
  return out;
}

/** Example indices for `n` draws: a fresh seeded permutation for every pass over the data. */
export function dataOrder(examples: number, n: number, seed: number): number[] {
  const out: number[] = [];
  for (let epoch = 0; out.length < n; epoch++) out.push(...permutation(examples, seed, epoch));
  return out.slice(0, n);
}

function permutation(examples: number, seed: number, epoch: number): number[] {
  const rng = new Rng(seed).fork(`sft/order/${epoch}`);
  const perm = Array.from({ length: examples }, (_, i) => i);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
  }
  return perm;
}

/**
 * The runs of a training phase. Each bucket reads the per-epoch permutations filtered to its own examples, so
 * with one bucket the order is exactly `dataOrder`. With several, the bucket of each run is drawn with
 * probability proportional to the bucket's size, and the order depends on K (a run never mixes buckets).
 */
export function sftSchedule(lengths: readonly number[], o: ScheduleOptions): SftRun[] {
  const bucketOf = bucketLengths(lengths, o.buckets, o.perStep);
  const members = bucketOf.map(() => [] as number[]);
  const bucketIndex = lengths.map((l) => bucketOf.findIndex((b) => l <= b));
  for (const [i, b] of bucketIndex.entries()) members[b]?.push(i);
  // Each bucket's stream of examples: epoch after epoch, in that epoch's permutation.
  const streams = bucketOf.map(() => ({ queue: [] as number[], epoch: 0 }));
  const take = (b: number, count: number): number[] => {
    const s = streams[b] as { queue: number[]; epoch: number };
    while (s.queue.length < count) s.queue.push(...permutation(lengths.length, o.seed, s.epoch++).filter((i) => bucketIndex[i] === b));
    return s.queue.splice(0, count);
  };
  const pick = new Rng(o.seed).fork("sft/buckets");
  const runs: SftRun[] = [];
  for (let done = 0; done < o.steps; ) {
    const steps = Math.min(o.stepsPerRun, o.steps - done);
    let b = 0;
    if (bucketOf.length > 1) {
      let u = pick.uniform() * lengths.length;
      while (b < bucketOf.length - 1 && u >= (members[b] as number[]).length) u -= (members[b++] as number[]).length;
    }
    runs.push({ length: bucketOf[b] as number, steps, examples: take(b, steps * o.perStep) });
    done += steps;
  }
  return runs;
}
