// The Hugging Face decoders' side of online and mixed DPO (OnlinePolicy, online-options.ts): one HfTrainerPool carries
// the LoRA adapters (PEFT's, over weights read in place) or every decoder tensor, and their optimizer state, through
// every round. The sampler of a refresh is the current policy:
//   - before any step, the checkpoint itself (so round 1's KL is exactly 0: the same programs score both sides);
//   - LoRA: the checkpoint's weights in place plus the adapters' current values as initializers of the generation and
//     log-prob programs (y = x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ, as the training forward computes it; nothing is merged or written);
//   - full fine-tuning: the trained float32 weights written to the phase's scratch directory as a Hugging Face
//     directory and read from there in place (a model of several GB cannot travel inside an ONNX program); the one of
//     the previous refresh is deleted.
// A text decoder takes text items only (a prompt with an image is refused); a LLaVA sees each item's image, and online
// BDHS rewrites with it (bdhs-completer.ts).
import { rmSync } from "node:fs";
import path from "node:path";
import type { HfAdapterValues } from "../../../models/hf/lora.ts";
import type { BdhsCompleter } from "../../data/prefdata/bdhs.ts";
import { hfCompleter } from "../../data/prefdata/bdhs-completers.ts";
import type { SampleRecord, SamplerInfo } from "../../data/prefdata/records.ts";
import { type SampleStats, sampleHfResponses } from "../../data/prefdata/sample.ts";
import type { Runtime } from "../../engine/session.ts";
import { HfGenerator } from "../../models/hf/generate.ts";
import { hfAnswerLogProbs } from "../../models/hf/logprobs.ts";
import { type HfModel, loadHfModel } from "../../models/hf/model.ts";
import { hfPairOf, scoredSequence } from "../../models/hf/prompts.ts";
import { HfTrainerPool, type HfTrainingOptions, trainHfDpo } from "../../models/hf/train.ts";
import type { DpoStepMetrics } from "../../models/tinyvlm/dpo.ts";
import type { SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import type { WorldItem } from "../../world/format.ts";
import {
  type LoraSummary,
  type OnlineAnswer,
  OnlineError,
  type OnlinePolicy,
  type OnlinePrompt,
  type RoundPair,
  type RoundTraining,
  type Slot,
} from "./online-options.ts";

/** The sampler: a model (the checkpoint, or the scratch copy of a fully fine-tuned policy) and adapters over it. */
interface HfSampler {
  model: HfModel;
  adapters?: HfAdapterValues;
  generator?: HfGenerator;
  /** The scratch directory it was written to (full fine-tuning), removed at the next refresh. */
  dir?: string;
}

export class HfPolicy implements OnlinePolicy {
  private readonly pool: HfTrainerPool;
  readonly hasReference: boolean;
  private sampler: HfSampler;

  constructor(
    private readonly runtime: Runtime,
    private readonly model: HfModel,
    /** The reference model (the initial policy or another checkpoint); null: reference-free. */
    private readonly reference: HfModel | null,
    private readonly o: Pick<HfTrainingOptions, "lora" | "recompute"> & { seed: number; scratch: string },
  ) {
    this.pool = new HfTrainerPool(runtime, model, o.lora, o.seed);
    this.sampler = { model };
    this.hasReference = reference !== null;
  }

  get step(): number {
    return this.pool.step;
  }

  async prompts(items: readonly WorldItem[]): Promise<OnlinePrompt[]> {
    return items.map((item) => {
      if (item.image && !this.model.vision)
        throw new OnlineError(`item ${item.id} has an image, and ${this.model.architecture} is a text model; train on text prompts`);
      return { item, rgb: null };
    });
  }

  async refresh(): Promise<void> {
    await this.sampler.generator?.close();
    const stale = this.sampler.dir;
    this.sampler = this.currentPolicy();
    if (stale && stale !== this.sampler.dir) rmSync(stale, { recursive: true, force: true });
    this.sampler.generator = new HfGenerator(this.runtime, this.sampler.model, this.sampler.adapters);
  }

  /** The policy as it is now, for sampling (see the file comment). */
  private currentPolicy(): HfSampler {
    if (this.pool.step === 0) return { model: this.model };
    const adapters = this.pool.adapterValues();
    if (adapters) return { model: this.model, adapters };
    const dir = path.join(this.o.scratch, `sampler-step-${this.pool.step}`);
    this.pool.saveModel(dir, "float32");
    return { model: loadHfModel(dir), dir };
  }

  sample(slots: readonly Slot[], n: number, sampler: SamplerInfo): Promise<{ records: SampleRecord[]; stats: SampleStats }> {
    const generator = this.sampler.generator;
    if (!generator) throw new Error("online DPO: sampling before the first refresh");
    return sampleHfResponses(
      generator,
      slots.map((s) => ({ ...s.prompt.item, id: s.key })),
      n,
      sampler,
    );
  }

  fits(prompt: OnlinePrompt, answer: string): boolean {
    const s = scoredSequence(this.model, prompt.item, answer);
    return s.promptIds.length + s.answerIds.length <= this.model.config.maxPositionEmbeddings;
  }

  async logProbs(model: "reference" | "sampler", answers: readonly OnlineAnswer[]): Promise<Map<string, SequenceLogProb>> {
    const rows = answers.map((a) => scoredSequence(this.model, a.prompt.item, a.answer));
    let scored: SequenceLogProb[];
    if (model === "reference") {
      if (!this.reference) throw new Error("online DPO: reference log-probs asked of a reference-free phase");
      scored = await hfAnswerLogProbs(this.runtime, this.reference, rows);
    } else {
      const { adapters } = this.sampler;
      scored = await hfAnswerLogProbs(this.runtime, this.sampler.model, rows, adapters ? { adapters } : {});
    }
    return new Map(answers.map((a, i) => [a.key, scored[i] as SequenceLogProb]));
  }

  async train(pairs: readonly RoundPair[], o: RoundTraining, onRun: (rows: DpoStepMetrics[]) => void): Promise<void> {
    const hfPairs = pairs.map((p) => hfPairOf(this.model, p.prompt.item, p, p));
    const options = { ...o, ...(this.o.lora ? { lora: this.o.lora } : {}), recompute: this.o.recompute };
    await trainHfDpo(this.runtime, this.model, hfPairs, options, onRun, { pool: this.pool });
  }

  bdhsGenerator(): BdhsCompleter | undefined {
    // BDHS hides image tokens: a text decoder has none (check refuses online BDHS on one).
    const generator = this.sampler.generator;
    return generator && this.model.vision ? hfCompleter(generator) : undefined;
  }

  save(out: string): void {
    this.pool.saveModel(out);
  }

  loraSummary(): LoraSummary | undefined {
    const lora = this.o.lora;
    if (!lora) return undefined;
    const adapters = this.pool.adapters;
    return {
      rank: lora.rank,
      alpha: lora.alpha,
      weights: adapters.length,
      trainable_parameters: adapters.reduce((n, a) => n + lora.rank * (a.in + a.out), 0),
    };
  }

  async close(): Promise<void> {
    await this.sampler.generator?.close();
    if (this.sampler.dir) rmSync(this.sampler.dir, { recursive: true, force: true });
  }
}
