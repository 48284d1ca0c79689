// stage.sample: n responses per prompt from a model (src/runtime/data/prefdata/sample.ts), on the run's device.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { sampleHfResponses, sampleResponses } from "../../data/prefdata/sample.ts";
import { HfGenerator } from "../../models/hf/generate.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { loadModelInput } from "./inputs.ts";

export const stageSample = defineExecutor({
  ...nodeKind("stage.sample"),
  usesDevice: true,
  settings: (p) => ({ n: p.n, temperature: p.temperature, top_p: p.top_p, top_k: p.top_k, max_tokens: p.max_tokens, seed: p.seed }),
  async run(ctx, { n, ...drawing }) {
    // What the records say made them: the model and how it drew.
    const sampler = { model: ctx.input("model").node.id, ...drawing };
    const loaded = loadModelInput(ctx.input("model"));
    const prompts = readDataset(ctx.input("prompts").dir);
    if (prompts.kind !== "prompts") throw new NodeError(`sample needs prompts, got a dataset of ${prompts.kind}`);
    if (prompts.records.length === 0) {
      // Like every other stage, an empty input gives an empty output (a filter upstream kept nothing).
      ctx.log.line(`${ctx.node.id}: ${ctx.input("prompts").node.id} holds no prompts; no samples`);
      writeDataset(ctx.out, { kind: "samples", records: [] });
      return { prompts: 0, responses: 0, tokens: 0, empty_responses: 0, unfinished_responses: 0 };
    }
    const runtime = await ctx.runtime(undefined);
    const generator = loaded.family === "hf" ? new HfGenerator(runtime, loaded.model) : new Generator(runtime, loaded.model);
    const progress = ctx.log.progress(`${ctx.node.id}: sampling ${n} per prompt`, prompts.records.length * n, "responses");
    const t0 = performance.now();
    try {
      const onProgress = (done: number) => progress.update(done);
      const { records, stats } =
        generator instanceof HfGenerator
          ? await sampleHfResponses(generator, prompts.records, n, sampler, onProgress)
          : await sampleResponses(generator, prompts.records, await examplesOf("", prompts.records, generator.model.config.imageSize), n, sampler, onProgress);
      progress.finish();
      writeDataset(ctx.out, { kind: "samples", records });
      return { ...stats, samples_per_second: Number((stats.responses / ((performance.now() - t0) / 1000)).toFixed(1)) };
    } finally {
      await generator.close();
    }
  },
});
