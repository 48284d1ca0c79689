// train.dpo: offline preference training on pairs (src/runtime/models/tinyvlm/dpo.ts) with the reference log-probs of the
// phase's reference.logprobs node (or none, reference-free). With several pair datasets, every pair of the k-th
// carries its weight (γ and 1 − γ for two; `weights` for more), so L = Σ w·ℓ / Σ w over each batch. The output is
// the trained model as a checkpoint directory, with the per-step metrics beside it. Checkpoints and --resume as in
// train.sft (../checkpoints.ts).
import { readFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { ObjectiveBlock } from "../../../graph/params.ts";
import type { PreferenceObjective } from "../../../models/layers/preference.ts";
import { type PairRecord, readDataset } from "../../data/prefdata/records.ts";
import { hfPairOf } from "../../models/hf/prompts.ts";
import { type HfPair, hfLoraOf, trainHfDpo } from "../../models/hf/train.ts";
import { type DpoStepMetrics, trainDpo } from "../../models/tinyvlm/dpo.ts";
import type { PairExample } from "../../models/tinyvlm/dpo-feeds.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { loadModelInput } from "./inputs.ts";
import { LOGPROBS_FILE, type PairLogProbs } from "./reference-logprobs.ts";
import { meanOf, saveTrained, startTraining } from "./training-progress.ts";
import { explainingPrecision, loopOf, scheduleOf, tinyVlmOnly, trainingSettings } from "./training-settings.ts";

export function objectiveOf(o: ObjectiveBlock): PreferenceObjective {
  return { loss: o.loss, beta: o.beta, labelSmoothing: o.label_smoothing, logps: o.logps, sftWeight: o.sft_weight };
}

/**
 * Each pair dataset's weight: γ and 1 − γ for two with `gamma`, the `weights` list, or 1 each. The params are checked
 * already; that they fit the phase's pair inputs is checked here, where both are known.
 */
export function datasetWeights(gamma: number | undefined, weights: readonly number[] | undefined, count: number): number[] {
  if (gamma !== undefined) {
    if (count !== 2) throw new NodeError(`gamma weighs exactly two pair datasets, this phase has ${count}`);
    return [gamma, 1 - gamma];
  }
  if (weights !== undefined) {
    if (weights.length !== count) throw new NodeError(`weights has ${weights.length} values for ${count} pair datasets`);
    return [...weights];
  }
  return Array.from({ length: count }, () => 1);
}

export const trainDpoExecutor = defineExecutor({
  ...nodeKind("train.dpo"),
  usesDevice: true,
  settings: (p) => ({
    training: trainingSettings(p),
    objective: objectiveOf(p.objective),
    // precomputed and <model> come as the phase's reference.logprobs input; none has none.
    referenceFree: p.reference === "none",
    gamma: p.gamma,
    weights: p.weights,
  }),
  async run(ctx, { training, objective, referenceFree, gamma, weights: given }) {
    const loaded = loadModelInput(ctx.input("model"));
    const pairInputs = ctx.inputs.filter((i) => i.name.startsWith("pairs["));
    const weights = datasetWeights(gamma, given, pairInputs.length);
    const reference = referenceFree ? undefined : ctx.input("reference");
    const refs = new Map<string, PairLogProbs>();
    if (reference)
      for (const line of readFileSync(path.join(reference.dir, LOGPROBS_FILE), "utf8").split("\n"))
        if (line !== "") {
          const r = JSON.parse(line) as PairLogProbs;
          refs.set(`${r.dataset}/${r.id}`, r);
        }
    const pick = (lp: { sum: number; mean: number }) => (objective.logps === "sum" ? lp.sum : lp.mean);
    const pairs: WeightedPair[] = [];
    const datasets = pairInputs.map((input) => readDataset(input.dir));
    // Dataset k's share of the loss is its weight: each of its N_k pairs weighs w_k·N/N_k (mean 1 over all N pairs),
    // and the loss is Σ w·ℓ / B, so the shares hold whatever the datasets' sizes and however batches fall.
    const total = datasets.reduce((a, d) => a + d.records.length, 0);
    const shareOf = (k: number) => {
      const n = (datasets[k] as { records: unknown[] }).records.length;
      const sum = weights.reduce((a, w, j) => a + ((datasets[j] as { records: unknown[] }).records.length > 0 ? w : 0), 0);
      return n === 0 || sum === 0 ? 0 : ((weights[k] as number) / sum) * (total / n);
    };
    pairInputs.forEach((input, k) => {
      const data = datasets[k] as ReturnType<typeof readDataset>;
      if (data.kind !== "pairs") throw new NodeError(`${input.node.id} holds ${data.kind}, not pairs`);
      for (const r of data.records as PairRecord[]) {
        const ref = refs.get(`${k}/${r.id}`);
        if (reference && !ref)
          throw new NodeError(`no reference log-probs for pair ${r.id} of ${input.node.id}; the reference node's output does not match its pairs`);
        pairs.push({
          id: pairInputs.length > 1 ? `${k}/${r.id}` : r.id,
          record: r,
          weight: shareOf(k),
          refChosen: ref ? pick(ref.chosen) : 0,
          refRejected: ref ? pick(ref.rejected) : 0,
        });
      }
    });
    const zeroWeight = pairs.filter((x) => x.weight === 0).length;
    const used = pairs.filter((x) => x.weight > 0);
    if (used.length === 0) {
      const sizes = pairInputs.map((i, k) => `${i.node.id}: ${(datasets[k] as { records: unknown[] }).records.length} pairs, weight ${weights[k]}`);
      throw new NodeError(
        `no pairs with a weight above 0 to train on (${sizes.join("; ")}); give the non-empty datasets a weight (gamma or weights) or make pairs`,
      );
    }
    const loop = loopOf(training, used.length, pairInputs.map((i) => i.node.id).join(" + "));
    const t = await startTraining<DpoStepMetrics>(
      ctx,
      training.device,
      loop,
      "preference training",
      (recent, last) =>
        `loss ${meanOf(recent, "loss").toFixed(3)} · acc ${meanOf(recent, "rewards/accuracies").toFixed(2)} · margin ${meanOf(recent, "rewards/margins").toFixed(3)} · ${Math.round(last.tokens_per_second ?? 0)} tok/s`,
    );
    const options = { ...loop, objective, optimizer: training.optimizer, schedule: scheduleOf(training.schedule, loop.steps) };
    const save = await explainingPrecision(loop.mixedPrecision, ctx.node.id, async (): Promise<(out: string) => void> => {
      if (loaded.family === "hf") {
        const model = loaded.model;
        const hfPairs = used.map((p): HfPair => {
          if (p.record.item.image && !model.vision) throw new NodeError(`pair ${p.id} has an image, and ${model.architecture} is a text model`);
          return hfPairOf(model, p.record.item, p.record, p);
        });
        const { pool } = await trainHfDpo(
          t.runtime,
          model,
          hfPairs,
          { ...options, lora: hfLoraOf(training.lora), recompute: training.recompute },
          t.onRun,
          t.more,
        );
        return (out) => pool.saveModel(out);
      }
      tinyVlmOnly(training);
      const model = loaded.model;
      const examples = await examplesOf(
        "",
        used.map((p) => p.record.item),
        model.config.imageSize,
      );
      const vlmPairs = used.map(
        (p, i): PairExample => ({
          id: p.id,
          prompt: p.record.item.prompt,
          chosen: p.record.chosen,
          rejected: p.record.rejected,
          rgb: examples[i]?.rgb ?? null,
          weight: p.weight,
          refChosen: p.refChosen,
          refRejected: p.refRejected,
        }),
      );
      const { model: trained, adapters } = await trainDpo(t.runtime, model, vlmPairs, { ...options, lora: training.lora }, t.onRun, t.more);
      return (out) => saveTrained(out, trained, adapters);
    });
    return t.finish(save, {
      line: (tail) =>
        `loss ${meanOf(tail, "loss").toFixed(3)} · reward accuracy ${meanOf(tail, "rewards/accuracies").toFixed(2)} · margin ${meanOf(tail, "rewards/margins").toFixed(3)}`,
      first: { pairs: used.length, pairs_weight_zero: zeroWeight, reference: reference ? reference.node.id : "none" },
      means: ["loss", "rewards/accuracies", "rewards/margins"],
    });
  },
});

/** A pair of a phase's datasets with its weight and its reference log-probs, before a model family's ids. */
interface WeightedPair {
  id: string;
  record: PairRecord;
  weight: number;
  refChosen: number;
  refRejected: number;
}
