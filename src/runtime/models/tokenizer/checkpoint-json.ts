// The small JSON files of a Hugging Face checkpoint (tokenizer.json, tokenizer_config.json, a chat template), read
// through alignc's reader of untrusted files with their cap. A missing file is undefined; anything else that is wrong
// becomes the caller's error (`fail`), so each names its own code.
import { MAX_JSON_BYTES, refusalProblem, renderInputProblem } from "../../../diagnostics/input-problems.ts";
import { readUntrusted } from "../../../util/untrusted-file.ts";

export type Fail = (message: string) => Error;

/** The file's text, or undefined when it does not exist and is not `required`; `what` names it in a refusal. */
export function readCheckpointText(file: string, what: string, fail: Fail, required = false): string | undefined {
  const read = readUntrusted(file, { maxBytes: MAX_JSON_BYTES });
  if (read.ok) return read.bytes.toString("utf8");
  if (read.reason === "missing" && !required) return undefined;
  throw fail(renderInputProblem(refusalProblem(read, what, MAX_JSON_BYTES)));
}

/** The file's JSON object, or undefined when it does not exist and is not `required`. */
export function readCheckpointJson(file: string, what: string, fail: Fail, required = false): Record<string, unknown> | undefined {
  const text = readCheckpointText(file, what, fail, required);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw fail(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail(`${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}
