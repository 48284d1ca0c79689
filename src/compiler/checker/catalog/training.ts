// Constructors for training phases, optimizers, schedules, evaluation and sweeps.
import { diagnostic } from "../../../diagnostics/diagnostic.ts";
import { HF_LORA_TARGETS, LORA_TARGETS } from "../../../graph/vocabulary.ts";
import { bool, type Fields, float, frac, int, list, record, sym, type Type } from "../../values/types.ts";
import { checkScoreOnRater, checkWeights } from "./checks.ts";
import type { CheckedCall, Ctor, ValidateContext } from "./ctor.ts";
import { bdhsFields, samplingFields } from "./data.ts";
import { checkLoraTargets, checkMaxTokens, checkRecompute, phaseResult } from "./hf.ts";

const modelRef: Type = { t: "ref", category: "model" };
const pairsRef: Type = { t: "ref", category: "dataset", datasetKinds: ["pairs"] };
const promptsRef: Type = { t: "ref", category: "dataset", datasetKinds: ["prompts"] };

const loraFields: Fields = {
  rank: { type: { t: "int", min: 1, max: 4096 }, default: int(8), doc: "r: rank of the low-rank update." },
  alpha: { type: { t: "float", min: 0, minOpen: true }, doc: "α: the update is scaled by α / r; default 2·r." },
  targets: {
    type: { t: "list", of: { t: "enum", values: [...LORA_TARGETS, ...HF_LORA_TARGETS] }, min: 1, unique: true },
    default: list(sym("q"), sym("v")),
    doc: "Weights that get a LoRA update: on TinyVLM q, k, v, o, mlp_in, mlp_out, projector, vision; on a Hugging Face model (hf) its modules q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (left out: q_proj, v_proj).",
  },
  dropout: { type: { t: "fraction", maxOpen: true }, default: frac(0), doc: "Dropout on the LoRA input." },
  projector_lr: { type: { t: "float", min: 0, minOpen: true }, doc: "Separate learning rate for the projector (trained fully when set)." },
};

/** Settings every training phase has. */
const trainingFields: Fields = {
  optimizer: {
    type: { t: "ctor", family: "optimizer" },
    default: record({ lr: float(1e-4), beta1: float(0.9), beta2: float(0.999), eps: float(1e-8), weight_decay: float(0) }, "adamw"),
    doc: "adamw { … } or sgd { … }.",
  },
  schedule: { type: { t: "ctor", family: "schedule" }, default: record({ warmup: int(0) }, "constant"), doc: "constant, linear or cosine { warmup: 3% }." },
  lora: { type: { t: "record", name: "lora", fields: loraFields }, doc: "Train low-rank adapters instead of all weights." },
  epochs: { type: { t: "int", min: 1, max: 100000 }, doc: "Passes over the data (default 1 when steps is not set)." },
  steps: { type: { t: "int", min: 1 }, doc: "Optimizer steps, instead of epochs." },
  batch: { type: { t: "int", min: 1, max: 65536 }, default: int(16), doc: "Examples per optimizer step (before accumulation)." },
  accumulation: { type: { t: "int", min: 1, max: 1024 }, default: int(1), doc: "Micro-batches accumulated per optimizer step." },
  grad_clip: { type: { t: "float", min: 0, minOpen: true }, default: float(1), doc: "Global gradient-norm clipping threshold." },
  steps_per_run: { type: { t: "int", min: 1, max: 100000 }, doc: "Optimizer steps inside one ONNX Runtime run (Loop); default chosen by the runtime." },
  precision: { type: { t: "enum", values: ["fp32", "fp16", "bf16"] }, default: sym("fp32"), doc: "Compute precision; fp16/bf16 keep fp32 master weights." },
  device: {
    type: {
      t: "union",
      of: [
        { t: "enum", values: ["cpu", "cuda", "auto"] },
        { t: "string", pattern: /^(cpu|cuda(:\d+)?|auto)$/, patternHelp: '"cpu", "cuda", "cuda:N" or "auto"' },
      ],
    },
    doc: 'cpu, cuda, auto or "cuda:N"; default: alignc run --device (cpu unless given). auto is CUDA when its provider loads.',
  },
  checkpoint_every: { type: { t: "int", min: 1 }, doc: "Write a checkpoint every N optimizer steps." },
  // No default value: a phase that does not write it keeps the params (and store key) it had before the setting existed.
  recompute: {
    type: { t: "union", of: [{ t: "bool" }, { t: "enum", values: ["attention"] }] },
    doc: "true: recompute each decoder layer's activations in the backward instead of keeping them (gradient checkpointing): less GPU memory for about one more forward per step. attention: recompute only each layer's attention scores and probabilities (the [batch, heads, tokens, tokens] tensors), for one more q·kᵀ and softmax per layer. Hugging Face models only; off unless written.",
  },
  seed: { type: { t: "int", min: 0 }, default: int(0), doc: "Seed of data order, dropout and sampling." },
};

/** Settings of supervised fine-tuning only. */
const sftFields: Fields = {
  length_buckets: {
    type: { t: "int", min: 1, max: 16 },
    default: int(1),
    doc: "Group examples into at most N padded lengths, so short answers are not padded to the longest; each run of steps_per_run steps comes from one group.",
  },
  loss_average: {
    type: { t: "enum", values: ["token", "example"] },
    default: sym("token"),
    doc: "token: mean over every answer token of a batch; example: mean of each example's own mean, so a one-word answer weighs as much as a caption.",
  },
};

const objectiveFields: Fields = {
  loss: { type: { t: "enum", values: ["sigmoid", "ipo", "hinge"] }, default: sym("sigmoid"), doc: "sigmoid (DPO), ipo, or hinge (SLiC)." },
  beta: { type: { t: "float", min: 0, minOpen: true }, default: float(0.1), doc: "β: strength of the KL regularisation." },
  label_smoothing: {
    type: { t: "float", min: 0, max: 0.5, maxOpen: true },
    default: float(0),
    doc: "Conservative DPO: assumed share of flipped labels (sigmoid loss only).",
  },
  logps: { type: { t: "enum", values: ["sum", "mean"] }, default: sym("sum"), doc: "Sequence log-probability: sum or mean of token log-probs." },
  sft_weight: { type: { t: "float", min: 0 }, default: float(0), doc: "Weight of an added SFT loss on chosen answers." },
};

const preferenceFields: Fields = {
  objective: { type: { t: "record", name: "objective", fields: objectiveFields }, default: record({}), doc: "The preference loss." },
  reference: {
    type: { t: "union", of: [{ t: "enum", values: ["precomputed", "none"] }, modelRef] },
    default: sym("precomputed"),
    doc: "precomputed: log-probs of the initial policy, computed once and cached; none: reference-free; or another model.",
  },
};

const onlineFields: Fields = {
  annotator: { type: { t: "ref", category: "rater" }, doc: "Rater that judges the policy's samples." },
  score: { type: { t: "score" }, doc: "Score expression over the annotator's aspects; default their sum." },
  margin: { type: { t: "float", min: 0 }, default: float(0), doc: "Least score difference for a pair." },
  samples: { type: { t: "int", min: 2, max: 64 }, default: int(2), doc: "Policy samples per prompt each round." },
  rounds: { type: { t: "int", min: 1, max: 100000 }, default: int(1), doc: "Sample → annotate → train rounds." },
  prompts_per_round: { type: { t: "int", min: 1 }, default: int(64), doc: "Prompts sampled per round." },
  refresh: { type: { t: "int", min: 1 }, default: int(1), doc: "Rounds between refreshes of the sampling policy." },
  bdhs: { type: { t: "record", name: "bdhs", fields: bdhsFields }, doc: "Online BDHS: rejected answers regenerated by the current policy (no annotator)." },
  ...samplingFields,
};

function checkSteps(call: CheckedCall, ctx: ValidateContext): void {
  checkLoraTargets(call, ctx);
  checkRecompute(call, ctx);
  if (call.settings.epochs && call.settings.steps) {
    ctx.report(diagnostic("conflictingKeys", { a: "epochs", b: "steps" }, call.settingSpans.steps));
  }
  const obj = call.settings.objective;
  if (obj?.k === "record") {
    const loss = obj.fields.loss;
    const ls = obj.fields.label_smoothing;
    if (loss?.k === "symbol" && loss.name !== "sigmoid" && ls && (ls.k === "float" || ls.k === "int") && ls.v > 0) {
      ctx.report(
        diagnostic(
          "invalidValue",
          { what: "label_smoothing", reason: `it applies to the sigmoid loss, not ${loss.name}` },
          call.valueSpans["objective.label_smoothing"] ?? call.settingSpans.objective ?? call.calleeSpan,
        ),
      );
    }
  }
}

function checkOnline(call: CheckedCall, ctx: ValidateContext): void {
  checkSteps(call, ctx);
  checkMaxTokens(call, ctx);
  const annotator = call.settings.annotator;
  const bdhs = call.settings.bdhs;
  if (annotator && bdhs) ctx.report(diagnostic("conflictingKeys", { a: "annotator", b: "bdhs" }, call.settingSpans.bdhs));
  if (!annotator && !bdhs) ctx.report(diagnostic("needsOneOf", { keys: "'annotator' (online DPO) or 'bdhs' (online BDHS)" }, call.calleeSpan));
  if (annotator?.k !== "ref") return;
  const info = ctx.infoOf(annotator.target);
  if (info?.category === "rater") checkScoreOnRater(call, ctx, { ...info, rater: annotator.target }, call.settings.score, call.settings.margin);
}

const phases: Ctor[] = [
  {
    name: "sft",
    category: "phase",
    doc: "Supervised fine-tuning on prompts with answers (loss on answer tokens only). The phase's name then denotes the trained model.",
    args: [
      { name: "model", type: modelRef, doc: "Initial weights." },
      { name: "data", type: promptsRef, doc: "Prompts with reference answers." },
    ],
    fields: { ...trainingFields, ...sftFields },
    validate: checkSteps,
    result: phaseResult,
    node: "train.sft",
    example: "phase vit = sft(base, train) { epochs: 3, batch: 32, optimizer: adamw { lr: 1e-3 } }",
  },
  {
    name: "dpo",
    category: "phase",
    doc: "Offline preference training on pairs with a DPO-family objective. With two pair datasets, L = γ·L(first) + (1 − γ)·L(second) (several rejected answers per chosen one).",
    args: [
      { name: "model", type: modelRef, doc: "Initial policy." },
      { name: "pairs", type: pairsRef, doc: "Preference pairs; several datasets combine per prompt.", variadic: true },
    ],
    fields: {
      ...preferenceFields,
      gamma: { type: { t: "fraction" }, doc: "γ: weight of the first pair dataset when there are exactly two." },
      weights: { type: { t: "list", of: { t: "float", min: 0 }, min: 1 }, doc: "Weights of the pair datasets when there are more than two; add up to 1." },
      ...trainingFields,
    },
    validate(call, ctx) {
      checkSteps(call, ctx);
      const n = call.args.length - 1;
      if (call.settings.gamma && n !== 2)
        ctx.report(diagnostic("invalidValue", { what: "gamma", reason: `it weighs exactly two pair datasets, this phase has ${n}` }, call.settingSpans.gamma));
      checkWeights(call, ctx, n, "pair datasets");
      if (call.settings.gamma && call.settings.weights) ctx.report(diagnostic("conflictingKeys", { a: "gamma", b: "weights" }, call.settingSpans.weights));
    },
    result: phaseResult,
    node: "train.dpo",
    example: "phase aligned = dpo(sft, pairs) { objective: { beta: 0.1 }, lora: { rank: 128, alpha: 256 }, epochs: 3 }",
  },
  {
    name: "online",
    category: "phase",
    doc: "Online DPO: each round the current policy samples responses, an annotator (or online BDHS) makes pairs, then DPO steps on them.",
    args: [
      { name: "model", type: modelRef, doc: "Initial policy." },
      { name: "prompts", type: promptsRef, doc: "Prompts to sample on." },
    ],
    fields: { ...preferenceFields, ...onlineFields, ...trainingFields },
    validate: checkOnline,
    result: phaseResult,
    node: "train.online",
    example: "phase on = online(sft, train) { annotator: judge, samples: 2, rounds: 10 }",
  },
  {
    name: "mixed",
    category: "phase",
    doc: "Mixed DPO: per example, with probability p the offline pair, otherwise an online pair from the current policy.",
    args: [
      { name: "model", type: modelRef, doc: "Initial policy." },
      { name: "pairs", type: pairsRef, doc: "Offline pairs." },
      { name: "prompts", type: promptsRef, doc: "Prompts for online pairs." },
    ],
    fields: {
      p: { type: { t: "fraction" }, default: frac(0.5), doc: "Probability of using the offline pair." },
      ...preferenceFields,
      ...onlineFields,
      ...trainingFields,
    },
    validate: checkOnline,
    result: phaseResult,
    node: "train.mixed",
    example: "phase mx = mixed(sft, pairs, train) { p: 0.5, annotator: judge }",
  },
];

const warmup: Fields = {
  warmup: {
    type: { t: "union", of: [{ t: "fraction" }, { t: "int", min: 0 }] },
    default: int(0),
    doc: "Warmup: a share of all steps (3%) or a number of steps.",
  },
};

const optimizers: Ctor[] = [
  {
    name: "adamw",
    category: "optimizer",
    doc: "AdamW with decoupled weight decay and bias correction.",
    args: [],
    fields: {
      lr: { type: { t: "float", min: 0, minOpen: true }, default: float(1e-4), doc: "Learning rate." },
      beta1: { type: { t: "float", min: 0, max: 1, maxOpen: true }, default: float(0.9), doc: "First-moment decay." },
      beta2: { type: { t: "float", min: 0, max: 1, maxOpen: true }, default: float(0.999), doc: "Second-moment decay." },
      eps: { type: { t: "float", min: 0, minOpen: true }, default: float(1e-8), doc: "Denominator epsilon." },
      weight_decay: { type: { t: "float", min: 0 }, default: float(0), doc: "Decoupled weight decay." },
    },
    example: "optimizer: adamw { lr: 5e-5, weight_decay: 0.01 }",
  },
  {
    name: "sgd",
    category: "optimizer",
    doc: "Stochastic gradient descent with momentum.",
    args: [],
    fields: {
      lr: { type: { t: "float", min: 0, minOpen: true }, default: float(1e-2), doc: "Learning rate." },
      momentum: { type: { t: "float", min: 0, max: 1, maxOpen: true }, default: float(0.9), doc: "Momentum." },
      nesterov: { type: { t: "bool" }, default: bool(false), doc: "Nesterov momentum." },
      weight_decay: { type: { t: "float", min: 0 }, default: float(0), doc: "L2 weight decay." },
    },
    example: "optimizer: sgd { lr: 0.01, momentum: 0.9 }",
  },
];

const schedules: Ctor[] = [
  { name: "constant", category: "schedule", doc: "Constant learning rate after warmup.", args: [], fields: warmup, example: "schedule: constant" },
  { name: "linear", category: "schedule", doc: "Linear decay to zero after warmup.", args: [], fields: warmup, example: "schedule: linear { warmup: 100 }" },
  {
    name: "cosine",
    category: "schedule",
    doc: "Cosine decay after warmup.",
    args: [],
    fields: { ...warmup, min_ratio: { type: { t: "fraction" }, default: frac(0), doc: "Final learning rate as a share of the peak." } },
    example: "schedule: cosine { warmup: 3% }",
  },
];

/** A sweep's Slurm settings (alignc sweep --executor slurm; the command line's options override them). */
const slurmFields: Fields = {
  partition: { type: { t: "string", pattern: /^[\w.,-]+$/, patternHelp: "a partition name such as gpu" }, doc: "sbatch --partition." },
  time: {
    type: { t: "string", pattern: /^(\d+-)?\d+(:\d{2}){0,2}$/, patternHelp: 'a Slurm time limit such as "30", "02:00:00" or "1-12:00:00"' },
    doc: "sbatch --time, per task.",
  },
  gpus_per_task: { type: { t: "int", min: 1, max: 64 }, doc: "sbatch --gpus-per-task; the trial then runs on CUDA." },
  cpus_per_task: { type: { t: "int", min: 1, max: 1024 }, doc: "sbatch --cpus-per-task." },
  sbatch: {
    type: { t: "list", of: { t: "string", pattern: /^--[\w-]+(=.*)?$/, patternHelp: 'an sbatch option written as on the command line, such as "--mem=32G"' } },
    doc: "More sbatch options.",
  },
};

/** What every sweep has: its axes and exclusions (checked against their targets by checker/sweeps.ts), and Slurm settings. */
const axisFields: Fields = {
  over: {
    type: { t: "map", of: { t: "list", of: { t: "name" } }, keyKind: "target" },
    required: true,
    doc: "Axis → values: a param (`beta`) or a nested setting (`dpo.objective.beta`).",
  },
  exclude: {
    type: { t: "list", of: { t: "map", of: { t: "name" }, keyKind: "target" } },
    default: list(),
    doc: "Combinations to leave out: [{ beta: 0.2, margin: 3 }].",
  },
};
const slurmField: Fields = {
  slurm: { type: { t: "record", name: "slurm", fields: slurmFields }, doc: "Settings of the job array when the sweep runs on Slurm." },
};

const sweeps: Ctor[] = [
  {
    name: "grid",
    category: "sweep",
    doc: "Every combination of the axes' values.",
    args: [],
    fields: { ...axisFields, ...slurmField },
    result: () => ({ category: "sweep" }),
    example: "sweep betas = grid { over: { beta: [0.05, 0.1, 0.2], margin: 1..3 } }",
  },
  {
    name: "zip",
    category: "sweep",
    doc: "The i-th value of every axis together; all axes have the same length.",
    args: [],
    fields: { ...axisFields, ...slurmField },
    result: () => ({ category: "sweep" }),
    example: "sweep paired = zip { over: { beta: [0.1, 0.2], lr: [1e-5, 5e-6] } }",
  },
  {
    name: "random",
    category: "sweep",
    doc: "`count` trials drawn with a seed; axes are lists (uniform choice) or distributions uniform(a, b), log_uniform(a, b), int_uniform(a, b).",
    args: [],
    fields: {
      ...axisFields,
      count: { type: { t: "int", min: 1, max: 1_000_000 }, required: true, doc: "Number of trials." },
      seed: { type: { t: "int", min: 0 }, default: int(0), doc: "Seed of the draws." },
      ...slurmField,
    },
    result: () => ({ category: "sweep" }),
    example: "sweep search = random { count: 20, seed: 1, over: { beta: log_uniform(0.01, 0.5) } }",
  },
];

export const evaluateFields: Fields = {
  models: { type: { t: "list", of: modelRef, min: 1, unique: true }, required: true, doc: "Models and phases to evaluate." },
  on: { type: promptsRef, required: true, doc: "Evaluation prompts." },
  metrics: {
    type: {
      t: "list",
      of: { t: "enum", values: ["pope", "chair", "recall", "text_accuracy", "attribute_accuracy", "count_accuracy", "quality"] },
      min: 1,
      unique: true,
    },
    default: list(sym("pope"), sym("chair"), sym("recall"), sym("text_accuracy")),
    doc: "Metrics to compute. pope, chair, recall and the accuracies are checked against the world's ground truth; quality is the mean score per aspect the rater gives the answers (overall and on describe items).",
  },
  rater: { type: { t: "ref", category: "rater" }, doc: "Rater for the `quality` metric (default: the built-in grounded rater, all five aspects on 0..4)." },
  max_tokens: { type: { t: "int", min: 1, max: 4096 }, default: int(64), doc: "Generation length." },
  temperature: { type: { t: "float", min: 0 }, default: float(0), doc: "Decoding temperature; 0 is greedy." },
  device: trainingFields.device as Fields[string],
  seed: { type: { t: "int", min: 0 }, default: int(0), doc: "Seed of sampling." },
  caption: {
    type: { t: "string" },
    doc: "A note printed with the evaluation's table (and written into its files): how to read it, or what earlier runs measured.",
  },
};

export const trainingCtors: Ctor[] = [...phases, ...optimizers, ...schedules, ...sweeps];
