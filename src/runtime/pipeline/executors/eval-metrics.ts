// eval.metrics: scores each evaluated model's answers (its eval.answers input, computed once per model, data and
// generation settings) against the world's ground truth: POPE, CHAIR and recall, exact-match accuracies, and, for the
// quality metric, a rater's scores of every answer (the `rater` input, else the built-in grounded rater). Outputs:
// evaluation.json (every report), evaluation.md (the tables), predictions/<model>.jsonl (what each model said, copied
// from its answers entry).
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { InputRef } from "../../../graph/params.ts";
import { evaluateWorld, type WorldReport } from "../../eval/evaluate.ts";
import { defaultQualityRater, qualityReport } from "../../eval/quality.ts";
import { type MetricName, renderEvaluation } from "../../eval/table.ts";
import { RaterUnavailable } from "../../raters/protocol.ts";
import type { RaterRuntime } from "../../raters/types.ts";
import { defineExecutor, type ExecContext, NodeError, type StoredInput } from "../node-executor.ts";
import { createRater } from "./create-rater.ts";
import { PREDICTIONS_FILE, readPredictions } from "./eval-answers.ts";
import { loadItems } from "./inputs.ts";

export const EVALUATION_JSON = "evaluation.json";
export const EVALUATION_MD = "evaluation.md";

/** The evaluated model an answers input (`answers[i]`) holds the answers of: the answers node's `model` input. */
export function answersModel(input: StoredInput): string {
  const model = input.node.inputs.find((i) => i.name === "model");
  if (!model) throw new NodeError(`${input.node.id}: an answers node without a model input`);
  return model.node;
}

export const evalMetrics = defineExecutor({
  ...nodeKind("eval.metrics"),
  // Only a model judge (the quality metric's rater) runs programs here, on the evaluation's device.
  usesDevice: true,
  settings: (p) => ({ metrics: p.metrics satisfies MetricName[], rater: p.rater, device: p.device, caption: p.caption }),
  async run(ctx, { metrics, rater: raterSetting, device, caption }) {
    const data = ctx.input("data");
    const items = loadItems(data);
    const rater = metrics.includes("quality") ? await qualityRater(ctx, raterSetting, device) : undefined;
    const answers = ctx.inputs.filter((i) => i.name.startsWith("answers["));
    const reports: { model: string; report: WorldReport }[] = [];
    mkdirSync(path.join(ctx.out, "predictions"), { recursive: true });
    for (const input of answers) {
      const model = answersModel(input);
      const predictions = new Map(readPredictions(input.dir).map((l) => [l.id, l.prediction]));
      const report = evaluateWorld(items, predictions);
      if (rater) {
        const rating = ctx.log.progress(`${ctx.node.id}: ${rater.info.rater} rating ${model}'s answers`, items.length, "items");
        try {
          report.quality = await qualityReport(items, predictions, rater, { imageDir: data.dir, onProgress: (done) => rating.update(done) });
        } catch (e) {
          // The rater as a whole cannot run (its program does not start or keeps crashing, its module does not load).
          if (!(e instanceof RaterUnavailable)) throw e;
          throw new NodeError(`the quality metric's rater ${rater.info.rater}: ${e.message}`, { cause: e });
        }
        const q = report.quality;
        rating.finish(q.failed > 0 ? `the rater failed on ${q.failed} of ${items.length} items (left out of the means)` : "");
      }
      reports.push({ model, report });
      copyFileSync(path.join(input.dir, PREDICTIONS_FILE), path.join(ctx.out, "predictions", `${model}.jsonl`));
    }
    // Here every model's report is complete (in the order of the evaluation's models); what follows writes them out.
    const table = renderEvaluation(`${ctx.node.id} on ${data.node.id}`, reports, metrics, caption);
    writeFileSync(path.join(ctx.out, EVALUATION_MD), `${table}\n`);
    writeFileSync(
      path.join(ctx.out, EVALUATION_JSON),
      `${JSON.stringify({ data: data.node.id, metrics, ...(caption !== undefined && { caption }), models: Object.fromEntries(reports.map((r) => [r.model, r.report])) }, null, 2)}\n`,
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
});

/** The rater of the quality metric: the input the evaluation's `rater` names, or the built-in grounded rater (all aspects, 0..4). */
async function qualityRater(ctx: ExecContext, rater: InputRef | undefined, device: string | undefined): Promise<RaterRuntime> {
  if (!rater) return defaultQualityRater();
  const input = ctx.input(rater.input);
  return createRater(
    input.node,
    ctx.entryDir,
    ctx.log.stderrOf(input.node.id),
    // A model judge needs its model's stored entry and a runtime (the evaluation's device).
    { storedRater: input, runtime: () => ctx.runtime(device) },
  );
}
