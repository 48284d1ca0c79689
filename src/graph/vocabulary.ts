// The words the checker and the runtime must agree on, declared once: the names a file may write (aspects of the
// grounded rater, record layouts, shape-world tasks, LoRA targets …), the fields of dataset records, the files of a
// checkpoint directory, and the shape of a score expression in a node's params. The catalog
// (src/compiler/checker/catalog/) builds its types from these lists; the runtime reads them from here, never from the
// checker.

export type DatasetKind = "prompts" | "samples" | "rated" | "pairs";

/** A score or filter expression as the execution graph carries it (`pair { score }`, `filter { where }`). */
export type ExprTree =
  | { op: "num"; value: number }
  | { op: "name"; name: string }
  | { op: "neg" | "not"; arg: ExprTree }
  | { op: "+" | "-" | "*" | "/" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "and" | "or"; left: ExprTree; right: ExprTree };

export const GROUNDED_ASPECTS = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"] as const;
export const FILE_FORMATS = ["alignc", "trl", "sharegpt", "ms_swift", "llava", "rlaif_v"] as const;
export const TINYVLM_SIZES = ["nano", "small", "base"] as const;
/** The files of a TinyVLM checkpoint directory (src/runtime/models/checkpoint.ts writes and reads them). */
export const CHECKPOINT_FILES = ["config.json", "tokenizer.json", "model.safetensors"] as const;
export const SHAPES_TASKS = ["describe", "pope", "attribute", "count", "text"] as const;
export const POPE_NEGATIVES = ["random", "popular", "adversarial"] as const;
export const CORRUPTIONS = ["object", "color", "count", "position", "size"] as const;
export const LORA_TARGETS = ["q", "k", "v", "o", "mlp_in", "mlp_out", "projector", "vision"] as const;
/** LoRA targets of Hugging Face models (`hf(path)`): their modules' names, as PEFT's target_modules (src/models/hf/config.ts). */
export const HF_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
/** The weight dtypes a Hugging Face model may run in (`hf(path) { dtype }`). */
export const HF_DTYPES = ["float32", "float16", "bfloat16"] as const;

/**
 * The numeric fields of each dataset kind's records that `filter { where: … }` may use. The checker rejects other
 * names at compile time; the runtime (src/runtime/data/prefdata/fields.ts) computes them per record.
 */
export const RECORD_FIELDS: Record<DatasetKind, readonly string[]> = {
  prompts: ["prompt_words", "answer_words", "has_image"],
  samples: ["prompt_words", "has_image", "responses", "mean_words", "min_words", "max_words"],
  // Rated records also have one field per aspect of their rater: the mean score over the record's responses.
  rated: ["prompt_words", "has_image", "responses", "mean_words", "min_words", "max_words"],
  pairs: [
    "prompt_words",
    "has_image",
    "chosen_words",
    "rejected_words",
    "margin",
    "chosen_score",
    "rejected_score",
    "similarity",
    "tries",
    "accepted",
    "flipped",
  ],
};
