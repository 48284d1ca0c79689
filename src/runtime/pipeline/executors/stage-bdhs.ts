// stage.bdhs: Bias-Driven Hallucination Sampling (src/runtime/data/prefdata/bdhs.ts, docs/bdhs.md). Inputs: the model
// that completes ("model"), the prompts with ground-truth answers ("prompts"), the similarity ("similarity").
// Output: a pairs dataset (chosen = ground truth, rejected = the accepted attempt) and bdhs-stats.json.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type BdhsItem, type BdhsOptions, runBdhs } from "../../data/prefdata/bdhs.ts";
import { itemOf, readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { defineExecutor } from "../node-executor.ts";
import { loadModel } from "./inputs.ts";
import { loadSimilarity } from "./similarity.ts";

export const BDHS_STATS = "bdhs-stats.json";

export const stageBdhs = defineExecutor({
  ...nodeKind("stage.bdhs"),
  usesDevice: true,
  settings: (p) => ({
    similarity: p.similarity.input,
    options: {
      rho: p.rho,
      epsilon: p.epsilon,
      tries: p.tries,
      yesNoFlip: p.yes_no_flip,
      cut: p.cut,
      noise: p.noise,
      temperature: p.temperature,
      // Offline BDHS has no sampling settings of its own: no nucleus or top-k cut, 64 rows per run, rounds of 16 tokens.
      topP: 1,
      topK: undefined,
      maxTokens: p.max_tokens,
      seed: p.seed,
      batch: 64,
      roundTokens: 16,
    } satisfies BdhsOptions,
  }),
  async run(ctx, settings) {
    const modelInput = ctx.input("model");
    const model = loadModel(modelInput);
    const prompts = ctx.input("prompts");
    const dataset = readDataset(prompts.dir);
    const all = dataset.records.map((r) => itemOf(dataset.kind, r));
    const items = all.filter((it) => it.answer.trim() !== "");
    const skipped = all.length - items.length;
    if (skipped > 0) ctx.log.line(`${ctx.node.id}: skipped ${skipped} item(s) without a ground-truth answer`);
    // readDataset gives absolute image paths, so examplesOf needs no base directory.
    const examples = await examplesOf("", items, model.config.imageSize);
    const entries: BdhsItem[] = items.map((item, i) => ({ item, rgb: examples[i]?.rgb ?? null }));

    const runtime = await ctx.runtime(undefined);
    const similarity = loadSimilarity(ctx.input(settings.similarity), runtime);
    const generator = new Generator(runtime, model);
    const progress = ctx.log.progress(`${ctx.node.id}: bdhs`, entries.length, "items");
    try {
      const { pairs, stats } = await runBdhs(generator, similarity, entries, settings.options, (done) => progress.update(done));
      writeDataset(ctx.out, { kind: "pairs", records: pairs });
      const summary = { ...stats, skipped_empty: skipped, similarity: similarity.name, model: modelInput.node.id };
      writeFileSync(path.join(ctx.out, BDHS_STATS), `${JSON.stringify(summary, null, 2)}\n`);
      const within = stats.accepted_share_cumulative.at(-1) ?? 0;
      progress.finish(
        `${pairs.length} pairs · ${(100 * within).toFixed(1)}% accepted within ${stats.tries} tries · ${stats.completions_per_second.toFixed(1)} completions/s`,
      );
      return summary;
    } finally {
      await generator.close();
    }
  },
});
