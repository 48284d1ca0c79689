// stage.pair: preference pairs from a rated dataset by the pairing rule of Li et al. (src/runtime/data/prefdata/pairing.ts):
// a score expression over the rater's aspects, a margin, and rules for the chosen and rejected answers.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type PairOptions, pairRated } from "../../data/prefdata/pairing.ts";
import { readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { ScoreError } from "../../data/prefdata/score.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

export const stagePair = defineExecutor({
  ...nodeKind("stage.pair"),
  settings: (p): PairOptions => ({
    score: p.score,
    margin: p.margin,
    chosen: p.chosen,
    rejected: p.rejected,
    ties: p.ties,
    per_prompt: p.per_prompt,
    balance_length: p.balance_length,
    seed: p.seed,
  }),
  async run(ctx, options) {
    const data = readDataset(ctx.input("rated").dir);
    if (data.kind !== "rated") throw new NodeError(`pair needs a rated dataset, got a dataset of ${data.kind}`);
    let result: ReturnType<typeof pairRated>;
    try {
      result = pairRated(data.records, data.rating, options);
    } catch (e) {
      if (e instanceof ScoreError) throw new NodeError(`pair: ${e.message}`, { cause: e });
      throw e;
    }
    writeDataset(ctx.out, { kind: "pairs", records: result.pairs });
    const s = result.stats;
    if (s.pairs === 0)
      ctx.log.line(
        `${ctx.node.id}: no pairs: of ${s.prompts} prompts, ${s.dropped_margin} had no response at least the margin below the best and ${s.dropped_ties} had tied best responses`,
      );
    return { ...s };
  },
});
