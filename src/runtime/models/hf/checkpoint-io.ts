// Reading a Hugging Face checkpoint's tensors (one at a time, by byte range, through the untrusted reader) and writing
// a trained model back as a Hugging Face directory that transformers loads: config.json, generation_config.json,
// tokenizer files, chat template and image processor settings copied from the source, every tensor under the name the
// source's files give it, in safetensors shards of at most 1 GiB (with model.safetensors.index.json when there are
// several), in the source's dtype. A LoRA phase also writes its adapter as PEFT does (adapter/adapter_config.json +
// adapter/adapter_model.safetensors), and its merged weights W + (α/r)·B·A into the model files.
import path from "node:path";
import { encodeSafetensors } from "../../../formats/safetensors.ts";
import type { HfAdapterValues } from "../../../models/hf/lora.ts";
import { byteSize, type DType } from "../../../tensor/ir/dtype.ts";
import type { ExternalTensorData, TensorData } from "../../../tensor/ir/graph.ts";
import { bfloat16ToNumber, halfToNumber, toHalfBits } from "../../../tensor/ir/half.ts";
import { writeFileAtomic } from "../../../util/safe-write.ts";
import { describeRefusal, readUntrusted, withUntrustedReader } from "../../../util/untrusted-file.ts";
import { HfCheckpointError, type HfModel } from "./model.ts";

/** The files besides the weights that a saved directory carries over from its source, when the source has them. */
export const HF_COPIED_FILES = [
  "config.json",
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "chat_template.jinja",
  "chat_template.json",
  "preprocessor_config.json",
  "processor_config.json",
];
/**
 * The adapter's folder inside a saved directory. Not the directory itself: transformers' from_pretrained loads a folder
 * holding adapter_config.json as base + adapter, which would apply the adapter twice to the merged weights.
 */
export const PEFT_DIR = "adapter";
export const PEFT_CONFIG_FILE = "adapter_config.json";
export const PEFT_WEIGHTS_FILE = "adapter_model.safetensors";

const SHARD_BYTES = 1024 * 1024 * 1024;
/** Cap on each copied small file (a tokenizer.json of a 256k vocabulary is ~20 MB). */
const MAX_COPIED_BYTES = 256 * 1024 * 1024;

/** One tensor of the checkpoint read from its file, as float32 (bf16/fp16 widened exactly). */
export function readTensorFloat32(model: HfModel, ref: ExternalTensorData, name: string): Float32Array {
  return toFloat32(readTensorBytes(model, ref, name), ref.dtype, name);
}

/** One tensor's bytes, in a fresh (aligned) buffer. */
function readTensorBytes(model: HfModel, ref: ExternalTensorData, name: string): Uint8Array {
  const file = path.join(model.weights.folder, ref.location);
  const r = withUntrustedReader(file, { maxBytes: Number.MAX_SAFE_INTEGER }, (read) => read(ref.offset, ref.length));
  if (!r.ok) throw new HfCheckpointError(`${file}: ${describeRefusal(r)}`);
  const bytes = r.value;
  if (bytes.length !== ref.length) throw new HfCheckpointError(`${file}: ${name} is cut short (${bytes.length} of ${ref.length} bytes)`);
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  return aligned;
}

/** A tensor as stored (its own dtype), for copying it unchanged. */
function readTensorAsStored(model: HfModel, ref: ExternalTensorData, name: string): TensorData {
  const { buffer } = readTensorBytes(model, ref, name);
  const shape = [...ref.shape];
  switch (ref.dtype) {
    case "float32":
      return { dtype: "float32", shape, data: new Float32Array(buffer) };
    case "float16":
    case "bfloat16":
      return { dtype: ref.dtype, shape, data: new Uint16Array(buffer) };
    case "float64":
      return { dtype: "float64", shape, data: new Float64Array(buffer) };
    default:
      throw new HfCheckpointError(`${name} is ${ref.dtype}, not a floating-point weight`);
  }
}

/**
 * The values as float32. Loops, not `Float32Array.from(typed, map)`: that collects every element into a JS list first,
 * which a 136M-element embedding table (Qwen2.5's) does not survive.
 */
function toFloat32(aligned: Uint8Array, dtype: DType, name: string): Float32Array {
  const widen = (src: ArrayLike<number>, f: (x: number) => number) => {
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = f(src[i] as number);
    return out;
  };
  switch (dtype) {
    case "float32":
      return new Float32Array(aligned.buffer);
    case "float16":
      return widen(new Uint16Array(aligned.buffer), halfToNumber);
    case "bfloat16":
      return widen(new Uint16Array(aligned.buffer), bfloat16ToNumber);
    case "float64":
      return new Float32Array(new Float64Array(aligned.buffer));
    default:
      throw new HfCheckpointError(`${name} is ${dtype}, not a floating-point weight`);
  }
}

/** float32 values in `dtype` (round to nearest even for the 16-bit types). */
export function fromFloat32(values: Float32Array, dtype: DType, shape: readonly number[]): TensorData {
  if (dtype === "float16" || dtype === "bfloat16") return { dtype, shape: [...shape], data: toHalfBits(values, dtype) };
  if (dtype === "float64") return { dtype, shape: [...shape], data: new Float64Array(values) };
  return { dtype: "float32", shape: [...shape], data: values };
}

export interface HfAdapterFiles {
  /** PEFT's adapter_config.json fields that matter: r, lora_alpha, target_modules (a list of names, or a regex). */
  rank: number;
  alpha: number;
  targets: readonly string[] | string;
  /** Modules trained whole beside the adapters (PEFT's modules_to_save), saved in the adapter file. */
  modulesToSave?: readonly string[];
  /** adapter_model.safetensors' tensors (PEFT names, float32). */
  tensors: ReadonlyMap<string, TensorData>;
}

/**
 * An adapter as PEFT saves it for `model`. A decoder's adapters keep their names (`base_model.model.model.layers.…`).
 * A LLaVA's sit under its language model as transformers 5 names its modules (`base_model.model.model.language_model.
 * layers.…`), target_modules is a regex over the language model (the CLIP tower has q_proj and v_proj too, which the
 * adapters do not touch), and a projector trained with projector_lr is a module to save, its weights in the file.
 */
export function peftAdapterFiles(model: HfModel, values: HfAdapterValues): HfAdapterFiles {
  const { lora } = values;
  if (!model.vision) return { rank: lora.rank, alpha: lora.alpha, targets: lora.targets, tensors: values.tensors };
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of values.tensors) tensors.set(name.replace(/^base_model\.model\.model\./, "base_model.model.model.language_model."), t);
  for (const [name, t] of values.replaced ?? []) tensors.set(`base_model.model.model.${name}`, t);
  return {
    rank: lora.rank,
    alpha: lora.alpha,
    targets: `.*language_model.*\\.(${lora.targets.join("|")})`,
    ...(values.replaced ? { modulesToSave: ["multi_modal_projector"] } : {}),
    tensors,
  };
}

/**
 * Writes `source` with some tensors replaced (`replaced`: program names → float32 values) into `dir` as a Hugging
 * Face directory in `dtype` (default: the source's); untouched tensors are copied from the source's files. With
 * `adapter`, the PEFT files too.
 */
export function saveHfDirectory(
  dir: string,
  source: HfModel,
  replaced: ReadonlyMap<string, Float32Array>,
  adapter?: HfAdapterFiles,
  dtype: DType = source.dtype,
): void {
  for (const f of HF_COPIED_FILES) {
    // Through the untrusted reader: a FIFO or device planted under the name is refused, never opened.
    const r = readUntrusted(path.join(source.dir, f), { maxBytes: MAX_COPIED_BYTES });
    if (r.ok) writeFileAtomic(path.join(dir, f), r.bytes, { root: dir });
    else if (r.reason !== "missing") throw new HfCheckpointError(`${path.join(source.dir, f)}: ${describeRefusal(r, MAX_COPIED_BYTES)}`);
  }
  // Shards of whole tensors, in the source's order; a tied head is not written (transformers ties it on load).
  const names = [...source.weights.tensors.keys()].filter((n) => !(n === "lm_head.weight" && source.shape.tiedEmbeddings));
  const shards: string[][] = [[]];
  let bytes = 0;
  for (const name of names) {
    const size = ((source.weights.tensors.get(name) as ExternalTensorData).length / byteSize(source.dtype)) * byteSize(dtype);
    if (bytes > 0 && bytes + size > SHARD_BYTES) {
      shards.push([]);
      bytes = 0;
    }
    (shards.at(-1) as string[]).push(name);
    bytes += size;
  }
  const fileOf = (i: number) =>
    shards.length === 1 ? "model.safetensors" : `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((shard, i) => {
    const tensors = new Map<string, TensorData>();
    for (const name of shard) {
      const ref = source.weights.tensors.get(name) as ExternalTensorData;
      const values = replaced.get(name);
      // An untouched tensor in its own dtype is copied byte for byte; otherwise converted through float32.
      const fileName = source.weights.fileNames.get(name) ?? name;
      if (values) tensors.set(fileName, fromFloat32(values, dtype, ref.shape));
      else if (ref.dtype === dtype) tensors.set(fileName, readTensorAsStored(source, ref, name));
      else tensors.set(fileName, fromFloat32(readTensorFloat32(source, ref, name), dtype, ref.shape));
      weightMap[fileName] = fileOf(i);
      total += (ref.length / byteSize(source.dtype)) * byteSize(dtype);
    }
    writeFileAtomic(path.join(dir, fileOf(i)), encodeSafetensors(tensors, { format: "pt" }), { root: dir });
  });
  if (shards.length > 1)
    writeFileAtomic(
      path.join(dir, "model.safetensors.index.json"),
      `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`,
      {
        root: dir,
      },
    );
  if (adapter) saveAdapter(dir, source, adapter);
}

/** PEFT's adapter files: a LoRA config transformers' PeftModel.from_pretrained accepts, and the A/B tensors. */
function saveAdapter(dir: string, source: HfModel, a: HfAdapterFiles): void {
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: path.basename(path.resolve(source.dir)),
    r: a.rank,
    lora_alpha: a.alpha,
    lora_dropout: 0,
    target_modules: typeof a.targets === "string" ? a.targets : [...a.targets],
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: a.modulesToSave ? [...a.modulesToSave] : null,
  };
  writeFileAtomic(path.join(dir, PEFT_DIR, PEFT_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`, { root: dir });
  writeFileAtomic(path.join(dir, PEFT_DIR, PEFT_WEIGHTS_FILE), encodeSafetensors(a.tensors, { format: "pt" }), { root: dir });
}
