// stage.bdhs: Bias-Driven Hallucination Sampling (src/runtime/data/prefdata/bdhs.ts, docs/bdhs.md). Inputs: the model
// that completes ("model"), the prompts with ground-truth answers ("prompts"), the similarity ("similarity").
// Output: a pairs dataset (chosen = ground truth, rejected = the accepted attempt) and bdhs-stats.json.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type BdhsItem, type BdhsNoise, runBdhs } from "../../data/prefdata/bdhs.ts";
import { itemOf, readDataset, writeDataset } from "../../data/prefdata/records.ts";
import type { CutUnit } from "../../data/prefdata/sentences.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { NodeError, type NodeExecutor } from "../node-executor.ts";
import { loadModel } from "./inputs.ts";
import { loadSimilarity } from "./similarity.ts";

export const BDHS_STATS = "bdhs-stats.json";

const CUTS: readonly CutUnit[] = ["tokens", "words", "characters"];
const NOISES: readonly BdhsNoise[] = ["latent", "pixels"];

export const stageBdhs: NodeExecutor = {
  ...nodeKind("stage.bdhs"),
  usesDevice: true,
  async run(ctx) {
    const p = ctx.node.params;
    const num = (key: string, fallback: number): number => {
      const v = p[key] ?? fallback;
      if (typeof v !== "number" || !Number.isFinite(v)) throw new NodeError(`${ctx.node.id}: ${key} must be a number, got ${JSON.stringify(v)}`);
      return v;
    };
    const cut = (p.cut ?? "words") as CutUnit;
    const noise = (p.noise ?? "latent") as BdhsNoise;
    if (!CUTS.includes(cut)) throw new NodeError(`${ctx.node.id}: cut must be one of ${CUTS.join(", ")}, got ${JSON.stringify(cut)}`);
    if (!NOISES.includes(noise)) throw new NodeError(`${ctx.node.id}: noise must be latent or pixels, got ${JSON.stringify(noise)}`);
    const topK = num("top_k", 0);

    const modelInput = ctx.input("model");
    const model = loadModel(modelInput);
    const prompts = ctx.input("prompts");
    const dataset = readDataset(prompts.dir);
    const all = dataset.records.map((r) => itemOf(dataset.kind, r));
    const items = all.filter((it) => it.answer.trim() !== "");
    const skipped = all.length - items.length;
    if (skipped > 0) ctx.log.line(`${ctx.node.id}: skipped ${skipped} item(s) without a ground-truth answer`);
    // readDataset gives absolute image paths, so examplesOf needs no base directory.
    const examples = examplesOf("", items, model.config.imageSize);
    const entries: BdhsItem[] = items.map((item, i) => ({ item, rgb: examples[i]?.rgb ?? null }));

    const runtime = await ctx.runtime(undefined);
    const similarity = loadSimilarity(ctx.input("similarity"), runtime);
    const generator = new Generator(runtime, model);
    const progress = ctx.log.progress(`${ctx.node.id}: bdhs`, entries.length, "items");
    try {
      const { pairs, stats } = await runBdhs(
        generator,
        similarity,
        entries,
        {
          rho: num("rho", 0.99),
          epsilon: num("epsilon", 0.97),
          tries: num("tries", 5),
          yesNoFlip: num("yes_no_flip", 0.5),
          cut,
          noise,
          temperature: num("temperature", 1),
          topP: num("top_p", 1),
          topK: topK > 0 ? topK : undefined,
          maxTokens: num("max_tokens", 64),
          seed: num("seed", 0),
          batch: num("batch", 64),
          roundTokens: num("round_tokens", 16),
        },
        (done) => progress.update(done),
      );
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
};
