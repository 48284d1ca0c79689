// Problems with what the runtime reads from users (data files, images, checkpoints, program files) as coded
// messages from the one table (src/diagnostics/messages.ts, band ALN6xxx), rendered in one way:
// `error[ALN6003]: image path "../x.png" leads outside the images root /data; set `images` to …`, prefixed with
// `file:row: ` by whoever knows the file and the row. Also the size caps of every kind of input.

import type { Refusal } from "../util/untrusted-file.ts";
import { type MessageArgs, messages } from "./messages.ts";

/** Largest data file read as a JSON array (parsed whole); JSON lines files are read a row at a time. */
export const MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024;
/** Largest JSON lines data file. */
export const MAX_JSONL_BYTES = 64 * 1024 * 1024 * 1024;
/** Longest row of a JSON lines file. */
export const MAX_ROW_BYTES = 64 * 1024 * 1024;
/** Largest image file. */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;
/** Largest JSON file of a checkpoint or a world dataset (config.json, tokenizer.json, manifest.json, items.jsonl). */
export const MAX_JSON_BYTES = 256 * 1024 * 1024;
/** Largest weights file of a TinyVLM checkpoint (read whole into one buffer). */
export const MAX_WEIGHTS_BYTES = 2 * 1024 * 1024 * 1024;
/** Program files are hashed by streaming: no memory grows with them, so the cap only bounds time. */
export const MAX_PROGRAM_FILE_BYTES = 64 * 1024 * 1024 * 1024;

export type InputMessageId =
  | "inputMissing"
  | "inputNotRegular"
  | "inputOutsideRoot"
  | "inputTooLarge"
  | "imageUnreadable"
  | "imageTooLarge"
  | "rowNotUtf8"
  | "fileUtf16"
  | "emptyField"
  | "badRow"
  | "inputUnreadable"
  | "parquetUnreadable";

export interface InputProblem {
  code: string;
  /** The message, with its help after a semicolon. */
  text: string;
}

export function inputProblem<Id extends InputMessageId>(id: Id, args: MessageArgs<Id>): InputProblem {
  const m = messages[id] as unknown as { code: string; message: (a: MessageArgs<Id>) => string; help?: (a: MessageArgs<Id>) => string };
  const help = m.help?.(args);
  return { code: m.code, text: help ? `${m.message(args)}; ${help}` : m.message(args) };
}

/** `error[CODE]: text`. */
export const renderInputProblem = (p: InputProblem): string => `error[${p.code}]: ${p.text}`;

/** Sizes as people read them: 1.5 GiB, 64 MiB, 812 bytes. */
export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * A refused read as a coded problem. `what` names the input ("data file", "image"); `shown` is the path as the
 * user wrote it (default: the absolute path); `root` the images root, for paths that leave it.
 */
export function refusalProblem(r: Refusal, what: string, limit: number, opts: { shown?: string; root?: string } = {}): InputProblem {
  const shown = opts.shown ?? r.path;
  switch (r.reason) {
    case "missing":
      return inputProblem("inputMissing", { what, path: shown, lookedFor: shown === r.path ? "" : r.path });
    case "not-regular":
      return inputProblem("inputNotRegular", { what, path: shown, kind: r.detail });
    case "outside-root":
      return inputProblem("inputOutsideRoot", { what, written: shown, root: opts.root ?? "", real: r.detail === r.path ? "" : r.detail });
    case "too-large": {
      const bytes = /^(\d+) bytes$/.exec(r.detail);
      return inputProblem("inputTooLarge", { what, path: shown, size: bytes ? formatBytes(Number(bytes[1])) : r.detail, limit: formatBytes(limit) });
    }
    case "unreadable":
      return inputProblem("inputUnreadable", { what, path: shown, reason: r.detail });
  }
}
