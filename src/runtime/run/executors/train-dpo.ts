// train.dpo: offline preference training on pairs (src/runtime/vlm/dpo.ts) with the reference log-probs of the
// phase's reference.logprobs node (or none, reference-free). With several pair datasets, every pair of the k-th
// carries its weight (γ and 1 − γ for two; `weights` for more), so L = Σ w·ℓ / Σ w over each batch. The output is
// the trained model as a checkpoint directory, with the per-step metrics beside it. Checkpoints and --resume as in
// train.sft (../checkpoints.ts).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { PreferenceLoss, PreferenceObjective } from "../../../compiler/tensor/models/tinyvlm/dpo.ts";
import { saveCheckpoint } from "../../checkpoint.ts";
import { type PairRecord, readDataset } from "../../prefdata/records.ts";
import { type DpoStepMetrics, trainDpo } from "../../vlm/dpo.ts";
import type { PairExample } from "../../vlm/dpo-feeds.ts";
import { examplesOf } from "../../vlm/examples.ts";
import { modelToCheckpoint } from "../../vlm/model.ts";
import { TrainingCheckpoints } from "../checkpoints.ts";
import { loadModel } from "./inputs.ts";
import { LOGPROBS_FILE, type PairLogProbs } from "./reference-logprobs.ts";
import { METRICS_FILE } from "./train-sft.ts";
import { loopOf, loraOf, optimizerOf, refuseUnsupported, scheduleOf } from "./training-settings.ts";
import { NodeError, type NodeExecutor } from "./types.ts";

export function objectiveOf(p: unknown): PreferenceObjective {
  const o = (p ?? {}) as Record<string, unknown>;
  const loss = (o.loss ?? "sigmoid") as PreferenceLoss;
  if (!["sigmoid", "ipo", "hinge"].includes(loss)) throw new NodeError(`objective.loss: unknown loss ${JSON.stringify(loss)}; use sigmoid, ipo or hinge`);
  return {
    loss,
    beta: typeof o.beta === "number" ? o.beta : 0.1,
    labelSmoothing: typeof o.label_smoothing === "number" ? o.label_smoothing : 0,
    logps: o.logps === "mean" ? "mean" : "sum",
    sftWeight: typeof o.sft_weight === "number" ? o.sft_weight : 0,
  };
}

/** Each pair dataset's weight: γ and 1 − γ for two with `gamma`, the `weights` list, or 1 each. */
export function datasetWeights(p: Record<string, unknown>, count: number): number[] {
  if (typeof p.gamma === "number") {
    if (count !== 2) throw new NodeError(`gamma weighs exactly two pair datasets, this phase has ${count}`);
    return [p.gamma, 1 - p.gamma];
  }
  if (Array.isArray(p.weights)) {
    if (p.weights.length !== count) throw new NodeError(`weights has ${p.weights.length} values for ${count} pair datasets`);
    return p.weights as number[];
  }
  return Array.from({ length: count }, () => 1);
}

export const trainDpoExecutor: NodeExecutor = {
  kind: "train.dpo",
  version: 1,
  async run(ctx) {
    const p = ctx.node.params;
    refuseUnsupported(p, ctx.node.id);
    // Decoded first, so bad LoRA settings fail before anything is loaded.
    const lora = loraOf(p.lora);
    const objective = objectiveOf(p.objective);
    const model = loadModel(ctx.input("model"));
    const pairInputs = ctx.inputs.filter((i) => i.name.startsWith("pairs["));
    const weights = datasetWeights(p, pairInputs.length);
    const reference = ctx.inputs.find((i) => i.name === "reference");
    const refs = new Map<string, PairLogProbs>();
    if (reference)
      for (const line of readFileSync(path.join(reference.dir, LOGPROBS_FILE), "utf8").split("\n"))
        if (line !== "") {
          const r = JSON.parse(line) as PairLogProbs;
          refs.set(`${r.dataset}/${r.id}`, r);
        }
    const pick = (lp: { sum: number; mean: number }) => (objective.logps === "sum" ? lp.sum : lp.mean);
    const pairs: PairExample[] = [];
    pairInputs.forEach((input, k) => {
      const data = readDataset(input.dir);
      if (data.kind !== "pairs") throw new NodeError(`${input.node.id} holds ${data.kind}, not pairs`);
      const records = data.records as PairRecord[];
      const examples = examplesOf(
        "",
        records.map((r) => r.item),
        model.config.imageSize,
      );
      records.forEach((r, i) => {
        const ref = refs.get(`${k}/${r.id}`);
        if (reference && !ref)
          throw new NodeError(`no reference log-probs for pair ${r.id} of ${input.node.id}; the reference node's output does not match its pairs`);
        pairs.push({
          id: pairInputs.length > 1 ? `${k}/${r.id}` : r.id,
          prompt: r.item.prompt,
          chosen: r.chosen,
          rejected: r.rejected,
          rgb: examples[i]?.rgb ?? null,
          weight: weights[k] as number,
          refChosen: ref ? pick(ref.chosen) : 0,
          refRejected: ref ? pick(ref.rejected) : 0,
        });
      });
    });
    const zeroWeight = pairs.filter((x) => x.weight === 0).length;
    const used = pairs.filter((x) => x.weight > 0);
    if (used.length === 0)
      throw new NodeError(`no pairs to train on: ${pairInputs.map((i) => i.node.id).join(", ")} hold ${pairs.length} pairs with weight > 0`);
    const loop = loopOf(p, used.length, pairInputs.map((i) => i.node.id).join(" + "));
    const checkpoints = new TrainingCheckpoints<DpoStepMetrics>(ctx, { every: loop.checkpointEvery, steps: loop.steps, stepsPerRun: loop.stepsPerRun });
    const resumed = checkpoints.start();
    if (loop.stepsPerRunNote) ctx.log.line(`${ctx.node.id}: ${loop.stepsPerRunNote}`);
    const runtime = await ctx.runtime(p.device);
    const progress = ctx.log.progress(`${ctx.node.id}: preference training`, loop.steps, "steps");
    const started = performance.now();
    // Every step's rows so far (a resumed phase starts with those of its checkpoint, written again to the run's metrics).
    const rows: DpoStepMetrics[] = resumed ? [...resumed.rows] : [];
    if (resumed) ctx.metrics(resumed.rows);
    const recent: DpoStepMetrics[] = rows.slice(-20);
    const { model: trained, adapters } = await trainDpo(
      runtime,
      model,
      used,
      { ...loop, objective, optimizer: optimizerOf(p.optimizer), schedule: scheduleOf(p.schedule, loop.steps), lora },
      (these) => {
        ctx.metrics(these);
        rows.push(...these);
        recent.push(...these);
        recent.splice(0, Math.max(0, recent.length - 20));
        const last = these.at(-1) as DpoStepMetrics;
        progress.update(
          last.step,
          `loss ${mean(recent, "loss").toFixed(3)} · acc ${mean(recent, "rewards/accuracies").toFixed(2)} · margin ${mean(recent, "rewards/margins").toFixed(3)} · ${Math.round(last.tokens_per_second ?? 0)} tok/s`,
        );
      },
      {
        onRunEnd: (runIndex, pool) => checkpoints.take(runIndex, pool, rows),
        ...(resumed ? { resume: { runsDone: resumed.runsDone, state: resumed.state } } : {}),
      },
    );
    const tail = rows.slice(-Math.min(rows.length, 20));
    progress.finish(
      `loss ${mean(tail, "loss").toFixed(3)} · reward accuracy ${mean(tail, "rewards/accuracies").toFixed(2)} · margin ${mean(tail, "rewards/margins").toFixed(3)}`,
    );
    // A LoRA phase's checkpoint holds the merged weights, plus its adapters as PEFT-style files beside them.
    saveCheckpoint(ctx.out, { ...modelToCheckpoint(trained), files: adapters?.files() });
    writeFileSync(path.join(ctx.out, METRICS_FILE), rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
    return {
      pairs: used.length,
      pairs_weight_zero: zeroWeight,
      reference: reference ? reference.node.id : "none",
      steps: loop.steps,
      epochs: rows.at(-1)?.epoch ?? 0,
      loss: mean(tail, "loss"),
      "rewards/accuracies": mean(tail, "rewards/accuracies"),
      "rewards/margins": mean(tail, "rewards/margins"),
      seconds: (performance.now() - started) / 1000,
      tokens_per_second: rows.length > 0 ? mean(rows, "tokens_per_second") : 0,
      ...(resumed ? { resumed_from_step: resumed.step } : {}),
    };
  },
};

function mean(rows: readonly DpoStepMetrics[], key: string): number {
  return rows.length === 0 ? Number.NaN : rows.reduce((a, r) => a + (r[key] ?? Number.NaN), 0) / rows.length;
}
