// A sentence encoder (BERT, MPNet; docs/hf-models.md#sentence-encoders) as the runtime handles it: its normalised
// config with the sentence-transformers settings, its weights referenced in place, its WordPiece tokenizer. Loading
// reads the small JSON files and the safetensors headers only.
import { describeHfConfigProblem } from "../../../models/hf/config.ts";
import { checkEncoderWeights, encoderProgramName, expectedEncoderTensors } from "../../../models/hf/encoder.ts";
import { type HfEncoderConfig, readHfEncoderConfig } from "../../../models/hf/encoder-config.ts";
import {
  describeHfTensorProblem,
  externalHfWeights,
  findHfWeights,
  type HfExternalWeights,
  readHfTensorIndex,
  tensorProblems,
} from "../../../models/hf/weights.ts";
import { WordPieceTokenizer } from "../tokenizer/wordpiece.ts";
import { asCheckpointError, checkTokenizerFits, HfCheckpointError } from "./model.ts";

export interface HfEncoder {
  dir: string;
  config: HfEncoderConfig;
  weights: HfExternalWeights;
  tokenizer: WordPieceTokenizer;
}

/** Loads the encoder in `dir`; every problem is an HfCheckpointError naming the file. */
export function loadHfEncoder(dir: string): HfEncoder {
  const read = readHfEncoderConfig(dir);
  if (!read.ok) throw new HfCheckpointError(`${dir}: ${describeHfConfigProblem(read.problem)}`);
  const config = read.config;
  let weights: HfExternalWeights;
  try {
    const found = findHfWeights(dir);
    if (!found.ok) throw new HfCheckpointError(`${found.problem.file}: ${found.problem.detail}`);
    const index = readHfTensorIndex(found.files, (name) => {
      const n = encoderProgramName(config.family, name);
      return n === undefined ? undefined : { canonical: n, generation: config.family };
    });
    const problems = tensorProblems(expectedEncoderTensors(config), index);
    if (problems.length > 0) throw new HfCheckpointError(`${dir}: ${problems.slice(0, 4).map(describeHfTensorProblem).join("; ")}`);
    weights = externalHfWeights(dir, index, (name) => name);
    checkEncoderWeights(config, weights.tensors);
  } catch (e) {
    throw asCheckpointError(dir, e);
  }
  const tokenizer = WordPieceTokenizer.load(dir);
  checkTokenizerFits(dir, tokenizer.vocabSize, config.vocabSize);
  return { dir, config, weights, tokenizer };
}
