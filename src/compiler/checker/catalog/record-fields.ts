// The numeric fields of each dataset kind's records that `filter { where: … }` may use. The checker rejects
// other names at compile time; the runtime (src/runtime/prefdata/fields.ts) computes them per record.
import type { DatasetKind } from "../types.ts";

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
