// The dataset-shaping stages — mix, concat, filter, take, shuffle, split — as pure functions over records.
// Randomness comes from the stage's seed only, so a stage's output depends on its settings and inputs alone.
import { mulberry32 } from "../../../util/random.ts";
import { type ExprTree, evaluate, recordFields, truthy } from "./fields.ts";
import type { DatasetKind, DatasetRecord } from "./records.ts";

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): number[] {
  const rand = mulberry32(seed ^ 0x5eed1e55);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

export function shuffle<T>(records: readonly T[], seed: number): T[] {
  return permutation(records.length, seed).map((i) => records[i] as T);
}

/** Integer shares of `total` proportional to `weights` that add up to `total` (largest remainders; ties to the first). */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (sum > 0 ? (w / sum) * total : 0));
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    out[i] = (out[i] as number) + 1;
    left--;
  }
  return out;
}

/** Record ids made unique: a repeated id gets the first free suffix `~2`, `~3`, … in order of appearance. */
export function uniqueIds<R extends DatasetRecord>(records: readonly R[]): R[] {
  const taken = new Set(records.map((r) => r.id));
  const seen = new Set<string>();
  return records.map((r) => {
    if (!seen.has(r.id)) {
      seen.add(r.id);
      return r;
    }
    let k = 2;
    while (taken.has(`${r.id}~${k}`)) k++;
    const id = `${r.id}~${k}`;
    taken.add(id);
    seen.add(id);
    // Only the record's id changes: a pair's item keeps its id (it names the prompt, and DPO matches on it).
    return { ...r, id };
  });
}

export function concat<R extends DatasetRecord>(inputs: readonly (readonly R[])[]): R[] {
  return uniqueIds(inputs.flat());
}

/**
 * `count` records (default: all records of the inputs with weight > 0) drawn from the inputs in proportion to
 * `weights` (default equal), shuffled. An input gives
 * its share without repeats when it has enough records; otherwise it is repeated in fresh shuffled passes.
 */
export function mix<R extends DatasetRecord>(
  inputs: readonly (readonly R[])[],
  o: { weights?: readonly number[]; count?: number; seed: number },
): { records: R[]; drawn: number[]; repeated: number[] } {
  const weights = o.weights ?? inputs.map(() => 1);
  // Default count: the records of the inputs that are drawn from at all (weight > 0).
  const count = o.count ?? inputs.reduce((a, r, k) => a + ((weights[k] ?? 0) > 0 ? r.length : 0), 0);
  const quotas = apportion(count, weights);
  const drawn: number[] = [];
  const repeated: number[] = [];
  const out: R[] = [];
  inputs.forEach((records, k) => {
    const quota = quotas[k] as number;
    drawn.push(quota);
    repeated.push(Math.max(0, quota - records.length));
    if (quota > 0 && records.length === 0) throw new Error(`input ${k + 1} of mix is empty but its weight asks for ${quota} records`);
    const picked: R[] = [];
    for (let pass = 0; picked.length < quota; pass++) picked.push(...shuffle(records, o.seed * 7919 + k * 104_729 + pass).slice(0, quota - picked.length));
    out.push(...picked);
  });
  return { records: uniqueIds(shuffle(out, o.seed)), drawn, repeated };
}

export function filter<R extends DatasetRecord>(kind: DatasetKind, records: readonly R[], where: ExprTree): R[] {
  return records.filter((r) => truthy(evaluate(where, recordFields(kind, r))));
}

/** The first `count` (or `fraction`, rounded, at least 1) records, after a seeded shuffle when `shuffle` is set. */
export function take<R>(records: readonly R[], o: { count?: number; fraction?: number; shuffle: boolean; seed: number }): R[] {
  const n = o.count ?? Math.max(1, Math.round((o.fraction ?? 1) * records.length));
  return (o.shuffle ? shuffle(records, o.seed) : records).slice(0, n);
}

/** Named parts by share: a seeded shuffle cut into consecutive runs whose sizes follow the shares exactly. */
export function split<R>(records: readonly R[], parts: Readonly<Record<string, number>>, seed: number): Record<string, R[]> {
  const names = Object.keys(parts).sort();
  const sizes = apportion(
    records.length,
    names.map((n) => parts[n] as number),
  );
  const order = shuffle(records, seed);
  const out: Record<string, R[]> = {};
  let start = 0;
  names.forEach((name, i) => {
    out[name] = order.slice(start, start + (sizes[i] as number));
    start += sizes[i] as number;
  });
  return out;
}
