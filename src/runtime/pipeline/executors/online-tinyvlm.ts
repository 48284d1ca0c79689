// The TinyVLM side of online and mixed DPO (OnlinePolicy, online-options.ts): one TrainerPool carries the weights (or
// the LoRA adapters over frozen weights, built once from the phase's seed as offline DPO builds them) and their
// optimizer state through every round; the sampler is a Generator on the merged policy of its last refresh
// (pool.trained(): W + (α/r)·A·B), so round 1 samples from exactly the initial model (B = 0). Online BDHS rewrites
// with that generator.

import type { BdhsCompleter } from "../../data/prefdata/bdhs.ts";
import { tinyVlmCompleter } from "../../data/prefdata/bdhs-completers.ts";
import type { SampleRecord, SamplerInfo } from "../../data/prefdata/records.ts";
import { type SampleStats, sampleResponses } from "../../data/prefdata/sample.ts";
import type { Runtime } from "../../engine/session.ts";
import { buildAdapters, type LoraSettings } from "../../models/tinyvlm/adapters.ts";
import { type DpoStepMetrics, trainDpo } from "../../models/tinyvlm/dpo.ts";
import type { PairExample } from "../../models/tinyvlm/dpo-feeds.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import type { Example } from "../../models/tinyvlm/feeds.ts";
import { Generator } from "../../models/tinyvlm/generate-rows.ts";
import { answerLogProbs, type SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import type { VlmModel } from "../../models/tinyvlm/model.ts";
import { TrainerPool } from "../../models/tinyvlm/train-loop.ts";
import type { WorldItem } from "../../world/format.ts";
import type { LoraSummary, OnlineAnswer, OnlinePolicy, OnlinePrompt, RoundPair, RoundTraining, Slot } from "./online-options.ts";
import { saveTrained } from "./training-progress.ts";

export class TinyVlmPolicy implements OnlinePolicy {
  private readonly pool: TrainerPool;
  readonly hasReference: boolean;
  private sampler: { model: VlmModel; generator?: Generator };

  constructor(
    private readonly runtime: Runtime,
    private readonly model: VlmModel,
    /** The reference model (the initial policy or another model); null: reference-free. */
    private readonly reference: VlmModel | null,
    private readonly lora: LoraSettings | undefined,
    seed: number,
  ) {
    this.pool = new TrainerPool(runtime, model, lora ? buildAdapters(model, lora, seed) : undefined);
    this.sampler = { model };
    this.hasReference = reference !== null;
  }

  get step(): number {
    return this.pool.step;
  }

  async prompts(items: readonly WorldItem[]): Promise<OnlinePrompt[]> {
    const examples = await examplesOf("", items, this.model.config.imageSize);
    return items.map((item, i) => ({ item, rgb: examples[i]?.rgb ?? null }));
  }

  async refresh(): Promise<void> {
    await this.sampler.generator?.close();
    const model = this.pool.trained();
    this.sampler = { model, generator: new Generator(this.runtime, model) };
  }

  sample(slots: readonly Slot[], n: number, sampler: SamplerInfo): Promise<{ records: SampleRecord[]; stats: SampleStats }> {
    const items = slots.map((s) => ({ ...s.prompt.item, id: s.key }));
    const examples: Example[] = slots.map((s) => ({ id: s.key, prompt: s.prompt.item.prompt, answer: "", rgb: s.prompt.rgb }));
    return sampleResponses(this.generator(), items, examples, n, sampler);
  }

  fits(prompt: OnlinePrompt, answer: string): boolean {
    const tok = this.model.tokenizer;
    return 1 + tok.encode(prompt.item.prompt).length + tok.encode(answer).length <= this.model.config.textContext;
  }

  logProbs(model: "reference" | "sampler", answers: readonly OnlineAnswer[]): Promise<Map<string, SequenceLogProb>> {
    const m = model === "reference" ? this.reference : this.sampler.model;
    if (!m) throw new Error("online DPO: reference log-probs asked of a reference-free phase");
    return answerLogProbs(
      this.runtime,
      m,
      answers.map((a): Example => ({ id: a.key, prompt: a.prompt.item.prompt, answer: a.answer, rgb: a.prompt.rgb })),
    );
  }

  async train(pairs: readonly RoundPair[], o: RoundTraining, onRun: (rows: DpoStepMetrics[]) => void): Promise<void> {
    const examples = pairs.map(
      (p): PairExample => ({
        id: p.id,
        prompt: p.prompt.item.prompt,
        chosen: p.chosen,
        rejected: p.rejected,
        rgb: p.prompt.rgb,
        weight: p.weight,
        refChosen: p.refChosen,
        refRejected: p.refRejected,
      }),
    );
    // The pool brings the adapters; trainDpo checks that it has them.
    await trainDpo(this.runtime, this.model, examples, { ...o, lora: this.lora }, onRun, { pool: this.pool });
  }

  bdhsGenerator(): BdhsCompleter | undefined {
    const generator = this.sampler.generator;
    return generator ? tinyVlmCompleter(generator) : undefined;
  }

  save(out: string): void {
    saveTrained(out, this.pool.trained(), this.pool.adapters());
  }

  loraSummary(): LoraSummary | undefined {
    const a = this.pool.adapters();
    return a && { rank: a.settings.rank, alpha: a.settings.alpha, weights: a.weights.length, trainable_parameters: a.trainableParameters };
  }

  async close(): Promise<void> {
    await this.sampler.generator?.close();
  }

  /** The sampler's generator (the rounds refresh before they sample). */
  private generator(): Generator {
    if (!this.sampler.generator) throw new Error("online DPO: sampling before the first refresh");
    return this.sampler.generator;
  }
}
