// Constructors for models, datasets and data stages, raters and similarity functions.
import { diagnostic } from "../../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../../diagnostics/messages.ts";
import {
  CHECKPOINT_FILES,
  CORRUPTIONS,
  FILE_FORMATS,
  GROUNDED_ASPECTS,
  HF_DTYPES,
  POPE_NEGATIVES,
  RECORD_FIELDS,
  SHAPES_TASKS,
  TINYVLM_SIZES,
} from "../../../graph/vocabulary.ts";
import { spanOfName } from "../../values/expressions.ts";
import { suggest } from "../../values/suggest.ts";
import {
  bool,
  type DatasetKind,
  datasetKindText,
  type Fields,
  float,
  frac,
  int,
  list,
  type PathSpec,
  record,
  str,
  sym,
  type Type,
  type Value,
} from "../../values/types.ts";
import { checkScoreOnRater, checkWeights, exportPathProblem } from "./checks.ts";
import type { CheckedCall, Ctor, ResultInfo, ValidateContext } from "./ctor.ts";
import { checkMaxTokens, inspectHf } from "./hf.ts";

const prob: Type = { t: "fraction" };
const seed: Fields = { seed: { type: { t: "int", min: 0 }, default: int(0), doc: "Random seed of this stage." } };
const datasetOf = (...kinds: DatasetKind[]): Type => ({ t: "ref", category: "dataset", datasetKinds: kinds });
const anyDataset: Type = { t: "ref", category: "dataset" };
const modelRef: Type = { t: "ref", category: "model" };

/** A dataset result with the same kind (and rating) as the first argument. */
function sameKind(call: CheckedCall): ResultInfo {
  const info = call.args[0]?.info;
  return info?.category === "dataset" ? { ...info, ports: undefined } : { category: "dataset", kind: "prompts" };
}

function dataset(kind: DatasetKind): () => ResultInfo {
  return () => ({ category: "dataset", kind });
}

function sameKindsAcrossArgs(call: CheckedCall, ctx: ValidateContext): void {
  const first = call.args[0]?.info;
  if (first?.category !== "dataset") return;
  type Rating = { rater: string; aspects: string[]; scale: { lo: number; hi: number } };
  const ratingText = (r: Rating) => `${r.rater} [${r.aspects.join(", ")}] ${r.scale.lo}..${r.scale.hi}`;
  // Names the rater, and the aspects or the scale when those differ too.
  const describe = (r: Rating, other: Rating) =>
    `${r.rater}${r.aspects.join() !== other.aspects.join() ? ` on [${r.aspects.join(", ")}]` : ""}${r.scale.lo !== other.scale.lo || r.scale.hi !== other.scale.hi ? ` on ${r.scale.lo}..${r.scale.hi}` : ""}`;
  for (const arg of call.args.slice(1)) {
    if (arg.info?.category !== "dataset" || arg.value.k !== "ref") continue;
    if (arg.info.kind !== first.kind) {
      ctx.report(
        diagnostic("wrongDatasetKind", { name: arg.value.target, expected: datasetKindText(first.kind), found: datasetKindText(arg.info.kind) }, arg.span),
      );
    } else if (first.rating && arg.info.rating && ratingText(first.rating) !== ratingText(arg.info.rating)) {
      // One rated dataset has one rater: its scores on one scale are what pair and best compare.
      ctx.report(
        diagnostic(
          "invalidValue",
          {
            what: arg.value.target,
            reason: `it is rated by ${describe(arg.info.rating, first.rating)}, the first dataset by ${describe(first.rating, arg.info.rating)}`,
          },
          arg.span,
          { help: helpTexts.sameRater() },
        ),
      );
    }
  }
}

// ── models ──────────────────────────────────────────────────────────────────
const CHECKPOINT_DIR: PathSpec = { what: "checkpoint directory", is: "directory", holds: CHECKPOINT_FILES, mustExist: true };

const models: Ctor[] = [
  {
    name: "tinyvlm",
    category: "model",
    doc: "alignc's built-in vision-language model family, freshly initialised: a patch-embedding vision encoder, a projector and a decoder-only language model. Pick a named size and optionally override parts of its configuration.",
    args: [],
    fields: {
      size: {
        type: { t: "enum", values: TINYVLM_SIZES },
        default: sym("nano"),
        doc: "Named size: nano (<1M parameters, CPU tests), small (~10–30M), base (~100M+, GPU).",
      },
      layers: { type: { t: "int", min: 1, max: 64 }, doc: "Decoder layers (overrides the size's default)." },
      width: { type: { t: "int", min: 8, max: 8192 }, doc: "Hidden width of the decoder." },
      heads: { type: { t: "int", min: 1, max: 128 }, doc: "Attention heads; must divide width." },
      vision_layers: { type: { t: "int", min: 0, max: 32 }, doc: "Transformer layers of the vision encoder." },
      patch: { type: { t: "int", min: 2, max: 64 }, doc: "Patch size in pixels; must divide image_size." },
      image_size: { type: { t: "int", min: 8, max: 1024 }, doc: "Input image side in pixels." },
      context: { type: { t: "int", min: 16, max: 65536 }, doc: "Maximum sequence length in tokens." },
      seed: { type: { t: "int", min: 0 }, default: int(0), doc: "Seed of the random initialisation." },
    },
    validate(call, ctx) {
      const w = call.settings.width;
      const h = call.settings.heads;
      if (w?.k === "int" && h?.k === "int" && w.v % h.v !== 0) {
        ctx.report(diagnostic("invalidValue", { what: "heads", reason: `width ${w.v} is not divisible by ${h.v} heads` }, call.settingSpans.heads));
      }
      const p = call.settings.patch;
      const s = call.settings.image_size;
      if (p?.k === "int" && s?.k === "int" && s.v % p.v !== 0) {
        ctx.report(diagnostic("invalidValue", { what: "patch", reason: `image_size ${s.v} is not divisible by patch ${p.v}` }, call.settingSpans.patch));
      }
    },
    result: () => ({ category: "model" }),
    node: "model.init",
    example: "model base = tinyvlm { size: nano, seed: 1 }",
  },
  {
    name: "checkpoint",
    category: "model",
    doc: "A TinyVLM checkpoint directory (config.json, tokenizer.json, model.safetensors), e.g. one written by a phase of another experiment. The path is relative to the .align file.",
    args: [{ name: "path", type: { t: "string", path: CHECKPOINT_DIR }, doc: "Checkpoint directory." }],
    fields: {},
    result: () => ({ category: "model" }),
    node: "model.checkpoint",
    example: 'model sft = checkpoint("runs/vit/checkpoints/vit")',
  },
  {
    name: "hf",
    category: "model",
    doc: "A Hugging Face checkpoint directory (config.json, tokenizer.json, model.safetensors or the shards model.safetensors.index.json lists), as `huggingface-cli download` or `save_pretrained` leaves it; the path is relative to the .align file. Decoder-only LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM, and the vision-language LlavaForConditionalGeneration and LlavaNextForConditionalGeneration (a CLIP or SigLIP tower before one of them), in the hub's (transformers 4) or transformers 5's config layout. `check` reads config.json and a vision model's processor settings (never the weights) and reports an unsupported architecture, RoPE scaling or activation, processor settings that do not fit, and missing files; LoRA phases on it target its language model's modules (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj). The weights are read in place, never copied or converted; sample, rate, pair, sft, dpo, online and mixed phases, export, evaluate and judge raters run on it, and bdhs (offline and online) on a vision-language model. A sentence encoder (BertModel, MPNetModel, as transformers or sentence-transformers saves it) is read too, only as a cosine similarity's model (docs/hf-models.md).",
    args: [{ name: "path", type: { t: "string" }, doc: "Checkpoint directory." }],
    fields: {
      dtype: {
        type: { t: "enum", values: HF_DTYPES },
        doc: "The weights' dtype, checked against config.json's torch_dtype (or dtype) and at run time against the weights themselves: alignc computes in the dtype the weights are stored in (read in place, never converted). Default: whatever they are.",
      },
    },
    inspect: inspectHf,
    node: "model.hf",
    example: 'model base = hf("models/SmolLM2-135M-Instruct") { dtype: bfloat16 }',
  },
  {
    name: "onnx",
    category: "model",
    doc: "A model exported to ONNX, with its tokenizer. Usable for sampling and as a judge; not trainable.",
    args: [{ name: "path", type: { t: "string", path: { what: "ONNX model", is: "file", mustExist: false } }, doc: "The .onnx file." }],
    fields: {
      tokenizer: {
        type: { t: "string", path: { what: "tokenizer", is: "file", mustExist: false } },
        required: true,
        doc: "Path of the Hugging Face tokenizer.json.",
      },
    },
    result: () => ({ category: "model" }),
    node: "model.onnx",
    example: 'model judge_model = onnx("models/judge.onnx") { tokenizer: "models/tokenizer.json" }',
  },
];

// ── datasets and stages ─────────────────────────────────────────────────────

export const bdhsFields: Fields = {
  rho: { type: { t: "fraction" }, default: frac(0.99), doc: "ρ: each image token stays visible only if u ≥ ρ for u ~ U(0,1); 0.99 keeps about 1%." },
  similarity: { type: { t: "ref", category: "similarity" }, required: true, doc: "Similarity function used to reject answers too close to the ground truth." },
  epsilon: { type: prob, default: frac(0.97), doc: "ε: an answer is accepted when its similarity to the ground truth is below ε." },
  tries: { type: { t: "int", min: 1, max: 20 }, default: int(5), doc: "N: attempts per item; with N > 1 the last attempt is unguided." },
  yes_no_flip: { type: prob, default: frac(0.5), doc: "Probability of swapping a leading yes/no in a sentence." },
  cut: { type: { t: "enum", values: ["tokens", "words", "characters"] }, default: sym("words"), doc: "Unit in which sentences are cut at a random position." },
  noise: {
    type: { t: "enum", values: ["latent", "pixels"] },
    default: sym("latent"),
    doc: "Mask image tokens in attention (latent, as in the paper) or add diffusion noise to pixels.",
  },
  temperature: { type: { t: "float", min: 0 }, default: float(1), doc: "Decoding temperature of completions." },
  max_tokens: { type: { t: "int", min: 1, max: 4096 }, default: int(64), doc: "Maximum new tokens per completion." },
};

export const samplingFields: Fields = {
  temperature: { type: { t: "float", min: 0 }, default: float(1), doc: "Sampling temperature; 0 is greedy." },
  top_p: { type: { t: "fraction", minOpen: true }, default: frac(1), doc: "Nucleus sampling threshold." },
  top_k: { type: { t: "int", min: 0 }, default: int(0), doc: "Keep only the k most likely tokens; 0 disables." },
  max_tokens: { type: { t: "int", min: 1, max: 4096 }, default: int(64), doc: "Maximum new tokens per response." },
};

const datasets: Ctor[] = [
  {
    name: "shapes",
    category: "dataset",
    doc: "The built-in synthetic multimodal world: rendered scenes of shapes with exact scene graphs, deterministic from the seed. Items are prompts with an image and a reference answer.",
    args: [],
    fields: {
      split: { type: { t: "enum", values: ["train", "val", "test"] }, required: true, doc: "Which split; splits never share scenes." },
      count: { type: { t: "int", min: 1, max: 10_000_000 }, required: true, doc: "Number of items." },
      seed: { type: { t: "int", min: 0 }, default: int(0), doc: "World seed." },
      bias: { type: prob, default: frac(0.5), doc: "Co-occurrence bias: how often an object appears with its usual companion." },
      image_size: {
        type: { t: "int", min: 16, max: 512 },
        default: int(48),
        doc: "Image side in pixels (48 matches the nano TinyVLM; small and base take 64).",
      },
      max_objects: { type: { t: "int", min: 1, max: 12 }, default: int(4), doc: "Objects per scene, at most." },
      tasks: { type: { t: "list", of: { t: "enum", values: SHAPES_TASKS }, min: 1, unique: true }, default: list(...SHAPES_TASKS.map(sym)), doc: "Task mix." },
      negatives: {
        type: { t: "list", of: { t: "enum", values: POPE_NEGATIVES }, min: 1, unique: true },
        default: list(...POPE_NEGATIVES.map(sym)),
        doc: "POPE negative sampling for yes/no questions.",
      },
    },
    result: dataset("prompts"),
    node: "data.shapes",
    example: "dataset train = shapes { split: train, count: 2000, seed: 1, bias: 80% }",
  },
  {
    name: "file",
    category: "dataset",
    doc: "Records from a JSONL or JSON file in alignc's own format or a common trainer format; image paths are relative to `images`.",
    args: [
      {
        name: "path",
        type: { t: "string", path: { what: "data file", is: "file", mustExist: true } },
        doc: "The .jsonl, .json or .parquet file, relative to the .align file.",
      },
    ],
    fields: {
      kind: { type: { t: "enum", values: ["prompts", "samples", "rated", "pairs"] }, required: true, doc: "What each record is." },
      format: {
        type: { t: "enum", values: FILE_FORMATS },
        default: sym("alignc"),
        doc: "Record layout: alignc, trl, sharegpt (LLaMA-Factory), ms_swift, llava (LLaVA's JSON), rlaif_v.",
      },
      fields: {
        type: { t: "map", of: { t: "string" }, keyKind: "field" },
        default: record({}),
        doc: 'Renames: alignc field → field name in the file, e.g. { prompt: "question" }.',
      },
      images: {
        // Not required to exist at check time: a file whose rows name no image never reads it.
        type: { t: "string", path: { what: "images directory", is: "directory", mustExist: false } },
        doc: "Directory that image paths are relative to; paths may not escape it.",
      },
      aspects: { type: { t: "list", of: { t: "name" }, min: 1, unique: true }, doc: "For rated records: the aspects scored." },
      scale: { type: { t: "range" }, doc: "For rated records: the score scale." },
    },
    result(call) {
      const kind = (call.settings.kind?.k === "symbol" ? call.settings.kind.name : "prompts") as DatasetKind;
      const aspects = call.settings.aspects;
      const scale = call.settings.scale;
      if (kind === "rated" && aspects?.k === "list" && scale?.k === "range") {
        const names = aspects.items.map((i) => (i.k === "symbol" ? i.name : ""));
        return { category: "dataset", kind, rating: { rater: "file", aspects: names, scale: { lo: scale.lo, hi: scale.hi } } };
      }
      return { category: "dataset", kind };
    },
    validate(call, ctx) {
      const kind = call.settings.kind;
      if (kind?.k === "symbol" && kind.name === "rated") {
        for (const key of ["aspects", "scale"]) {
          if (!call.settings[key]) ctx.report(diagnostic("missingKey", { key, construct: "a file of rated records" }, call.settingSpans.kind ?? call.span));
        }
      }
      const format = call.settings.format;
      if (format?.k === "symbol" && format.name !== "alignc" && kind?.k === "symbol" && (kind.name === "samples" || kind.name === "rated")) {
        ctx.report(
          diagnostic("invalidValue", { what: "format", reason: `${format.name} files hold prompts or pairs, not ${kind.name}` }, call.settingSpans.format),
        );
      }
    },
    node: "data.file",
    example: 'dataset prefs = file("data/prefs.jsonl") { kind: pairs, format: trl, images: "data/images" }',
  },
  {
    name: "sample",
    category: "dataset",
    doc: "Draws n responses per prompt from a model.",
    args: [
      { name: "model", type: modelRef, doc: "The policy that samples." },
      { name: "prompts", type: datasetOf("prompts"), doc: "Prompts to answer." },
    ],
    fields: { n: { type: { t: "int", min: 1, max: 64 }, default: int(4), doc: "Responses per prompt." }, ...samplingFields, ...seed },
    validate: checkMaxTokens,
    result: dataset("samples"),
    node: "stage.sample",
    example: "dataset samples = sample(sft, train) { n: 4, temperature: 1.2, max_tokens: 48, seed: 7 }",
  },
  {
    name: "rate",
    category: "dataset",
    doc: "Scores every response on every aspect of the rater, on the rater's scale.",
    args: [
      { name: "samples", type: datasetOf("samples"), doc: "Sampled responses." },
      { name: "rater", type: { t: "ref", category: "rater" }, doc: "Who scores them." },
    ],
    fields: {},
    result(call) {
      const rater = call.args[1];
      if (rater?.info?.category === "rater" && rater.value.k === "ref") {
        return { category: "dataset", kind: "rated", rating: { rater: rater.value.target, aspects: rater.info.aspects, scale: rater.info.scale } };
      }
      return { category: "dataset", kind: "rated" };
    },
    node: "stage.rate",
    example: "dataset rated = rate(samples, judge)",
  },
  {
    name: "pair",
    category: "dataset",
    doc: "Makes preference pairs from rated samples: a score expression over aspects, a margin, and rules for chosen and rejected answers.",
    args: [{ name: "rated", type: datasetOf("rated"), doc: "Rated samples." }],
    fields: {
      score: { type: { t: "score" }, required: true, doc: "Quality of a response, e.g. helpfulness + correctness + coherence." },
      margin: {
        type: { t: "float", min: 0 },
        default: float(0),
        doc: "Prompts whose best and worst scores differ by less are dropped; rejected answers score at most best − margin.",
      },
      chosen: { type: { t: "enum", values: ["best"] }, default: sym("best"), doc: "The chosen answer: the best-scoring response (ties: see `ties`)." },
      rejected: {
        type: { t: "enum", values: ["random_below_margin", "worst", "all_below_margin"] },
        default: sym("random_below_margin"),
        doc: "random_below_margin (Li et al.): uniform among those ≤ best − margin; worst; all_below_margin: one pair for each.",
      },
      ties: {
        type: { t: "enum", values: ["first", "random", "drop"] },
        default: sym("first"),
        doc: "Several best responses: take the first, a random one, or drop the prompt.",
      },
      per_prompt: {
        type: { t: "int", min: 1, max: 64 },
        doc: "Most pairs per prompt; default 1, and no limit for rejected: all_below_margin.",
      },
      balance_length: { type: { t: "bool" }, default: bool(false), doc: "Prefer rejected answers of similar length to the chosen one." },
      ...seed,
    },
    validate(call, ctx) {
      const rated = call.args[0]?.info;
      if (rated?.category === "dataset" && rated.rating) checkScoreOnRater(call, ctx, rated.rating, call.settings.score, call.settings.margin);
    },
    result: dataset("pairs"),
    node: "stage.pair",
    example: "dataset pairs = pair(rated) { score: helpfulness + correctness + coherence, margin: 2 }",
  },
  {
    name: "best",
    category: "dataset",
    doc: "Keeps the best-rated response per prompt as its answer (rejection sampling); the result is prompts with answers, ready for sft.",
    args: [{ name: "rated", type: datasetOf("rated"), doc: "Rated samples." }],
    fields: { score: { type: { t: "score" }, required: true, doc: "Quality of a response." } },
    validate(call, ctx) {
      const rated = call.args[0]?.info;
      if (rated?.category === "dataset" && rated.rating) checkScoreOnRater(call, ctx, rated.rating, call.settings.score, undefined);
    },
    result: dataset("prompts"),
    node: "stage.best",
    example: "dataset rs = best(rated) { score: helpfulness + correctness + coherence }",
  },
  {
    name: "bdhs",
    category: "dataset",
    doc: "Bias-Driven Hallucination Sampling (Amirloo et al., Algorithm 1): rejected answers from the model itself with most image tokens masked, guided by prefixes of the ground truth.",
    args: [
      { name: "model", type: modelRef, doc: "The model that completes (offline BDHS: the base model)." },
      { name: "prompts", type: datasetOf("prompts"), doc: "Prompts with ground-truth answers." },
    ],
    fields: { ...bdhsFields, ...seed },
    validate: checkMaxTokens,
    result: dataset("pairs"),
    node: "stage.bdhs",
    example: "dataset hallucinated = bdhs(sft, train) { rho: 0.99, similarity: sim, epsilon: 0.97, tries: 5 }",
  },
  {
    name: "corrupt",
    category: "dataset",
    doc: "Rule-based hallucination injection (POVID style): the rejected answer is the ground truth with objects, colours, counts or positions swapped using the world's vocabulary, or edited by an external command.",
    args: [{ name: "prompts", type: datasetOf("prompts"), doc: "Prompts with ground-truth answers." }],
    fields: {
      ops: { type: { t: "list", of: { t: "enum", values: CORRUPTIONS }, min: 1, unique: true }, default: list(...CORRUPTIONS.map(sym)), doc: "Kinds of edit." },
      edits: { type: { t: "int", min: 1, max: 16 }, default: int(1), doc: "Edits per answer." },
      command: {
        type: { t: "list", of: { t: "string" }, min: 1 },
        doc: "An external editor program (argv, JSONL protocol in docs/preference-data.md) instead of the built-in rules; ops and edits are then not used.",
      },
      files: {
        type: { t: "list", of: { t: "string" }, min: 1 },
        doc: "Other files the program reads (modules it imports, prompt templates, configuration), relative to the .align file: their bytes are part of the key, so editing one runs it again. Files named in the argv count already.",
      },
      ...seed,
    },
    result: dataset("pairs"),
    node: "stage.corrupt",
    example: "dataset corrupted = corrupt(train) { ops: [object, count], seed: 3 }",
  },
  {
    name: "flip",
    category: "dataset",
    doc: "Swaps chosen and rejected in a random share of pairs (the label-flip ablation of Li et al.).",
    args: [{ name: "pairs", type: datasetOf("pairs"), doc: "Pairs." }],
    fields: { fraction: { type: prob, required: true, doc: "Share of pairs to flip." }, ...seed },
    result: dataset("pairs"),
    node: "stage.flip",
    example: "dataset flipped = flip(pairs) { fraction: 25% }",
  },
  {
    name: "mix",
    category: "dataset",
    doc: "Draws from several datasets of the same kind with the given weights.",
    args: [{ name: "datasets", type: anyDataset, doc: "Datasets of one kind.", variadic: true }],
    fields: {
      weights: { type: { t: "list", of: { t: "float", min: 0 }, min: 1 }, doc: "One weight per dataset, adding up to 1; default equal." },
      count: { type: { t: "int", min: 1 }, doc: "Records in the result; default the total of the inputs." },
      ...seed,
    },
    validate(call, ctx) {
      sameKindsAcrossArgs(call, ctx);
      checkWeights(call, ctx, call.args.length, "datasets");
    },
    result: sameKind,
    node: "stage.mix",
    example: "dataset both = mix(bdhs_pairs, corrupted) { weights: [0.5, 0.5] }",
  },
  {
    name: "concat",
    category: "dataset",
    doc: "All records of several datasets of the same kind, in order.",
    args: [{ name: "datasets", type: anyDataset, doc: "Datasets of one kind.", variadic: true }],
    fields: {},
    validate: sameKindsAcrossArgs,
    result: sameKind,
    node: "stage.concat",
    example: "dataset all = concat(part1, part2)",
  },
  {
    name: "filter",
    category: "dataset",
    doc: "Keeps the records for which a condition holds.",
    args: [{ name: "data", type: anyDataset, doc: "Any dataset." }],
    fields: {
      where: {
        type: { t: "predicate" },
        required: true,
        doc: "Condition over the record's numeric fields. prompts: prompt_words, answer_words, has_image; samples: also responses, mean_words, min_words, max_words; rated: those and each aspect (mean over the responses); pairs: prompt_words, has_image, chosen_words, rejected_words, margin, chosen_score, rejected_score, similarity, tries, accepted, flipped. A field a record lacks (similarity of a rated pair) makes every comparison false.",
      },
    },
    validate(call, ctx) {
      const data = call.args[0]?.info;
      const where = call.settings.where;
      if (data?.category !== "dataset" || where?.k !== "expr") return;
      const allowed = [...RECORD_FIELDS[data.kind], ...(data.kind === "rated" ? (data.rating?.aspects ?? []) : [])];
      for (const name of where.names) {
        if (allowed.includes(name)) continue;
        const at = spanOfName(where, name);
        ctx.report(
          diagnostic("unknownField", { field: name, fields: allowed.join(", ") }, at ?? call.settingSpans.where ?? call.span, suggest(name, allowed, at)),
        );
      }
    },
    result: sameKind,
    node: "stage.filter",
    example: "dataset confident = filter(pairs) { where: margin >= 3 }",
  },
  {
    name: "take",
    category: "dataset",
    doc: "A subset: the first `count` records or a `fraction` of them, optionally shuffled first.",
    args: [{ name: "data", type: anyDataset, doc: "Any dataset." }],
    fields: {
      count: { type: { t: "int", min: 1 }, doc: "How many records." },
      fraction: { type: { t: "fraction", minOpen: true }, doc: "What share of the records." },
      shuffle: { type: { t: "bool" }, default: bool(true), doc: "Shuffle (seeded) before taking." },
      ...seed,
    },
    exclusive: [["count", "fraction"]],
    oneOf: [["count", "fraction"]],
    result: sameKind,
    node: "stage.take",
    example: "dataset quarter = take(pairs) { fraction: 25%, seed: 1 }",
  },
  {
    name: "shuffle",
    category: "dataset",
    doc: "The same records in a seeded random order.",
    args: [{ name: "data", type: anyDataset, doc: "Any dataset." }],
    fields: { ...seed },
    result: sameKind,
    node: "stage.shuffle",
    example: "dataset mixed_up = shuffle(pairs) { seed: 2 }",
  },
  {
    name: "split",
    category: "dataset",
    doc: "Splits a dataset into named parts by share; refer to a part as `name.part`.",
    args: [{ name: "data", type: anyDataset, doc: "Any dataset." }],
    fields: {
      parts: { type: { t: "map", of: { t: "fraction", minOpen: true }, keyKind: "part" }, required: true, doc: "Part name → share; shares add up to 1." },
      ...seed,
    },
    validate(call, ctx) {
      const parts = call.settings.parts;
      if (parts?.k !== "record") return;
      const sum = Object.values(parts.fields).reduce((s, v) => s + (v.k === "fraction" ? v.v : 0), 0);
      if (Object.keys(parts.fields).length === 0) ctx.report(diagnostic("emptyList", { what: "parts" }, call.settingSpans.parts));
      else if (Math.abs(sum - 1) > 1e-9) ctx.report(diagnostic("weightsDoNotSum", { sum: String(+sum.toPrecision(12)) }, call.settingSpans.parts));
    },
    result(call) {
      const parts = call.settings.parts;
      const base = sameKind(call);
      return base.category === "dataset" ? { ...base, ports: parts?.k === "record" ? Object.keys(parts.fields) : [] } : base;
    },
    node: "stage.split",
    example: "dataset parts = split(pairs) { parts: { train: 90%, val: 10% } }",
  },
  {
    name: "export",
    category: "dataset",
    doc: "Writes a dataset to a file in a trainer format (and passes it through unchanged).",
    args: [{ name: "data", type: anyDataset, doc: "Any dataset." }],
    fields: {
      path: {
        type: { t: "string" },
        required: true,
        doc: "Output file (.jsonl), relative to the run directory: a file inside it, not in a folder alignc keeps there (store, outputs, logs, …; ALN3019).",
      },
      format: { type: { t: "enum", values: FILE_FORMATS }, default: sym("trl"), doc: "Record layout." },
    },
    validate(call, ctx) {
      const target = call.settings.path;
      const problem = target?.k === "string" ? exportPathProblem(target.v) : undefined;
      if (target?.k === "string" && problem)
        ctx.report(diagnostic("badExportPath", { path: target.v, problem }, call.valueSpans.path ?? call.settingSpans.path ?? call.span));
    },
    result: sameKind,
    node: "stage.export",
    example: 'dataset exported = export(pairs) { path: "pairs.trl.jsonl", format: trl }',
  },
];

// ── raters and similarity ───────────────────────────────────────────────────
const scaleField: Field = { type: { t: "range" }, required: true, doc: "Integer score scale, e.g. 0..4." };
type Field = Fields[string];
const aspectsField: Field = {
  type: { t: "list", of: { t: "name" }, min: 1, unique: true },
  required: true,
  doc: "Aspects scored, e.g. [helpfulness, correctness].",
};
const modeField: Field = {
  type: { t: "enum", values: ["listwise", "pairwise", "pointwise"] },
  default: sym("listwise"),
  doc: "listwise: all responses of a prompt at once; pairwise: two at a time; pointwise: one at a time.",
};

function raterResult(call: CheckedCall): ResultInfo {
  const a = call.settings.aspects;
  const s = call.settings.scale;
  return {
    category: "rater",
    aspects: a?.k === "list" ? a.items.map((i) => (i.k === "symbol" ? i.name : "")) : [],
    scale: s?.k === "range" ? { lo: s.lo, hi: s.hi } : { lo: 0, hi: 0 },
  };
}

const raters: Ctor[] = [
  {
    name: "grounded",
    category: "rater",
    doc: "The built-in rater: scores answers against the shapes world's ground truth (correctness from hallucinated mentions and wrong answers, helpfulness from coverage, coherence from form and repetition; complexity and verbosity as in the Li et al. rubric).",
    args: [],
    fields: {
      aspects: {
        type: { t: "list", of: { t: "enum", values: GROUNDED_ASPECTS }, min: 1, unique: true },
        default: list(...GROUNDED_ASPECTS.map(sym)),
        doc: "Aspects to score.",
      },
      scale: { type: { t: "range", min: 0, max: 100 }, default: { k: "range", lo: 0, hi: 4 }, doc: "Score scale." },
    },
    result: raterResult,
    node: "rater.grounded",
    example: "rater judge = grounded { aspects: [helpfulness, correctness, coherence, complexity, verbosity], scale: 0..4 }",
  },
  {
    name: "command",
    category: "rater",
    doc: "An external program speaking alignc's JSONL rater protocol on stdin/stdout. The argv list is run directly, never through a shell.",
    args: [{ name: "argv", type: { t: "list", of: { t: "string" }, min: 1 }, doc: 'Program and arguments: ["python3", "raters/judge.py"].' }],
    fields: {
      aspects: aspectsField,
      scale: scaleField,
      mode: modeField,
      timeout: { type: { t: "duration", min: 0, minOpen: true }, default: { k: "duration", seconds: 60 }, doc: "Per-request timeout." },
      retries: { type: { t: "int", min: 0, max: 20 }, default: int(2), doc: "Retries after a failure, with backoff." },
      concurrency: { type: { t: "int", min: 1, max: 1024 }, default: int(4), doc: "Requests in flight at once." },
      env: { type: { t: "map", of: { t: "string" }, keyKind: "variable" }, default: record({}), doc: "Extra environment variables for the program." },
      files: {
        type: { t: "list", of: { t: "string" }, min: 1 },
        doc: "Other files the program reads (modules it imports, prompt templates, configuration), relative to the .align file: their bytes are part of the key, so editing one runs it again. Files named in the argv count already.",
      },
    },
    validate(call, ctx) {
      const argv = call.args[0];
      if (argv?.value.k === "list") {
        const first = argv.value.items[0];
        if (first?.k === "string" && /\s/.test(first.v.trim())) {
          ctx.report(
            diagnostic("invalidValue", { what: "argv", reason: `${JSON.stringify(first.v)} is one argument; alignc never runs a shell` }, argv.span, {
              help: helpTexts.splitArgv(
                first.v
                  .trim()
                  .split(/\s+/)
                  .map((s) => JSON.stringify(s))
                  .join(", "),
              ),
            }),
          );
        }
      }
    },
    result: raterResult,
    node: "rater.command",
    example: 'rater external = command(["python3", "raters/judge.py"]) { aspects: [helpfulness, correctness], scale: 0..4, timeout: 60s, retries: 3 }',
  },
  {
    name: "judge",
    category: "rater",
    doc: "A model used as a judge: it reads the prompt, image and responses and scores them.",
    args: [{ name: "model", type: modelRef, doc: "The judging model." }],
    fields: {
      aspects: aspectsField,
      scale: scaleField,
      mode: { ...modeField, default: sym("pairwise") },
      temperature: { type: { t: "float", min: 0 }, default: float(0), doc: "Decoding temperature of the judge." },
    },
    result: raterResult,
    node: "rater.judge",
    example: "rater model_judge = judge(big) { aspects: [helpfulness], scale: 0..4 }",
  },
  {
    name: "typescript",
    category: "rater",
    doc: "A TypeScript module exporting a function of alignc's `Rater` type (src/api/rater.ts), called in process. Its type is checked at compile time.",
    // Its existence is reported by the TypeScript rater check (ALN5001), with the module's other problems.
    args: [
      {
        name: "module",
        type: { t: "string", path: { what: "rater module", is: "file", mustExist: false } },
        doc: "The .ts module, relative to the .align file.",
      },
    ],
    fields: {
      export: {
        type: { t: "string", pattern: /^[A-Za-z_$][A-Za-z0-9_$]*$/, patternHelp: "a TypeScript identifier" },
        default: str("rate"),
        doc: "Name of the exported rater function.",
      },
      aspects: aspectsField,
      scale: scaleField,
      mode: modeField,
    },
    result: raterResult,
    node: "rater.typescript",
    example: 'rater custom = typescript("raters/length.ts") { export: "rate", aspects: [verbosity], scale: 0..4 }',
  },
];

const similarities: Ctor[] = [
  {
    name: "cosine",
    category: "similarity",
    doc: "Cosine similarity of two texts' pooled hidden states under a model: a Hugging Face sentence encoder (`hf(path)` of a BertModel or MPNetModel checkpoint, e.g. sentence-transformers' all-mpnet-base-v2, which the BDHS paper uses: mean pooling as its 1_Pooling module says, cut at its max_seq_length), or a TinyVLM (text only, alignc's stand-in). Hugging Face decoders are not embedders here (docs/bdhs.md#similarity).",
    args: [
      {
        name: "model",
        type: modelRef,
        named: true,
        inline: ["hf"],
        doc: 'Embedding model: a TinyVLM or a Hugging Face sentence encoder, named (`cosine(enc)`) or written in place (`cosine { model: hf("…/all-mpnet-base-v2") }`).',
      },
    ],
    fields: {
      pooling: {
        type: { t: "enum", values: ["mean", "last"] },
        default: sym("mean"),
        doc: "How hidden states are pooled: mean over the text's tokens, or the last token (TinyVLM only; a sentence encoder pools by the mean).",
      },
    },
    validate(call, ctx) {
      const info = call.args[0]?.info;
      const pooling = call.settings.pooling;
      if ((info?.category === "model" || info?.category === "phase") && info.hf?.encoder && pooling?.k === "symbol" && pooling.name !== "mean")
        ctx.report(
          diagnostic(
            "invalidValue",
            { what: "pooling", reason: "a sentence encoder pools by the mean over its tokens, as sentence-transformers' mean Pooling does" },
            call.valueSpans.pooling ?? call.settingSpans.pooling ?? call.calleeSpan,
          ),
        );
    },
    result: () => ({ category: "similarity" }),
    node: "similarity.cosine",
    example: "similarity sim = cosine(sft)",
  },
  {
    name: "lexical",
    category: "similarity",
    doc: "A lexical similarity that needs no model.",
    args: [],
    fields: {
      measure: { type: { t: "enum", values: ["rouge_l", "token_jaccard"] }, default: sym("rouge_l"), doc: "ROUGE-L F-measure or Jaccard overlap of tokens." },
    },
    result: () => ({ category: "similarity" }),
    node: "similarity.lexical",
    example: "similarity lex = lexical { measure: rouge_l }",
  },
];

export const dataCtors: Ctor[] = [...models, ...datasets, ...raters, ...similarities];
export type { Value };
