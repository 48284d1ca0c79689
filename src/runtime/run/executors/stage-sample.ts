// stage.sample: n responses per prompt from a model, through the batched generation program. Each prompt is
// repeated n times in the batch; the Gumbel noise differs per row and advances with every batch, so the n
// responses are independent draws, and the same settings give the same responses on CPU.
import { readDataset, type SampleRecord, writeDataset } from "../../prefdata/records.ts";
import { answerAll } from "../../vlm/answer.ts";
import { examplesOf } from "../../vlm/examples.ts";
import type { Example } from "../../vlm/feeds.ts";
import { loadModel } from "./inputs.ts";
import { NodeError, type NodeExecutor } from "./types.ts";

export const stageSample: NodeExecutor = {
  kind: "stage.sample",
  version: 1,
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
    if (prompts.records.length === 0) throw new NodeError(`${ctx.input("prompts").node.id} holds no prompts`);
    const examples = examplesOf("", prompts.records, model.config.imageSize);
    const rows: Example[] = examples.flatMap((ex) => Array.from({ length: n }, (_, k) => ({ ...ex, id: `${ex.id}#${k}` })));
    const runtime = await ctx.runtime(undefined);
    const progress = ctx.log.progress(`${ctx.node.id}: sampling ${n} per prompt`, rows.length, "responses");
    const t0 = performance.now();
    const run = await answerAll(
      runtime,
      model,
      rows,
      {
        maxTokens: sampler.max_tokens,
        temperature: sampler.temperature,
        topP: sampler.top_p < 1 ? sampler.top_p : undefined,
        topK: sampler.top_k > 0 ? sampler.top_k : undefined,
        seed: sampler.seed,
      },
      (done) => progress.update(done),
    );
    const seconds = (performance.now() - t0) / 1000;
    progress.finish(run.maxTokens < sampler.max_tokens ? `responses capped at ${run.maxTokens} tokens by the model's context` : "");
    let tokens = 0;
    const records: SampleRecord[] = prompts.records.map((item) => ({
      id: item.id,
      item,
      responses: Array.from({ length: n }, (_, k) => {
        const a = run.answers.get(`${item.id}#${k}`);
        if (!a) throw new Error(`no answer for ${item.id}#${k}`);
        tokens += a.tokens.length;
        return { text: a.text, tokens: a.tokens.length, logprob: a.logprob };
      }),
      sampler: { ...sampler, max_tokens: run.maxTokens },
    }));
    writeDataset(ctx.out, { kind: "samples", records });
    const empty = records.reduce((s, r) => s + r.responses.filter((x) => x.text === "").length, 0);
    return {
      prompts: records.length,
      responses: rows.length,
      tokens,
      empty_responses: empty,
      samples_per_second: Number((rows.length / seconds).toFixed(1)),
    };
  },
};
