// LLaVA checkpoints' config.json (`LlavaForConditionalGeneration`, the same keys in transformers 4 hub files and 5
// saves): the language model's `text_config` (a Llama, Qwen2 or Mistral decoder, normalised by ../config.ts with its
// architecture taken from its `model_type`), the vision tower's `vision_config` (CLIP or SigLIP, by `model_type`), and
// how they meet: the image token's id, the tower layers whose hidden states are the features, the select strategy
// (`default` drops CLIP's class token, `full` keeps every position) and the projector (linear → GELU → linear).
// LLaVA-NeXT (`LlavaNextForConditionalGeneration`) adds `image_grid_pinpoints`, the resolutions an image is tiled at
// (vision/anyres.ts), and a learned `image_newline` row after each row of tile features.
import type { JsonValue } from "../../formats/strict-json.ts";
import { type HfConfigProblem, type HfDecoderConfig, normaliseHfConfig } from "./config.ts";

export const HF_VISION_ARCHITECTURES = ["LlavaForConditionalGeneration", "LlavaNextForConditionalGeneration"] as const;
export type HfVisionArchitecture = (typeof HF_VISION_ARCHITECTURES)[number];

/** A CLIP or SigLIP vision transformer, as LLaVA uses it. */
export interface HfVisionTowerConfig {
  family: "clip" | "siglip";
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  headDim: number;
  imageSize: number;
  patchSize: number;
  /** Patches per side: ⌊image / patch⌋ (SigLIP-384/14 ignores the last 6 pixels, as its convolution does). */
  grid: number;
  layerNormEps: number;
  act: "quick_gelu" | "gelu_pytorch_tanh" | "gelu";
  /** CLIP: a learned class token before the patches, and `pre_layrnorm` after the embeddings. */
  classToken: boolean;
  /** The patch convolution has a bias (SigLIP). */
  patchBias: boolean;
}

export interface HfLlavaConfig {
  architecture: HfVisionArchitecture;
  text: HfDecoderConfig;
  vision: HfVisionTowerConfig;
  imageTokenId: number;
  /** Tower layers whose hidden states are concatenated as features: index into hidden_states (0 = embeddings; negative from the end). */
  featureLayers: number[];
  selectStrategy: "default" | "full";
  projectorAct: "gelu";
  projectorBias: boolean;
  /** LLaVA-NeXT: the [height, width] resolutions an image may be tiled at (multiples of the tower's image size); undefined for LLaVA. */
  pinpoints?: [number, number][];
}

type Problem = Extract<HfConfigProblem, { kind: "invalid-value" }>;

const TEXT_ARCHITECTURE: Readonly<Record<string, string>> = { llama: "LlamaForCausalLM", qwen2: "Qwen2ForCausalLM", mistral: "MistralForCausalLM" };
const ACTS = ["quick_gelu", "gelu_pytorch_tanh", "gelu"] as const;

const pick = (o: Record<string, JsonValue>, keys: readonly string[]) =>
  Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k] as JsonValue]));

const isObject = (v: JsonValue | undefined): v is { [key: string]: JsonValue } => typeof v === "object" && v !== null && !Array.isArray(v);

/** Normalises a LLaVA config.json; problems name the key (text_config.… for the decoder's). */
export function normaliseLlavaConfig(
  json: Record<string, JsonValue>,
  file: string,
  architecture: HfVisionArchitecture = "LlavaForConditionalGeneration",
): { ok: true; config: HfLlavaConfig } | { ok: false; problem: HfConfigProblem } {
  const bad = (key: string, detail: string): { ok: false; problem: Problem } => ({ ok: false, problem: { kind: "invalid-value", file, key, detail } });
  const text = json.text_config;
  if (!isObject(text)) return bad("text_config", "must be an object (the language model's config)");
  const textType = typeof text.model_type === "string" ? text.model_type : "llama";
  const textArch = TEXT_ARCHITECTURE[textType];
  if (!textArch)
    return {
      ok: false,
      problem: { kind: "unsupported-architecture", file, found: `text_config.model_type ${textType}`, supported: Object.keys(TEXT_ARCHITECTURE) },
    };
  // The hub's LLaVA files give the dtype at the top only; the language model's weights have it.
  const dtype = text.dtype === undefined && text.torch_dtype === undefined ? pick(json, ["dtype", "torch_dtype"]) : {};
  const decoder = normaliseHfConfig({ ...text, ...dtype, architectures: [textArch] }, file);
  if (!decoder.ok) return decoder.problem.kind === "invalid-value" ? bad(`text_config.${decoder.problem.key}`, decoder.problem.detail) : decoder;
  const vision = visionTowerConfig(json.vision_config, file);
  if (!vision.ok) return vision;
  const id = json.image_token_index ?? json.image_token_id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0 || id >= decoder.config.vocabSize)
    return bad("image_token_index", `must be a token id of the ${decoder.config.vocabSize}-token vocabulary, found ${JSON.stringify(id ?? null)}`);
  const rawLayer = json.vision_feature_layer ?? -2;
  const layers = Array.isArray(rawLayer) ? rawLayer : [rawLayer];
  const depth = vision.config.layers;
  if (layers.length === 0 || !layers.every((l) => typeof l === "number" && Number.isSafeInteger(l) && l >= -(depth + 1) && l <= depth))
    return bad("vision_feature_layer", `must be a layer of hidden_states (−${depth + 1} … ${depth}) or a list of them, found ${JSON.stringify(rawLayer)}`);
  const strategy = json.vision_feature_select_strategy ?? "default";
  if (strategy !== "default" && strategy !== "full")
    return bad("vision_feature_select_strategy", `must be "default" or "full", found ${JSON.stringify(strategy)}`);
  if (strategy === "default" && !vision.config.classToken)
    return bad("vision_feature_select_strategy", `"default" drops a class token, and the ${vision.config.family} tower has none; the checkpoint needs "full"`);
  const act = json.projector_hidden_act ?? "gelu";
  if (act !== "gelu") return bad("projector_hidden_act", `${JSON.stringify(act)} is not supported; supported: "gelu"`);
  const bias = json.multimodal_projector_bias ?? true;
  if (typeof bias !== "boolean") return bad("multimodal_projector_bias", `must be true or false, found ${JSON.stringify(bias)}`);
  const next = architecture === "LlavaNextForConditionalGeneration";
  let pinpoints: [number, number][] | undefined;
  if (next) {
    const found = gridPinpoints(json.image_grid_pinpoints ?? llavaNextPinpoints(), vision.config.imageSize);
    if (typeof found === "string") return bad("image_grid_pinpoints", found);
    pinpoints = found;
    // Tiles are laid out as grid × grid feature maps, so a tile's features must be exactly its patches.
    const perTile = vision.config.grid * vision.config.grid + (vision.config.classToken && strategy === "full" ? 1 : 0);
    if (perTile !== vision.config.grid ** 2)
      return bad(
        "vision_feature_select_strategy",
        `"full" keeps the class token, and LLaVA-NeXT lays each tile's features out as a ${vision.config.grid}×${vision.config.grid} grid; the checkpoint needs "default"`,
      );
  }
  return {
    ok: true,
    config: {
      architecture,
      text: decoder.config,
      vision: vision.config,
      imageTokenId: id,
      featureLayers: layers as number[],
      selectStrategy: strategy,
      projectorAct: "gelu",
      projectorBias: bias,
      ...(pinpoints ? { pinpoints } : {}),
    },
  };
}

/** LlavaNextConfig's (and LlavaNextImageProcessor's) default `image_grid_pinpoints`, for a 336-pixel tower: [height, width]. */
export const llavaNextPinpoints = (): [number, number][] => [
  [336, 672],
  [672, 336],
  [672, 672],
  [1008, 336],
  [336, 1008],
];

/** `image_grid_pinpoints` as [height, width] pairs of positive integers — each a multiple of the tower's `side` when given — or what is wrong with it. */
export function gridPinpoints(v: JsonValue, side?: number): [number, number][] | string {
  const ok =
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === "number" && Number.isSafeInteger(x) && x > 0 && x % (side ?? 1) === 0));
  if (!ok)
    return `must be a non-empty list of [height, width] pairs, each a positive ${side === undefined ? "integer" : `multiple of the tower's image size ${side}`}, found ${JSON.stringify(v)}`;
  return (v as [number, number][]).map(([h, w]) => [h, w]);
}

/** `vision_config`: a CLIP (`clip_vision_model`) or SigLIP (`siglip_vision_model`) tower with transformers' defaults. */
export function visionTowerConfig(v: JsonValue | undefined, file: string): { ok: true; config: HfVisionTowerConfig } | { ok: false; problem: HfConfigProblem } {
  const bad = (key: string, detail: string) => ({ ok: false as const, problem: { kind: "invalid-value" as const, file, key: `vision_config.${key}`, detail } });
  if (!isObject(v))
    return { ok: false, problem: { kind: "invalid-value", file, key: "vision_config", detail: "must be an object (the vision tower's config)" } };
  const type = v.model_type ?? "clip_vision_model";
  const family = type === "clip_vision_model" ? "clip" : type === "siglip_vision_model" ? "siglip" : undefined;
  if (!family)
    return {
      ok: false,
      problem: {
        kind: "unsupported-architecture",
        file,
        found: `vision_config.model_type ${JSON.stringify(type)}`,
        supported: ["clip_vision_model", "siglip_vision_model"],
      },
    };
  // transformers' CLIPVisionConfig / SiglipVisionConfig defaults.
  const d =
    family === "clip"
      ? { hidden: 768, mlp: 3072, layers: 12, heads: 12, image: 224, patch: 32, eps: 1e-5, act: "quick_gelu" }
      : { hidden: 768, mlp: 3072, layers: 12, heads: 12, image: 224, patch: 16, eps: 1e-6, act: "gelu_pytorch_tanh" };
  const int = (key: string, fallback: number) => {
    const x = v[key] ?? fallback;
    return typeof x === "number" && Number.isSafeInteger(x) && x > 0 ? x : undefined;
  };
  const hidden = int("hidden_size", d.hidden);
  const intermediate = int("intermediate_size", d.mlp);
  const layers = int("num_hidden_layers", d.layers);
  const heads = int("num_attention_heads", d.heads);
  const imageSize = int("image_size", d.image);
  const patchSize = int("patch_size", d.patch);
  for (const [key, value] of Object.entries({
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    image_size: imageSize,
    patch_size: patchSize,
  }))
    if (value === undefined) return bad(key, `must be a positive integer, found ${JSON.stringify(v[key])}`);
  if ((hidden as number) % (heads as number) !== 0) return bad("num_attention_heads", `(${heads}) must divide hidden_size (${hidden})`);
  if ((patchSize as number) > (imageSize as number)) return bad("patch_size", `(${patchSize}) is larger than image_size (${imageSize})`);
  if ((v.num_channels ?? 3) !== 3) return bad("num_channels", `must be 3 (RGB), found ${JSON.stringify(v.num_channels)}`);
  const eps = v.layer_norm_eps ?? d.eps;
  if (typeof eps !== "number" || !(eps > 0)) return bad("layer_norm_eps", `must be a positive number, found ${JSON.stringify(eps)}`);
  const act = v.hidden_act ?? d.act;
  if (!(ACTS as readonly JsonValue[]).includes(act)) return bad("hidden_act", `${JSON.stringify(act)} is not supported; supported: ${ACTS.join(", ")}`);
  return {
    ok: true,
    config: {
      family,
      hidden: hidden as number,
      intermediate: intermediate as number,
      layers: layers as number,
      heads: heads as number,
      headDim: (hidden as number) / (heads as number),
      imageSize: imageSize as number,
      patchSize: patchSize as number,
      grid: Math.floor((imageSize as number) / (patchSize as number)),
      layerNormEps: eps,
      act: act as HfVisionTowerConfig["act"],
      classToken: family === "clip",
      patchBias: family === "siglip",
    },
  };
}
