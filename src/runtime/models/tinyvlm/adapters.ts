// LoRA for TinyVLM's training phases (SFT, DPO). A `lora { rank, alpha, targets, dropout, projector_lr }` setting
// becomes: low-rank adapters A [in, r], B [r, out] on the chosen 2-D weights (trainable; A ~ N(0, 1/in), B = 0, so
// training starts from exactly the base model), the projector trained fully with its own learning rate when
// projector_lr is set, and every other weight frozen — an initializer of the training program, not fed per run.
// The forward reads W' = W + (α/r)·A·B for an adapted weight (built in the graph once per loss evaluation). At the
// end the adapters are merged back, so a phase's output checkpoint is a plain TinyVLM; the adapters themselves go
// beside it as extra files (docs/lora.md).
import { LORA_TARGETS } from "../../../graph/vocabulary.ts";
import { applyLora, LORA_META, type LoraAdapter, loraWeight, mergeLora } from "../../../models/params/lora.ts";
import { ParamSet } from "../../../models/params/param-set.ts";
import type { Tensor, TensorData } from "../../../tensor/ir/graph.ts";
import { numel } from "../../../tensor/ir/shape.ts";
import * as op from "../../../tensor/ops/index.ts";
import type { OptimizerConfig } from "../../../tensor/optim/types.ts";
import type { FrozenParam, LossFn, ParamSpec } from "../../../tensor/program/train-program.ts";
import { Rng } from "../../../util/random.ts";
import { ALIGNC_VERSION } from "../../../version.ts";
import type { VlmModel } from "./model.ts";

export type LoraTarget = (typeof LORA_TARGETS)[number];

/** A LoRA setting that cannot be used (shown to the user as its message, like a NodeError). */
export class LoraError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7006";
  override name = "LoraError";
}

export interface LoraSettings {
  /** r. */
  rank: number;
  /** α: the update is scaled by α / r. */
  alpha: number;
  /** Which weights get adapters (the catalog's names; see loraTargetWeights). */
  targets: LoraTarget[];
  /** Dropout on the LoRA input: only 0 is supported (see loraSettingsOf). */
  dropout: number;
  /** When set, the projector (weight and bias) is trained fully with this learning rate (the schedule scales it too). */
  projectorLr?: number;
}

/** The files a LoRA phase adds to its output checkpoint directory. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** Metadata key of the adapter file: the phase's LoRA settings as JSON. */
export const LORA_SETTINGS_META = "alignc.lora.settings";

/** The projector's parameters, trained fully when projector_lr is set. */
export const PROJECTOR_PARAMS = ["projector.weight", "projector.bias"] as const;

/** TinyVLM weight names (regular expressions over the model's parameter names) of each catalog target. */
const TARGET_WEIGHTS: Record<LoraTarget, RegExp> = {
  q: /^text\.blocks\.\d+\.attn\.q$/,
  k: /^text\.blocks\.\d+\.attn\.k$/,
  v: /^text\.blocks\.\d+\.attn\.v$/,
  o: /^text\.blocks\.\d+\.attn\.o$/,
  mlp_in: /^text\.blocks\.\d+\.mlp\.up$/,
  mlp_out: /^text\.blocks\.\d+\.mlp\.down$/,
  projector: /^projector\.weight$/,
  // The vision encoder's linear weights: patch embedding, attention and MLP matrices (not the position table).
  vision: /^vision\.(patch_embed|blocks\.\d+\.(attn\.[qkvo]|mlp\.(up|down)))$/,
};

/**
 * Decodes a phase's `lora` param (the execution graph's JSON: { rank, alpha?, targets, dropout, projector_lr? };
 * alpha defaults to 2·rank) into settings; undefined when the phase has none. Refuses what cannot be trained
 * — dropout > 0 among it — with a LoraError.
 */
export function loraSettingsOf(params: unknown): LoraSettings | undefined {
  if (params === undefined || params === null) return undefined;
  if (typeof params !== "object" || Array.isArray(params)) throw new LoraError(`lora: expected an object { rank, alpha, targets, dropout, projector_lr }`);
  const o = params as Record<string, unknown>;
  const known = new Set(["rank", "alpha", "targets", "dropout", "projector_lr"]);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length)
    throw new LoraError(`lora: unknown setting${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; use rank, alpha, targets, dropout, projector_lr`);
  const rank = o.rank ?? 8;
  if (typeof rank !== "number") throw new LoraError(`lora.rank must be a positive integer, got ${JSON.stringify(rank)}`);
  const alpha = o.alpha ?? 2 * rank;
  if (typeof alpha !== "number") throw new LoraError(`lora.alpha must be a number > 0, got ${JSON.stringify(alpha)}`);
  const targets = o.targets ?? ["q", "v"];
  if (!Array.isArray(targets)) throw new LoraError(`lora.targets must be a list of ${LORA_TARGETS.join(", ")}, got ${JSON.stringify(targets)}`);
  const dropout = o.dropout ?? 0;
  if (typeof dropout !== "number") throw new LoraError(`lora.dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const projectorLr = o.projector_lr ?? undefined;
  if (projectorLr !== undefined && typeof projectorLr !== "number")
    throw new LoraError(`lora.projector_lr must be a number > 0, got ${JSON.stringify(projectorLr)}`);
  const s: LoraSettings = { rank, alpha, targets: targets as LoraTarget[], dropout };
  if (projectorLr !== undefined) s.projectorLr = projectorLr;
  checkLoraSettings(s);
  return s;
}

/** Throws a LoraError naming the first unusable setting. */
export function checkLoraSettings(s: LoraSettings): void {
  if (!Number.isSafeInteger(s.rank) || s.rank < 1) throw new LoraError(`lora.rank must be a positive integer, got ${s.rank}`);
  if (!Number.isFinite(s.alpha) || s.alpha <= 0) throw new LoraError(`lora.alpha must be a number > 0, got ${s.alpha}`);
  if (s.targets.length === 0) throw new LoraError(`lora.targets is empty; name at least one of ${LORA_TARGETS.join(", ")}`);
  for (const t of s.targets)
    if (!(LORA_TARGETS as readonly string[]).includes(t))
      throw new LoraError(`lora.targets: unknown target ${JSON.stringify(t)}; use ${LORA_TARGETS.join(", ")}`);
  if (new Set(s.targets).size !== s.targets.length) throw new LoraError(`lora.targets names a target twice: ${s.targets.join(", ")}`);
  if (!Number.isFinite(s.dropout) || s.dropout < 0 || s.dropout >= 1) throw new LoraError(`lora.dropout must be in [0, 1), got ${s.dropout}`);
  if (s.dropout > 0)
    throw new LoraError(
      `lora.dropout ${s.dropout} is not supported by alignc run yet: dropout on the LoRA input needs the input of each adapted matmul and a seeded mask that repeats when a run resumes, which TinyVLM's training programs do not have; use dropout: 0`,
    );
  if (s.projectorLr !== undefined && !(Number.isFinite(s.projectorLr) && s.projectorLr >= 0))
    throw new LoraError(`lora.projector_lr must be a number > 0, got ${s.projectorLr}`);
  if (s.projectorLr !== undefined && s.targets.includes("projector"))
    throw new LoraError(
      "lora: the projector is both a LoRA target and trained fully (projector_lr); remove projector from targets to train it fully, or drop projector_lr to adapt it",
    );
}

/** The TinyVLM weights the targets adapt, in the model's parameter order; a target that matches nothing is an error. */
export function loraTargetWeights(names: readonly string[], targets: readonly LoraTarget[]): string[] {
  const picked = new Set<string>();
  for (const t of targets) {
    const hits = names.filter((n) => TARGET_WEIGHTS[t].test(n));
    if (hits.length === 0) throw new LoraError(`lora.targets: ${t} matches no weight of this model`);
    for (const h of hits) picked.add(h);
  }
  return names.filter((n) => picked.has(n));
}

/** A phase's adapters after training: what goes beside the merged checkpoint. */
export interface TrainedAdapters {
  settings: LoraSettings;
  /** The adapted weights' names. */
  weights: string[];
  /** Current values of every trained parameter: each weight's `.lora_a` and `.lora_b`, and the projector when trained fully. */
  values: Map<string, TensorData>;
  /** Scalars trained (adapters + fully trained projector). */
  trainableParameters: number;
  /** The extra checkpoint files: adapter_model.safetensors and adapter_config.json (pass as `files` to saveCheckpoint). */
  files(): Record<string, Uint8Array>;
}

/** LoRA over one TinyVLM: the training program's parameters, the adapted forward, and the merge back. */
export class VlmAdapters {
  /** Adapted weight names, in model order. */
  readonly weights: string[];
  /** Parameters trained fully besides the adapters (the projector when projector_lr is set). */
  readonly fullyTrained: string[];
  private readonly set = new ParamSet();
  private readonly adapters: LoraAdapter[];
  private frozenCache?: FrozenParam[];

  constructor(
    readonly model: VlmModel,
    readonly settings: LoraSettings,
    readonly seed: number,
  ) {
    checkLoraSettings(settings);
    const names = [...model.params.keys()];
    this.weights = loraTargetWeights(names, settings.targets);
    this.fullyTrained = settings.projectorLr === undefined ? [] : [...PROJECTOR_PARAMS];
    for (const n of this.fullyTrained) if (!model.params.has(n)) throw new LoraError(`lora.projector_lr: the model has no parameter "${n}"`);
    for (const [name, t] of model.params) this.set.add(name, t);
    this.adapters = applyLora(this.set, {
      targets: this.weights,
      rank: settings.rank,
      alpha: settings.alpha,
      rng: new Rng(seed).fork("lora"),
      keepTrainable: this.fullyTrained.length ? this.fullyTrained : undefined,
    });
  }

  /** The program's trainable parameters: A and B of each adapted weight, then the projector with lrScale = projector_lr / lr. */
  trainable(optimizer: OptimizerConfig): ParamSpec[] {
    const fully = new Set(this.fullyTrained);
    let scale: number | undefined;
    if (this.settings.projectorLr !== undefined) {
      if (!(optimizer.lr > 0)) throw new LoraError(`lora.projector_lr needs the optimizer's lr to be > 0 (it is ${optimizer.lr})`);
      scale = this.settings.projectorLr / optimizer.lr;
    }
    return this.set.trainable().map((p) => {
      const spec: ParamSpec = { name: p.name, dtype: p.dtype, shape: [...p.shape] };
      if (fully.has(p.name) && scale !== undefined) spec.lrScale = scale;
      return spec;
    });
  }

  /** Every other weight, as initializers of the program (sharing the model's arrays). */
  frozen(): FrozenParam[] {
    this.frozenCache ??= this.set.frozen().map((p) => ({ name: p.name, dtype: p.dtype, shape: [...p.shape], data: p.data }));
    return this.frozenCache;
  }

  /** Initial values of the trainable parameters (B = 0: the adapted model equals the base). */
  initial(): Map<string, TensorData> {
    return new Map(this.set.trainable().map((p) => [p.name, { dtype: p.dtype, shape: [...p.shape], data: p.data }]));
  }

  /** The weights the forward reads: `params` with each adapted W replaced by W + (α/r)·A·B. */
  adapt(params: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    const out: Record<string, Tensor> = { ...params };
    const need = (n: string) => {
      const t = params[n];
      if (!t) throw new LoraError(`lora: the program has no parameter "${n}"`);
      return t;
    };
    for (const a of this.adapters) {
      const A = need(a.a);
      out[a.weight] = loraWeight(op.builderOf(A), need(a.weight), A, need(a.b), a.alpha, a.rank);
    }
    return out;
  }

  /** A loss over the adapted weights (what sftLoss/dpoLoss read as `w[name]`). */
  loss(base: LossFn): LossFn {
    return (params, batch) => base(this.adapt(params), batch);
  }

  /** Plain TinyVLM weights from trained values (by parameter name): W ← W + (α/r)·A·B (in float64, stored in W's dtype); everything else as it is. */
  merge(trained: ReadonlyMap<string, TensorData>): Map<string, TensorData> {
    const merged = mergeLora(this.withValues(trained));
    return new Map([...merged].map((p) => [p.name, { dtype: p.dtype, shape: [...p.shape], data: p.data }]));
  }

  /** The trained parameters' current values (the initial ones where `trained` has none). */
  values(trained: ReadonlyMap<string, TensorData>): Map<string, TensorData> {
    return new Map(this.set.trainable().map((p) => [p.name, trained.get(p.name) ?? { dtype: p.dtype, shape: [...p.shape], data: p.data }]));
  }

  /** What a phase reports and stores about its adapters, for trained values. */
  trained(trained: ReadonlyMap<string, TensorData>): TrainedAdapters {
    const values = this.values(trained);
    return {
      settings: this.settings,
      weights: [...this.weights],
      values,
      trainableParameters: [...values.values()].reduce((n, t) => n + numel(t.shape), 0),
      files: () => this.files(values),
    };
  }

  private withValues(trained: ReadonlyMap<string, TensorData>): ParamSet {
    const ps = new ParamSet();
    for (const p of this.set) ps.add(p.name, trained.get(p.name) ?? p, { trainable: p.trainable });
    for (const [k, v] of this.set.metadata) ps.metadata.set(k, v);
    return ps;
  }

  private files(values: ReadonlyMap<string, TensorData>): Record<string, Uint8Array> {
    const ps = new ParamSet();
    for (const [name, t] of values) ps.add(name, t);
    const lora = this.set.metadata.get(LORA_META);
    if (lora !== undefined) ps.metadata.set(LORA_META, lora);
    ps.metadata.set(LORA_SETTINGS_META, JSON.stringify(settingsJson(this.settings)));
    const config = {
      format: "alignc-lora",
      version: 1,
      alignc: ALIGNC_VERSION,
      peft_type: "LORA",
      r: this.settings.rank,
      lora_alpha: this.settings.alpha,
      lora_dropout: this.settings.dropout,
      targets: this.settings.targets,
      target_modules: this.weights,
      modules_to_save: this.fullyTrained,
      projector_lr: this.settings.projectorLr ?? null,
      init_seed: this.seed,
      // model.safetensors already holds W + (α/r)·A·B; A and B are relative to the phase's input model.
      merged_into: "model.safetensors",
      weights_file: ADAPTER_WEIGHTS_FILE,
    };
    return {
      [ADAPTER_WEIGHTS_FILE]: ps.toSafetensors(),
      [ADAPTER_CONFIG_FILE]: new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
    };
  }
}

function settingsJson(s: LoraSettings): Record<string, unknown> {
  return { rank: s.rank, alpha: s.alpha, targets: s.targets, dropout: s.dropout, projector_lr: s.projectorLr ?? null };
}

/** LoRA over `model` with `settings`; `seed` seeds A (each from its own stream, `lora` → `<weight>.lora_a`). */
export function buildAdapters(model: VlmModel, settings: LoraSettings, seed: number): VlmAdapters {
  return new VlmAdapters(model, settings, seed);
}
