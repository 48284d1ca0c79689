// Hugging Face models in the catalog: `hf(path)` reads its checkpoint's config.json at check time (through the
// models package's loader, src/models/hf/config.ts; never the weights) and reports what alignc could not use; phases
// and stages check their settings against what the config says (LoRA targets, generation lengths).
import { statSync } from "node:fs";
import path from "node:path";
import { diagnostic, type Span } from "../../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../../diagnostics/messages.ts";
import { HF_LORA_TARGETS, LORA_TARGETS } from "../../../graph/vocabulary.ts";
import { type HfConfigProblem, hfLoraModules, MAX_HF_JSON_BYTES, readConfigJson } from "../../../models/hf/config.ts";
import { isEncoderConfig, readHfEncoderConfig } from "../../../models/hf/encoder-config.ts";
import type { HfLlavaConfig } from "../../../models/hf/llava-config.ts";
import { readHfModelConfig } from "../../../models/hf/model-config.ts";
import { processorMismatch, readImageProcessor } from "../../../models/hf/vision/image-processor.ts";
import { findHfWeights, HF_TOKENIZER_FILE } from "../../../models/hf/weights.ts";
import { fileKind } from "../../../util/untrusted-file.ts";
import { suggest } from "../../values/suggest.ts";
import { list, sym, type Value } from "../../values/types.ts";
import { lookedFor } from "./checks.ts";
import type { CheckedCall, HfModelInfo, InspectContext, ResultInfo, ValidateContext } from "./ctor.ts";

const WHAT = "Hugging Face checkpoint directory";

/** `hf(path)`: the directory, its config.json, tokenizer and weights, as far as check looks (the weights are not read). */
export function inspectHf(call: CheckedCall, ctx: InspectContext): ResultInfo {
  const arg = call.args[0];
  if (arg?.value.k !== "string") return { category: "model", hf: {} };
  const written = arg.value.v;
  const at = arg.span;
  const dir = path.resolve(ctx.dir, written);
  let isDir = false;
  try {
    const stats = statSync(dir, { throwIfNoEntry: false });
    if (!stats) {
      ctx.report(diagnostic("inputPathMissing", { what: WHAT, path: written, lookedFor: lookedFor(dir, written) }, at));
      return { category: "model", hf: {} };
    }
    isDir = stats.isDirectory();
    if (!isDir) {
      const problem = `is ${stats.isFile() ? "a file" : fileKind(stats)}, not a directory`;
      ctx.report(diagnostic("inputPathUnusable", { what: WHAT, path: written, problem }, at));
      return { category: "model", hf: {} };
    }
  } catch {
    ctx.report(diagnostic("inputPathMissing", { what: WHAT, path: written, lookedFor: lookedFor(dir, written) }, at));
    return { category: "model", hf: {} };
  }

  const info: HfModelInfo = {};
  const raw = readConfigJson(dir);
  const config = raw.ok && isEncoderConfig(raw.value) ? undefined : readHfModelConfig(dir);
  if (!config) {
    // A sentence encoder: only a cosine similarity's model (runtime-support.ts refuses it elsewhere, ALN3033).
    const encoder = readHfEncoderConfig(dir);
    info.encoder = true;
    if (encoder.ok) info.architecture = encoder.config.architecture;
    else reportConfigProblem(encoder.problem, written, at, ctx);
  } else if (config.ok) {
    const text = config.config.text;
    const asked = call.settings.dtype;
    const declared = text.declaredDtype;
    if (asked?.k === "symbol" && declared !== null && asked.name !== declared)
      ctx.report(
        diagnostic(
          "hfConfigRefused",
          {
            path: written,
            detail: `its dtype is ${declared}, and dtype: ${asked.name} asks for ${asked.name} weights; alignc computes in the weights' own dtype (read in place, never converted), so write dtype: ${declared} or leave it out`,
          },
          call.valueSpans.dtype ?? call.settingSpans.dtype ?? at,
        ),
      );
    info.architecture = config.config.architecture;
    info.modules = hfLoraModules(text).map((m) => m.name);
    info.maxPositions = text.maxPositionEmbeddings;
    if (config.config.llava) {
      info.vision = true;
      checkProcessor(dir, config.config.llava, written, at, ctx);
    }
  } else reportConfigProblem(config.problem, written, at, ctx);

  if (!isFile(path.join(dir, HF_TOKENIZER_FILE))) ctx.report(diagnostic("hfFilesMissing", { path: written, problem: `holds no ${HF_TOKENIZER_FILE}` }, at));
  const weights = findHfWeights(dir);
  if (!weights.ok) {
    const p = weights.problem;
    if (p.kind === "no-weights" && p.missing)
      // An index without its shards: the JSON files alone (see ALN3032).
      ctx.report(
        diagnostic(
          "hfWeightsAbsent",
          { path: written, missing: p.missing.length > 3 ? `${p.missing.slice(0, 3).join(", ")} and ${p.missing.length - 3} more` : p.missing.join(", ") },
          at,
        ),
      );
    else {
      const problem = p.file === dir ? p.detail : `has a model.safetensors.index.json that ${p.detail}`;
      ctx.report(diagnostic("hfFilesMissing", { path: written, problem }, at));
    }
  }
  return { category: "model", hf: info };
}

/** A vision-language checkpoint's image processor: readable, one alignc reproduces, and fitting the model (processorMismatch). */
function checkProcessor(dir: string, llava: HfLlavaConfig, written: string, at: Span, ctx: InspectContext): void {
  const processor = readImageProcessor(dir);
  if (!processor.ok) {
    const file = path.relative(dir, processor.problem.file) || processor.problem.file;
    ctx.report(diagnostic("hfProcessorRefused", { path: written, detail: `${file}: ${processor.problem.detail}` }, at));
    return;
  }
  const detail = processorMismatch(processor.spec, llava);
  if (detail) ctx.report(diagnostic("hfProcessorRefused", { path: written, detail }, at));
}

function isFile(file: string): boolean {
  try {
    return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

function reportConfigProblem(p: HfConfigProblem, written: string, at: Span, ctx: InspectContext): void {
  switch (p.kind) {
    case "unreadable": {
      const detail =
        p.reason === "missing"
          ? "there is no config.json"
          : p.reason === "not-regular"
            ? `config.json is ${p.what}, not a regular file`
            : p.reason === "too-large"
              ? `config.json is ${p.what}, over the limit of ${MAX_HF_JSON_BYTES} bytes`
              : `config.json cannot be read (${p.what})`;
      ctx.report(diagnostic("hfConfigUnreadable", { path: written, detail }, at));
      return;
    }
    case "unsupported-architecture":
      ctx.report(diagnostic("hfUnsupportedArchitecture", { path: written, found: p.found, supported: p.supported.join(", ") }, at));
      return;
    case "invalid-json":
      ctx.report(diagnostic("hfConfigRefused", { path: written, detail: `the file is ${p.detail}` }, at));
      return;
    case "unsupported-rope":
      ctx.report(
        diagnostic("hfConfigRefused", { path: written, detail: `RoPE scaling '${p.found}' is not supported (alignc computes ${p.supported.join(", ")})` }, at),
      );
      return;
    case "unsupported-activation":
      ctx.report(
        diagnostic("hfConfigRefused", { path: written, detail: `hidden_act ${p.found} is not supported (alignc computes ${p.supported.join(", ")})` }, at),
      );
      return;
    case "invalid-value":
      ctx.report(diagnostic("hfConfigRefused", { path: written, detail: `${p.key} ${p.detail}` }, at));
      return;
  }
}

/** The Hugging Face model a phase or stage starts from (its first argument), if it is one. */
export function hfModelOf(call: CheckedCall): HfModelInfo | undefined {
  const info = call.args[0]?.info;
  return info?.category === "model" || info?.category === "phase" ? info.hf : undefined;
}

/** A training phase's result: a model, Hugging Face when its initial model is. */
export function phaseResult(call: CheckedCall): ResultInfo {
  const hf = hfModelOf(call);
  return hf ? { category: "phase", hf } : { category: "phase" };
}

/** The other vocabulary's name for a LoRA target: what a user writing for the other model family most likely meant. */
const TINYVLM_TO_HF: Readonly<Record<string, string>> = { q: "q_proj", k: "k_proj", v: "v_proj", o: "o_proj", mlp_in: "up_proj", mlp_out: "down_proj" };
const HF_TO_TINYVLM: Readonly<Record<string, string>> = {
  q_proj: "q",
  k_proj: "k",
  v_proj: "v",
  o_proj: "o",
  gate_proj: "mlp_in",
  up_proj: "mlp_in",
  down_proj: "mlp_out",
};

/**
 * `lora.targets` against the phase's model: Hugging Face module names for an hf model (those its config has),
 * TinyVLM's names otherwise. Left out on an hf model, the default (q, v) becomes its HF equivalent (q_proj, v_proj).
 */
export function checkLoraTargets(call: CheckedCall, ctx: ValidateContext): void {
  const lora = call.settings.lora;
  if (lora?.k !== "record") return;
  const model = call.args[0];
  const hf = hfModelOf(call);
  const targets = lora.fields.targets;
  const projectorLr = lora.fields.projector_lr;
  if (hf && hf.architecture !== undefined && !hf.vision && projectorLr !== undefined) {
    const modelName = model?.value.k === "ref" ? model.value.target : "the model";
    const span = call.valueSpans["lora.projector_lr"] ?? call.settingSpans.lora ?? call.calleeSpan;
    ctx.report(diagnostic("projectorLrWithoutProjector", { model: modelName, architecture: hf.architecture }, span));
  }
  if (hf && call.defaulted.includes("lora.targets")) {
    // A fresh record: the default list is shared by every call.
    call.settings.lora = { ...lora, fields: { ...lora.fields, targets: list(sym("q_proj"), sym("v_proj")) } };
    return;
  }
  if (targets?.k !== "list") return;
  const allowed: readonly string[] = hf ? (hf.modules ?? HF_LORA_TARGETS) : LORA_TARGETS;
  const family = hf ? `Hugging Face ${hf.architecture ?? ""}`.trimEnd() : "TinyVLM";
  const span = call.valueSpans["lora.targets"] ?? call.settingSpans.lora ?? call.calleeSpan;
  const modelName = model?.value.k === "ref" ? model.value.target : "the model";
  for (const t of targets.items) {
    if (t.k !== "symbol" || allowed.includes(t.name)) continue;
    // Only names of the other family reach here (the setting's type takes both vocabularies).
    const mapped = (hf ? TINYVLM_TO_HF : HF_TO_TINYVLM)[t.name];
    const extras = mapped && allowed.includes(mapped) ? { help: helpTexts.didYouMean(mapped) } : suggest(t.name, allowed, undefined);
    ctx.report(diagnostic("loraTargetWrongModel", { target: t.name, model: modelName, family, targets: allowed.join(", ") }, span, extras));
  }
}

/** `max_tokens` settings (top level and in a bdhs block) against a Hugging Face model's max_position_embeddings. */
export function checkMaxTokens(call: CheckedCall, ctx: ValidateContext): void {
  const hf = hfModelOf(call);
  const limit = hf?.maxPositions;
  if (limit === undefined) return;
  const model = call.args[0];
  const modelName = model?.value.k === "ref" ? model.value.target : "the model";
  const check = (setting: string, v: Value | undefined, span: Span | undefined) => {
    if (v?.k === "int" && v.v > limit)
      ctx.report(diagnostic("maxTokensOverContext", { setting, value: v.v, model: modelName, limit }, span ?? call.calleeSpan));
  };
  check("max_tokens", call.settings.max_tokens, call.valueSpans.max_tokens ?? call.settingSpans.max_tokens);
  const bdhs = call.settings.bdhs;
  if (bdhs?.k === "record") check("bdhs.max_tokens", bdhs.fields.max_tokens, call.valueSpans["bdhs.max_tokens"] ?? call.settingSpans.bdhs);
}

/**
 * `recompute: true` or `recompute: attention` needs a Hugging Face model: TinyVLM's training programs keep every
 * activation (ALN3021, as run refuses it).
 */
export function checkRecompute(call: CheckedCall, ctx: ValidateContext): void {
  const v = call.settings.recompute;
  const value = v?.k === "bool" && v.v ? "true" : v?.k === "symbol" ? v.name : undefined;
  if (value === undefined || hfModelOf(call)) return;
  ctx.report(
    diagnostic(
      "notRunnableSetting",
      {
        setting: "recompute",
        value,
        ctor: call.ctor.name,
        reason: "TinyVLM's training programs keep every activation (recomputation is for Hugging Face models)",
        only: "false",
      },
      call.valueSpans.recompute ?? call.settingSpans.recompute ?? call.calleeSpan,
    ),
  );
}
