// Reading the JSON files alignc keeps (plan.json, sweep.json, evaluations/*.json, metrics/*.jsonl). alignc writes
// them atomically, but a run directory can still hold a bad one — written by an older alignc that died mid-write,
// copied half-way, edited by hand. That is a problem with the user's files, not a bug in alignc: the commands say
// which file, what is wrong and what to do (exit 1), instead of failing with a stack trace (exit 2).
import { describeRefusal, readUntrusted } from "./untrusted-file.ts";

/** Largest JSON file alignc keeps in a run directory that it reads back. */
const MAX_KEPT_JSON_BYTES = 1024 * 1024 * 1024;

/**
 * The file's text through the untrusted reader (a run directory may hold anything: a FIFO at plan.json must not
 * hang `alignc report`), decoded as UTF-8; an UnreadableFileError when it is not a regular file within the cap.
 */
function readText(file: string, remedy: string): string {
  const read = readUntrusted(file, { maxBytes: MAX_KEPT_JSON_BYTES });
  if (!read.ok) throw new UnreadableFileError(`${describeRefusal(read, MAX_KEPT_JSON_BYTES)}; ${remedy}`, file);
  return read.bytes.toString("utf8");
}

/** A file alignc keeps that cannot be read back (not valid JSON, or not what alignc writes there). */
export class UnreadableFileError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7019";
  override name = "UnreadableFileError";
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

const why = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Parses `file` as JSON. `remedy` says what rewrites it ("run `alignc run` again to rewrite it"). With `check`, a
 * value that is JSON but not of the expected shape is refused the same way (check returns what is wrong, if anything).
 */
export function readJsonFile<T>(file: string, remedy: string, check?: (value: unknown) => string | undefined): T {
  const text = readText(file, remedy);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UnreadableFileError(
      `${file} is not valid JSON (${why(e)}): it was cut short (a crash while it was written, an incomplete copy) or edited; ${remedy}`,
      file,
    );
  }
  const problem = check?.(value);
  if (problem) throw new UnreadableFileError(`${file} is not what alignc writes there (${problem}); ${remedy}`, file);
  return value as T;
}

/**
 * Parses `file` as JSON lines. A last line that does not parse is a write cut short (an append interrupted by a
 * crash) and is left out; a bad line before it is refused as readJsonFile refuses.
 */
export function readJsonLines<T>(file: string, remedy: string): T[] {
  const lines = readText(file, remedy).split("\n");
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      if (lines.slice(i + 1).every((l) => l.trim() === "")) break; // the last line, torn
      throw new UnreadableFileError(`${file}: line ${i + 1} is not valid JSON (${why(e)}); ${remedy}`, file);
    }
  }
  return out;
}

/** Whether a parsed value is a JSON object (not an array or null). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
