// A Hugging Face checkpoint's config.json, whatever it holds: a decoder (../config.ts) or a vision-language model that
// embeds one (llava-config.ts), told apart by `architectures[0]`. Everything that reads a checkpoint (the checker's
// `hf(path)`, the runtime's loader) goes through here, so both accept and refuse the same files.
import { HF_ARCHITECTURES, type HfConfigProblem, type HfDecoderConfig, normaliseHfConfig, readConfigJson } from "./config.ts";
import { isEncoderConfig } from "./encoder-config.ts";
import { HF_VISION_ARCHITECTURES, type HfLlavaConfig, type HfVisionArchitecture, normaliseLlavaConfig } from "./llava-config.ts";

/** Every `architectures[0]` alignc reads. */
export const HF_MODEL_ARCHITECTURES: readonly string[] = [...HF_ARCHITECTURES, ...HF_VISION_ARCHITECTURES];

export interface HfModelConfig {
  /** `architectures[0]`: the decoder's, or the vision-language model's. */
  architecture: string;
  /** The language model (the whole model for a decoder; `text_config` of a LLaVA). */
  text: HfDecoderConfig;
  /** A LLaVA's vision side and how it meets the language model; undefined for a decoder. */
  llava?: HfLlavaConfig;
}

export type HfModelConfigResult = { ok: true; config: HfModelConfig; file: string } | { ok: false; problem: HfConfigProblem };

/** Reads `dir`/config.json through the untrusted reader and normalises it as a decoder or a LLaVA. */
export function readHfModelConfig(dir: string): HfModelConfigResult {
  const json = readConfigJson(dir);
  if (!json.ok) return json;
  const { value, file } = json;
  const archs = value.architectures;
  const first = Array.isArray(archs) ? archs[0] : undefined;
  if (typeof first === "string" && (HF_VISION_ARCHITECTURES as readonly string[]).includes(first)) {
    const llava = normaliseLlavaConfig(value, file, first as HfVisionArchitecture);
    if (!llava.ok) return llava;
    return { ok: true, config: { architecture: first, text: llava.config.text, llava: llava.config }, file };
  }
  if (isEncoderConfig(value))
    return {
      ok: false,
      problem: {
        kind: "unsupported-architecture",
        file,
        found: `${String(first)}, a sentence encoder (only a cosine similarity's model)`,
        supported: HF_MODEL_ARCHITECTURES,
      },
    };
  const decoder = normaliseHfConfig(value, file);
  if (decoder.ok) return { ok: true, config: { architecture: decoder.config.architecture, text: decoder.config }, file };
  const p = decoder.problem;
  // The decoder's reader lists the decoders; a file of neither kind is told every architecture.
  if (p.kind === "unsupported-architecture" && p.supported === HF_ARCHITECTURES) return { ok: false, problem: { ...p, supported: HF_MODEL_ARCHITECTURES } };
  return decoder;
}
