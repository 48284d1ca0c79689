// Model checkpoints as Hugging Face-style directories: `config.json` (alignc's model config plus format
// version), `tokenizer.json` and `model.safetensors`. Saving builds the directory next to the target and renames
// it into place, so a crash never leaves a half-written checkpoint and an existing one is replaced only whole.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { MAX_JSON_BYTES, MAX_WEIGHTS_BYTES, refusalProblem, renderInputProblem } from "../../diagnostics/input-problems.ts";
import { decodeSafetensors, encodeSafetensors } from "../../formats/safetensors.ts";
import { CHECKPOINT_FILES as CHECKPOINT_FILE_NAMES } from "../../graph/vocabulary.ts";
import { SIZES, type TinyVlmConfig } from "../../models/tinyvlm/config.ts";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import { readUntrusted } from "../../util/untrusted-file.ts";
import { ALIGNC_VERSION } from "../../version.ts";

export const CHECKPOINT_FORMAT = "alignc-checkpoint";
export const CHECKPOINT_VERSION = 1;

export class CheckpointError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7004";
  override name = "CheckpointError";
}

export interface Checkpoint {
  config: TinyVlmConfig;
  /** The tokenizer.json contents, as parsed JSON. */
  tokenizer: unknown;
  params: Map<string, TensorData>;
  /**
   * Extra files written beside the three (e.g. a LoRA phase's `adapter_model.safetensors` and
   * `adapter_config.json`), by file name. Loading ignores them: the checkpoint stays a plain model.
   */
  files?: Readonly<Record<string, Uint8Array>>;
}

/** The files of a checkpoint directory (src/graph/vocabulary.ts: the checker looks for the same ones). */
export const CHECKPOINT_FILES: ReadonlySet<string> = new Set(CHECKPOINT_FILE_NAMES);

export function saveCheckpoint(dir: string, ck: Checkpoint): void {
  const target = path.resolve(dir);
  const staging = `${target}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const config = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, alignc: ALIGNC_VERSION, model_type: "tinyvlm", ...ck.config };
    writeFileAtomic(path.join(staging, "config.json"), new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`));
    writeFileAtomic(path.join(staging, "tokenizer.json"), new TextEncoder().encode(JSON.stringify(ck.tokenizer)));
    writeFileAtomic(path.join(staging, "model.safetensors"), encodeSafetensors(ck.params, { format: "pt", alignc: ALIGNC_VERSION }));
    for (const [name, bytes] of Object.entries(ck.files ?? {})) {
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || CHECKPOINT_FILES.has(name))
        throw new CheckpointError(`checkpoint extra file ${JSON.stringify(name)}: use a plain file name other than ${[...CHECKPOINT_FILES].join(", ")}`);
      writeFileAtomic(path.join(staging, name), bytes);
    }
    // Replace an existing checkpoint only after the new one is complete.
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(staging, target);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

export function loadCheckpoint(dir: string): Checkpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(`${dir}: not a checkpoint directory (expected config.json, tokenizer.json, model.safetensors)`);
  // Every file is read (or refused) before any is parsed: a missing or special file is named first.
  const configFile = path.join(dir, "config.json");
  const tokenizerFile = path.join(dir, "tokenizer.json");
  const weightsFile = path.join(dir, "model.safetensors");
  const bytes = [readCheckpointFile(configFile, MAX_JSON_BYTES), readCheckpointFile(tokenizerFile, MAX_JSON_BYTES)];
  const weights = readCheckpointFile(weightsFile, MAX_WEIGHTS_BYTES);
  const config = checkConfig(parseJson(configFile, bytes[0] as Buffer), configFile);
  const tokenizer = parseJson(tokenizerFile, bytes[1] as Buffer);
  const { tensors } = decodeSafetensors(weights, weightsFile);
  return { config, tokenizer, params: tensors };
}

/** A file of a checkpoint directory through the untrusted reader: a regular file within the cap, or a CheckpointError. */
function readCheckpointFile(file: string, cap: number): Buffer {
  const read = readUntrusted(file, { maxBytes: cap });
  if (read.ok) return read.bytes;
  if (read.reason === "missing")
    throw new CheckpointError(`${path.dirname(file)}: ${path.basename(file)} is missing; a checkpoint has config.json, tokenizer.json and model.safetensors`);
  throw new CheckpointError(renderInputProblem(refusalProblem(read, "checkpoint file", cap)));
}

function parseJson(file: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

function checkConfig(raw: unknown, file: string): TinyVlmConfig {
  if (typeof raw !== "object" || raw === null) throw new CheckpointError(`${file}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${file}: "format" must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify(o.format)}`);
  if (o.version !== CHECKPOINT_VERSION)
    throw new CheckpointError(
      `${file}: checkpoint format version ${JSON.stringify(o.version)} is not supported (this alignc reads version ${CHECKPOINT_VERSION})`,
    );
  const int = (key: string, v: unknown) => {
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new CheckpointError(`${file}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const stackOf = (key: string) => {
    const s = o[key] as Record<string, unknown> | undefined;
    if (typeof s !== "object" || s === null) throw new CheckpointError(`${file}: "${key}" must be an object with width, layers, heads, hidden`);
    return {
      width: int(`${key}.width`, s.width),
      layers: int(`${key}.layers`, s.layers),
      heads: int(`${key}.heads`, s.heads),
      hidden: int(`${key}.hidden`, s.hidden),
    };
  };
  if (typeof o.size !== "string") throw new CheckpointError(`${file}: "size" must be a string (${Object.keys(SIZES).join(", ")} or a custom name)`);
  if (o.dtype !== "float32" && o.dtype !== "float64")
    throw new CheckpointError(`${file}: "dtype" must be "float32" or "float64", got ${JSON.stringify(o.dtype)}`);
  return {
    size: o.size,
    vocab: int("vocab", o.vocab),
    imageSize: int("imageSize", o.imageSize),
    patch: int("patch", o.patch),
    vision: stackOf("vision"),
    text: stackOf("text"),
    textContext: int("textContext", o.textContext),
    dtype: o.dtype,
  };
}
