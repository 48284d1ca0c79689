// stage.sample: n responses per prompt from a model (src/runtime/data/prefdata/sample.ts), on the run's device.
import { nodeKind } from "../../../graph/node-kinds.ts";
import { readDataset, writeDataset } from "../../data/prefdata/records.ts";
import { SampleError, sampleResponses } from "../../data/prefdata/sample.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { NodeError, type NodeExecutor } from "../node-executor.ts";
import { loadModel } from "./inputs.ts";

export const stageSample: NodeExecutor = {
  ...nodeKind("stage.sample"),
  usesDevice: true,
  async run(ctx) {
    const p = ctx.node.params;
    const n = Number(p.n ?? 4);
    const sampler = {
      model: ctx.input("model").node.id,
      temperature: Number(p.temperature ?? 1),
      top_p: Number(p.top_p ?? 1),
      top_k: Number(p.top_k ?? 0),
      max_tokens: Number(p.max_tokens ?? 64),
      seed: Number(p.seed ?? 0),
    };
    const model = loadModel(ctx.input("model"));
    const prompts = readDataset(ctx.input("prompts").dir);
    if (prompts.kind !== "prompts") throw new NodeError(`sample needs prompts, got a dataset of ${prompts.kind}`);
    if (prompts.records.length === 0) {
      // Like every other stage, an empty input gives an empty output (a filter upstream kept nothing).
      ctx.log.line(`${ctx.node.id}: ${ctx.input("prompts").node.id} holds no prompts; no samples`);
      writeDataset(ctx.out, { kind: "samples", records: [] });
      return { prompts: 0, responses: 0, tokens: 0, empty_responses: 0, unfinished_responses: 0 };
    }
    const examples = examplesOf("", prompts.records, model.config.imageSize);
    const generator = new Generator(await ctx.runtime(undefined), model);
    const progress = ctx.log.progress(`${ctx.node.id}: sampling ${n} per prompt`, prompts.records.length * n, "responses");
    const t0 = performance.now();
    try {
      const { records, stats } = await sampleResponses(generator, prompts.records, examples, n, sampler, (done) => progress.update(done));
      progress.finish();
      writeDataset(ctx.out, { kind: "samples", records });
      return { ...stats, samples_per_second: Number((stats.responses / ((performance.now() - t0) / 1000)).toFixed(1)) };
    } catch (e) {
      if (e instanceof SampleError) throw new NodeError(e.message);
      throw e;
    } finally {
      await generator.close();
    }
  },
};
