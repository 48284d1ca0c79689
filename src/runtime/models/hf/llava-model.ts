// A LLaVA checkpoint as the runtime handles it (`LlavaForConditionalGeneration`): its config (vision/config.ts), the
// language model's shape, every weight the programs read referenced in place under the programs' names (decoder,
// vision tower, projector; any naming generation, vision/llava.ts), the image processor's settings, the tokenizer,
// chat template and stop ids, and the image token's text. As for a decoder, loading reads the JSON files and the
// weights' headers only.
import path from "node:path";
import { SafetensorsError } from "../../../formats/safetensors.ts";
import { describeHfConfigProblem, parseJsonObject } from "../../../models/hf/config.ts";
import { checkDecoderWeights, type DecoderShape } from "../../../models/hf/decoder.ts";
import { decoderShapeOf } from "../../../models/hf/shape.ts";
import { type HfLlavaConfig, normaliseLlavaConfig } from "../../../models/hf/vision/config.ts";
import { type ImageProcessorSpec, readImageProcessor } from "../../../models/hf/vision/image-processor.ts";
import { llavaProgramName } from "../../../models/hf/vision/llava.ts";
import { visionWeightProblem } from "../../../models/hf/vision/tower.ts";
import { externalHfWeights, findHfWeights, type HfExternalWeights, readHfTensorIndex } from "../../../models/hf/weights.ts";
import type { DType } from "../../../tensor/ir/dtype.ts";
import { ShapeError } from "../../../tensor/ir/shape.ts";
import { describeRefusal, readUntrusted } from "../../../util/untrusted-file.ts";
import { HfTextTokenizer } from "../tokenizer/hf-text-tokenizer.ts";
import { HfCheckpointError } from "./model.ts";

export interface LlavaModel {
  dir: string;
  config: HfLlavaConfig;
  /** The language model's shape. */
  shape: DecoderShape;
  /** The language model's weights' dtype. */
  dtype: DType;
  /** Decoder, tower and projector weights under the programs' names, in place. */
  weights: HfExternalWeights;
  processor: ImageProcessorSpec;
  tokenizer: HfTextTokenizer;
  /** The image token's text (what a prompt holds where the image goes, expanded to one per feature). */
  imageToken: string;
}

/** Loads a LLaVA checkpoint directory; every problem is an HfCheckpointError naming the file. */
export function loadLlavaModel(dir: string): LlavaModel {
  const file = path.join(dir, "config.json");
  const read = readUntrusted(file, { maxBytes: 1 << 24 });
  if (!read.ok) throw new HfCheckpointError(describeRefusal(read, 1 << 24));
  const json = parseJsonObject(read.bytes, file);
  if (!json.ok) throw new HfCheckpointError(describeHfConfigProblem(json.problem));
  const normalised = normaliseLlavaConfig(json.value, file);
  if (!normalised.ok) throw new HfCheckpointError(describeHfConfigProblem(normalised.problem));
  const config = normalised.config;
  try {
    const shape = decoderShapeOf(config.text);
    const found = findHfWeights(dir);
    if (!found.ok) throw new HfCheckpointError(`${found.problem.file}: ${found.problem.detail}`);
    const index = readHfTensorIndex(found.files, (name) => {
      const n = llavaProgramName(name);
      return n === undefined ? undefined : { canonical: n, generation: "llava" };
    });
    const weights = externalHfWeights(dir, index, (name) => name);
    const dtype = checkDecoderWeights(shape, weights.tensors);
    const problem = visionWeightProblem(config, weights.tensors);
    if (problem) throw new HfCheckpointError(`${dir}: in the weights, ${problem}`);
    const processor = readImageProcessor(dir);
    if (!processor.ok) throw new HfCheckpointError(`${processor.problem.file}: ${processor.problem.detail}`);
    const tokenizer = HfTextTokenizer.load(dir);
    const imageToken = tokenizer.tokenOf(config.imageTokenId);
    if (imageToken === undefined)
      throw new HfCheckpointError(`${dir}: the tokenizer has no token ${config.imageTokenId} (config.json's image_token_index) to mark where images go`);
    return { dir, config, shape, dtype, weights, processor: processor.spec, tokenizer, imageToken };
  } catch (e) {
    if (e instanceof ShapeError || e instanceof SafetensorsError) throw new HfCheckpointError(`${dir}: ${e.message}`, { cause: e });
    throw e;
  }
}
