// stage.bdhs: Bias-Driven Hallucination Sampling (src/runtime/data/prefdata/bdhs.ts, docs/bdhs.md). Inputs: the model
// that completes ("model": a TinyVLM, or a Hugging Face vision-language model), the prompts with ground-truth answers ("prompts"), the similarity ("similarity").
// Output: a pairs dataset (chosen = ground truth, rejected = the accepted attempt) and bdhs-stats.json.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type BdhsCompleter, type BdhsItem, type BdhsOptions, runBdhs } from "../../data/prefdata/bdhs.ts";
import { hfCompleter, tinyVlmCompleter } from "../../data/prefdata/bdhs-completers.ts";
import { itemOf, readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { HfGenerator } from "../../models/hf/generate.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { loadModelInput } from "./inputs.ts";
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
    const loaded = loadModelInput(modelInput);
    const prompts = ctx.input("prompts");
    const dataset = readDataset(prompts.dir);
    const all = dataset.records.map((r) => itemOf(dataset.kind, r));
    const items = all.filter((it) => it.answer.trim() !== "");
    const skipped = all.length - items.length;
    if (skipped > 0) ctx.log.line(`${ctx.node.id}: skipped ${skipped} item(s) without a ground-truth answer`);
    const runtime = await ctx.runtime(undefined);
    const similarity = loadSimilarity(ctx.input(settings.similarity), runtime);
    // readDataset gives absolute image paths: a Hugging Face model reads each item's image file as it generates,
    // TinyVLM's examples are decoded at its image size up front.
    let entries: BdhsItem[];
    let generator: BdhsCompleter;
    let close: () => Promise<void>;
    if (loaded.family === "hf") {
      if (!loaded.model.vision) throw new NodeError(`${ctx.node.id}: BDHS hides image tokens, and ${loaded.model.architecture} is a text model`);
      const hf = new HfGenerator(runtime, loaded.model);
      entries = items.map((item) => ({ item, rgb: null }));
      generator = hfCompleter(hf);
      close = () => hf.close();
    } else {
      const examples = await examplesOf("", items, loaded.model.config.imageSize);
      entries = items.map((item, i) => ({ item, rgb: examples[i]?.rgb ?? null }));
      const tiny = new Generator(runtime, loaded.model);
      generator = tinyVlmCompleter(tiny);
      close = () => tiny.close();
    }
    const progress = ctx.log.progress(`${ctx.node.id}: bdhs`, entries.length, "items");
    try {
      const { pairs, stats } = await runBdhs(generator, similarity, entries, settings.options, (done) => progress.update(done)).catch((e: unknown) => {
        // runBdhs checks its options with RangeErrors that name the setting.
        throw e instanceof RangeError && e.message.startsWith("bdhs:") ? new NodeError(`${ctx.node.id}: ${e.message}`, { cause: e }) : e;
      });
      writeDataset(ctx.out, { kind: "pairs", records: pairs });
      const summary = { ...stats, skipped_empty: skipped, similarity: similarity.name, model: modelInput.node.id };
      writeFileSync(path.join(ctx.out, BDHS_STATS), `${JSON.stringify(summary, null, 2)}\n`);
      const within = stats.accepted_share_cumulative.at(-1) ?? 0;
      progress.finish(
        `${pairs.length} pairs · ${(100 * within).toFixed(1)}% accepted within ${stats.tries} tries · ${stats.completions_per_second.toFixed(1)} completions/s`,
      );
      return summary;
    } finally {
      await close();
    }
  },
});
