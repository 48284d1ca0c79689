// eval.metrics: each model answers every item of the evaluation set (one batched generation per model), and the
// answers are scored against the world's ground truth: POPE, CHAIR and recall, exact-match accuracies, and, for the
// quality metric, a rater's scores of every answer (the `rater` input, else the built-in grounded rater). Outputs:
// evaluation.json (every report), evaluation.md (the tables), predictions/<model>.jsonl (what each model said).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { evaluateWorld, type WorldReport } from "../../eval/evaluate.ts";
import { defaultQualityRater, qualityReport } from "../../eval/quality.ts";
import { type MetricName, renderEvaluation } from "../../eval/table.ts";
import { createRater } from "../../raters/index.ts";
import { RaterUnavailable } from "../../raters/protocol.ts";
import type { RaterRuntime } from "../../raters/types.ts";
import { answerAll } from "../../vlm/answer.ts";
import { loadExamples, loadModel } from "./inputs.ts";
import { type ExecContext, NodeError, type NodeExecutor } from "./types.ts";

export const EVALUATION_JSON = "evaluation.json";
export const EVALUATION_MD = "evaluation.md";

export const evalMetrics: NodeExecutor = {
  kind: "eval.metrics",
  version: 1,
  usesDevice: true,
  async run(ctx) {
    const p = ctx.node.params;
    const metrics = (p.metrics ?? ["pope", "chair", "recall", "text_accuracy"]) as string[];
    const data = ctx.input("data");
    const rater = metrics.includes("quality") ? await qualityRater(ctx) : undefined;
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
      if (rater) {
        const rating = ctx.log.progress(`${ctx.node.id}: ${rater.info.rater} rating ${input.node.id}'s answers`, items.length, "items");
        try {
          report.quality = await qualityReport(items, predictions, rater, { imageDir: data.dir, onProgress: (done) => rating.update(done) });
        } catch (e) {
          // The rater as a whole cannot run (its program does not start or keeps crashing, its module does not load).
          if (!(e instanceof RaterUnavailable)) throw e;
          throw new NodeError(`the quality metric's rater ${rater.info.rater}: ${e.message}`);
        }
        const q = report.quality;
        rating.finish(q.failed > 0 ? `the rater failed on ${q.failed} of ${items.length} items (left out of the means)` : "");
      }
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
        ...(r.report.quality && { quality: r.report.quality.all.means, quality_describe: r.report.quality.byTask.describe?.means }),
      };
    return headline;
  },
};

/** The rater of the quality metric: the evaluation's `rater` input, or the built-in grounded rater (all aspects, 0..4). */
async function qualityRater(ctx: ExecContext): Promise<RaterRuntime> {
  const input = ctx.inputs.find((i) => i.name === "rater");
  if (!input) return defaultQualityRater();
  return createRater(
    input.node,
    ctx.entryDir,
    ctx.log.stderrOf(input.node.id),
    // A model judge needs its model's stored entry and a runtime (the evaluation's device).
    { storedRater: input, runtime: () => ctx.runtime(ctx.node.params.device) },
  );
}
