// eval.metrics: each model answers every item of the evaluation set (one batched generation per model), and the
// answers are scored against the world's ground truth: POPE, CHAIR and recall, exact-match accuracies. Outputs:
// evaluation.json (every report), evaluation.md (the tables), predictions/<model>.jsonl (what each model said).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { evaluateWorld, type WorldReport } from "../../eval/evaluate.ts";
import { type MetricName, renderEvaluation } from "../../eval/table.ts";
import { answerAll } from "../../vlm/answer.ts";
import { loadExamples, loadModel } from "./inputs.ts";
import { NodeError, type NodeExecutor } from "./types.ts";

export const EVALUATION_JSON = "evaluation.json";
export const EVALUATION_MD = "evaluation.md";

export const evalMetrics: NodeExecutor = {
  kind: "eval.metrics",
  version: 1,
  async run(ctx) {
    const p = ctx.node.params;
    const metrics = (p.metrics ?? ["pope", "chair", "recall", "text_accuracy"]) as string[];
    if (metrics.includes("quality"))
      throw new NodeError(`${ctx.node.id}: the quality metric needs a rater, which alignc run does not execute yet; remove quality from metrics`);
    const data = ctx.input("data");
    const models = ctx.inputs.filter((i) => i.name.startsWith("model["));
    const runtime = await ctx.runtime(p.device);
    const reports: { model: string; report: WorldReport }[] = [];
    mkdirSync(path.join(ctx.out, "predictions"), { recursive: true });
    // Images are decoded once per image size, not once per model.
    const bySize = new Map<number, ReturnType<typeof loadExamples>>();
    for (const input of models) {
      const model = loadModel(input);
      const loaded = bySize.get(model.config.imageSize) ?? loadExamples(data, model);
      bySize.set(model.config.imageSize, loaded);
      const { items, examples } = loaded;
      const progress = ctx.log.progress(`${ctx.node.id}: ${input.node.id} answering`, examples.length, "prompts");
      const run = await answerAll(
        runtime,
        model,
        examples,
        { maxTokens: Number(p.max_tokens ?? 64), temperature: Number(p.temperature ?? 0), seed: Number(p.seed ?? 0) },
        (done) => progress.update(done),
      );
      progress.finish(run.maxTokens < Number(p.max_tokens ?? 64) ? `answers capped at ${run.maxTokens} tokens by the model's context` : "");
      const predictions = new Map([...run.answers].map(([id, a]) => [id, a.text]));
      const report = evaluateWorld(items, predictions);
      reports.push({ model: input.node.id, report });
      const lines = items.map((it) =>
        JSON.stringify({ id: it.id, task: it.task, prompt: it.prompt, answer: it.answer, prediction: predictions.get(it.id) ?? "" }),
      );
      writeFileSync(path.join(ctx.out, "predictions", `${input.node.id}.jsonl`), `${lines.join("\n")}\n`);
    }
    const table = renderEvaluation(`${ctx.node.id} on ${data.node.id}`, reports, metrics as MetricName[]);
    writeFileSync(path.join(ctx.out, EVALUATION_MD), `${table}\n`);
    writeFileSync(
      path.join(ctx.out, EVALUATION_JSON),
      `${JSON.stringify({ data: data.node.id, metrics, models: Object.fromEntries(reports.map((r) => [r.model, r.report])) }, null, 2)}\n`,
    );
    const headline: Record<string, unknown> = {};
    for (const r of reports)
      headline[r.model] = {
        pope_accuracy: r.report.pope?.all.accuracy,
        chair_i: r.report.describe?.chairI,
        recall: r.report.describe?.recall,
        text_accuracy: r.report.text?.accuracy,
      };
    return headline;
  },
};
