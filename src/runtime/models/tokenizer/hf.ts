// A typed view of @huggingface/tokenizers 0.2.0. Its .d.ts files use extensionless relative imports that NodeNext
// resolution cannot follow, so under this repo's tsconfig the package's types arrive as `any` (or not at all);
// this declares the parts alignc uses, checked against the library by test/tokenizer.test.ts.
import * as lib from "@huggingface/tokenizers";

export interface HfNormalizer {
  normalize(text: string): string;
}

export interface HfTokenizer {
  normalizer: HfNormalizer | null;
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[]; tokens: string[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}

const untyped = lib as unknown as {
  Tokenizer: new (json: object, config: object) => HfTokenizer;
  SequenceNormalizer: new (config: object) => HfNormalizer;
};

export const HfTokenizer = untyped.Tokenizer;
export const SequenceNormalizer = untyped.SequenceNormalizer;
