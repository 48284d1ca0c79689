// stage.flip: the label-flip ablation of Li et al. — chosen and rejected swapped in exactly round(fraction · n) pairs.
// Which pairs: those with the smallest keys u(seed, pair id), a uniform number drawn from an xoshiro128** stream forked
// from the seed by the pair id (`flip/<id>`; ties by id), so the choice does not depend on the records' order. A pair
// that is flipped again is swapped back (flipped: false is dropped from the record). A rated pair's response indices
// swap with the texts, so its margin field is negative after a flip.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { Rng } from "../../../util/random.ts";
import { type PairRecord, readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

/** The pairs with chosen and rejected swapped in round(fraction · n) of them, and how many. */
export function flipPairs(records: readonly PairRecord[], fraction: number, seed: number): { records: PairRecord[]; flipped: number } {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be in 0…1, got ${fraction}`);
  const count = Math.round(fraction * records.length);
  const base = new Rng(seed);
  const keyed = records.map((r, i) => ({ i, id: r.id, u: base.fork(`flip/${r.id}`).uniform() }));
  keyed.sort((a, b) => a.u - b.u || (a.id < b.id ? -1 : a.id > b.id ? 1 : a.i - b.i));
  const chosen = new Set(keyed.slice(0, count).map((k) => k.i));
  const out = records.map((r, i) => {
    if (!chosen.has(i)) return r;
    const { flipped, ...rest } = r;
    // A rated pair's source names the responses by index: they swap too, so scores and margins describe the texts.
    const source = r.source.kind === "rated" ? { ...r.source, chosen: r.source.rejected, rejected: r.source.chosen } : r.source;
    const swapped: PairRecord = { ...rest, chosen: r.rejected, rejected: r.chosen, source };
    if (!flipped) swapped.flipped = true;
    return swapped;
  });
  return { records: out, flipped: count };
}

export const stageFlip = defineExecutor({
  ...nodeKind("stage.flip"),
  settings: (p) => ({ fraction: p.fraction, seed: p.seed }),
  async run(ctx, { fraction, seed }) {
    const data = readDataset(ctx.input("pairs").dir);
    if (data.kind !== "pairs") throw new NodeError(`flip needs pairs, got a dataset of ${data.kind}`);
    const result = flipPairs(data.records, fraction, seed);
    writeDataset(ctx.out, { kind: "pairs", records: result.records });
    return { pairs: result.records.length, flipped: result.flipped };
  },
});
