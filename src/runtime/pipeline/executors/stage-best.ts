// stage.best: rejection sampling — the best-rated response of each prompt becomes its answer (first on ties), giving
// a prompts dataset for sft (src/runtime/data/prefdata/best.ts).
import { nodeKind } from "../../../graph/node-kinds.ts";
import { bestOf } from "../../data/prefdata/best.ts";
import { readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { ScoreError } from "../../data/prefdata/score.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

export const stageBest = defineExecutor({
  ...nodeKind("stage.best"),
  settings: (p) => ({ score: p.score }),
  async run(ctx, { score }) {
    const data = readDataset(ctx.input("rated").dir);
    if (data.kind !== "rated") throw new NodeError(`best needs a rated dataset, got a dataset of ${data.kind}`);
    let result: ReturnType<typeof bestOf>;
    try {
      result = bestOf(data.records, score);
    } catch (e) {
      if (e instanceof ScoreError) throw new NodeError(`best: ${e.message}`, { cause: e });
      throw e;
    }
    writeDataset(ctx.out, { kind: "prompts", records: result.items });
    if (result.stats.skipped > 0) ctx.log.line(`${ctx.node.id}: ${result.stats.skipped} records without responses were skipped`);
    return { ...result.stats };
  },
});
