// Reading .align sources: every way a path can be bad (missing, a directory, a device or FIFO, binary, not
// UTF-8, huge) becomes a diagnostic, never an exception. Sources are read through the one reader of files that
// are not ours (src/util/untrusted-file.ts): only regular files, size checked before the file is opened, so an
// `import "/dev/zero"` or a FIFO can neither hang the compiler nor grow its memory. Also maps offsets to
// line/column for spans.
import path from "node:path";
import { readUntrusted } from "../util/untrusted-file.ts";
import { firstInvalidUtf8 } from "../util/utf8.ts";
import { type Diagnostic, diagnostic, type Span } from "./diagnostic.ts";

/** .align files describe experiments; anything bigger than this is not one. */
export const MAX_SOURCE_BYTES = 16 * 1024 * 1024;

export class SourceFile {
  private lineStarts: number[] | undefined;

  constructor(
    /** Absolute path, used to resolve imports and as the identity of the file. */
    readonly absPath: string,
    /** The path shown to users in diagnostics: relative to the working directory when inside it. */
    readonly displayPath: string,
    readonly text: string,
  ) {}

  private starts(): number[] {
    if (!this.lineStarts) {
      const starts = [0];
      for (let i = 0; i < this.text.length; i++) if (this.text.charCodeAt(i) === 10) starts.push(i + 1);
      this.lineStarts = starts;
    }
    return this.lineStarts;
  }

  /** 1-based line and column of an offset (columns count UTF-16 code units, as editors do). */
  position(offset: number): { line: number; column: number } {
    const starts = this.starts();
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] ?? 0) + 1 };
  }

  span(start: number, end: number): Span {
    const s = this.position(start);
    const e = this.position(Math.max(start, end));
    return { file: this.displayPath, start, end: Math.max(start, end), line: s.line, column: s.column, endLine: e.line, endColumn: e.column };
  }

  /** The text of a 1-based line, without its line break. */
  lineText(line: number): string {
    const starts = this.starts();
    const start = starts[line - 1];
    if (start === undefined) return "";
    const next = starts[line];
    return this.text.slice(start, next === undefined ? this.text.length : next - 1).replace(/\r$/, "");
  }
}

export function displayPathOf(absPath: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, absPath);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : absPath;
}

export type ReadResult = { ok: true; file: SourceFile } | { ok: false; diagnostic: Diagnostic };

/** Reads one source. `at` is where the path was named (an import), for the diagnostic's span. */
export function readSourceFile(filePath: string, at?: Span): ReadResult {
  const absPath = path.resolve(filePath);
  const shown = displayPathOf(absPath);
  const read = readUntrusted(absPath, { maxBytes: MAX_SOURCE_BYTES });
  if (!read.ok) {
    switch (read.reason) {
      case "missing":
        return { ok: false, diagnostic: diagnostic("fileNotFound", { path: shown }, at) };
      case "not-regular":
        return {
          ok: false,
          diagnostic:
            read.detail === "a directory"
              ? diagnostic("fileIsDirectory", { path: shown }, at)
              : diagnostic("sourceNotRegular", { path: shown, kind: read.detail }, at),
        };
      case "too-large":
        return {
          ok: false,
          diagnostic: diagnostic("fileTooLarge", { size: Number.parseInt(read.detail, 10) || MAX_SOURCE_BYTES + 1, limit: MAX_SOURCE_BYTES }, at),
        };
      default:
        return { ok: false, diagnostic: diagnostic("fileUnreadable", { path: shown, reason: read.detail }, at) };
    }
  }
  const bytes = read.bytes;
  return decodeSource(absPath, bytes);
}

/** Decodes bytes as UTF-8, refusing binary data with a diagnostic that points at the first bad byte. */
export function decodeSource(absPath: string, bytes: Uint8Array): ReadResult {
  const displayPath = displayPathOf(absPath);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const prefix = new TextDecoder("utf-8").decode(bytes.subarray(0, offset));
    const file = new SourceFile(absPath, displayPath, prefix);
    return { ok: false, diagnostic: diagnostic("invalidUtf8", { offset }, file.span(prefix.length, prefix.length)) };
  }
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const file = new SourceFile(absPath, displayPath, text);
    return { ok: false, diagnostic: diagnostic("nulByte", {}, file.span(nul, nul + 1)) };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { ok: true, file: new SourceFile(absPath, displayPath, text) };
}
