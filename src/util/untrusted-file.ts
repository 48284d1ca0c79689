// The one way alignc reads a file that is not its own: .align sources and imports, data files, the images their
// rows name, checkpoints and rater program files (docs/security.md). Every check happens before the file is
// opened, so a refused path is never read:
//   1. with a root, the path must stay inside it as written (no `..`, no absolute path elsewhere) and once
//      symbolic links are resolved (realpath, which reads links, never file contents);
//   2. the target must be a regular file — directories, devices (/dev/zero), FIFOs and sockets are refused, so
//      nothing can hang a read or grow memory without bound;
//   3. its size must be within the caller's cap;
//   4. it is opened without following a link or blocking (O_NOFOLLOW | O_NONBLOCK on the real path), and the open
//      descriptor must be the file that was checked (same device and inode), so a swap after the checks is refused.
// Contents are read in chunks: hashing streams, and a file that grows past the cap while being read is refused.
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats, statSync } from "node:fs";
import path from "node:path";

export type RefusalReason = "missing" | "not-regular" | "outside-root" | "too-large" | "unreadable";

/** Why a path was not read. `detail`: what the path is (for not-regular), where it leads, the size, or the OS error. */
export interface Refusal {
  ok: false;
  reason: RefusalReason;
  /** The path as given, resolved to an absolute path. */
  path: string;
  detail: string;
}

/** A directory that paths must stay inside, with its real path (symbolic links resolved) computed once. */
export interface ReadRoot {
  dir: string;
  real: string;
}

export interface UntrustedOptions {
  /** When set, refuse paths that lead outside this directory (as written, or through symbolic links). */
  root?: ReadRoot;
  /** Largest file accepted, in bytes. */
  maxBytes: number;
}

export interface Checked {
  ok: true;
  /** Absolute path as given. */
  path: string;
  /** Real path (symbolic links resolved): what is opened. */
  real: string;
  size: number;
  stats: Stats;
}

const CHUNK = 1 << 20;
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** The root for `dir`, or undefined when it does not exist. */
export function readRoot(dir: string): ReadRoot | undefined {
  const abs = path.resolve(dir);
  try {
    return { dir: abs, real: realpathSync(abs) };
  } catch {
    return undefined;
  }
}

/** Whether `file` is `root` or below it (both absolute, normalised). */
export function isInside(root: string, file: string): boolean {
  const rel = path.relative(root, file);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** What a non-regular file is, in words. */
export function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isFIFO()) return "a FIFO (named pipe)";
  if (stats.isSocket()) return "a socket";
  if (stats.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

const refuse = (reason: RefusalReason, file: string, detail: string): Refusal => ({ ok: false, reason, path: file, detail });

function errnoRefusal(file: string, e: unknown): Refusal {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return refuse("missing", file, "no such file");
  if (code === "ELOOP") return refuse("unreadable", file, "too many levels of symbolic links");
  return refuse("unreadable", file, code ?? String(e));
}

/** Checks a path by every rule without opening it. */
export function checkUntrusted(file: string, opts: UntrustedOptions): Checked | Refusal {
  const abs = path.resolve(opts.root?.dir ?? ".", file);
  if (opts.root && !isInside(opts.root.dir, abs)) return refuse("outside-root", abs, abs);
  let real: string;
  let stats: Stats;
  try {
    real = realpathSync(abs);
    if (opts.root && !isInside(opts.root.real, real)) return refuse("outside-root", abs, real);
    stats = statSync(real);
  } catch (e) {
    return errnoRefusal(abs, e);
  }
  if (!stats.isFile()) return refuse("not-regular", abs, fileKind(stats));
  if (stats.size > opts.maxBytes) return refuse("too-large", abs, `${stats.size} bytes`);
  return { ok: true, path: abs, real, size: stats.size, stats };
}

/**
 * Opens a checked path and calls `use` with the descriptor; closes it afterwards. Refuses a file that changed
 * between the check and the open (another inode, no longer a regular file).
 */
function withOpen<T>(checked: Checked, use: (fd: number) => T): T | Refusal {
  let fd: number;
  try {
    fd = openSync(checked.real, OPEN_FLAGS);
  } catch (e) {
    return errnoRefusal(checked.path, e);
  }
  try {
    const now = fstatSync(fd);
    if (!now.isFile()) return refuse("not-regular", checked.path, fileKind(now));
    if (now.ino !== checked.stats.ino || now.dev !== checked.stats.dev) return refuse("unreadable", checked.path, "the file was replaced while alignc read it");
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `onChunk` with the file's contents, a chunk at a time (each chunk is only valid during the call).
 * Returns the number of bytes read, or why the file was refused.
 */
export function streamUntrusted(file: string, opts: UntrustedOptions, onChunk: (chunk: Buffer) => void): { ok: true; size: number; real: string } | Refusal {
  const checked = checkUntrusted(file, opts);
  if (!checked.ok) return checked;
  const result = withOpen(checked, (fd) => {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, checked.size + 1)));
    let total = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (e) {
        return errnoRefusal(checked.path, e);
      }
      if (n === 0) break;
      total += n;
      if (total > opts.maxBytes) return refuse("too-large", checked.path, `more than ${opts.maxBytes} bytes (it grew while alignc read it)`);
      onChunk(buffer.subarray(0, n));
    }
    return total;
  });
  if (typeof result !== "number") return result;
  return { ok: true, size: result, real: checked.real };
}

/** The whole file (within the cap), or why it was refused. */
export function readUntrusted(file: string, opts: UntrustedOptions): { ok: true; bytes: Buffer; real: string } | Refusal {
  const chunks: Buffer[] = [];
  const r = streamUntrusted(file, opts, (chunk) => chunks.push(Buffer.from(chunk)));
  if (!r.ok) return r;
  return { ok: true, bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), real: r.real };
}

/**
 * Reads parts of a file without reading it whole (the header of a multi-gigabyte safetensors file): `use` gets a
 * positional reader that returns at most `length` bytes at `position` (fewer at the end of the file) and the file's
 * size. The file is checked and opened once, as for every other read; the cap bounds the file's size, not what is read.
 */
export function withUntrustedReader<T>(
  file: string,
  opts: UntrustedOptions,
  use: (read: (position: number, length: number) => Buffer, size: number) => T,
): { ok: true; value: T; real: string } | Refusal {
  const checked = checkUntrusted(file, opts);
  if (!checked.ok) return checked;
  const result = withOpen(checked, (fd) => {
    const read = (position: number, length: number): Buffer => {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, checked.size - position)));
      let at = 0;
      while (at < buffer.length) {
        const n = readSync(fd, buffer, at, buffer.length - at, position + at);
        if (n === 0) break;
        at += n;
      }
      return buffer.subarray(0, at);
    };
    try {
      return { value: use(read, checked.size) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code && typeof (e as NodeJS.ErrnoException).syscall === "string") return errnoRefusal(checked.path, e);
      throw e;
    }
  });
  if ("ok" in result) return result;
  return { ok: true, value: result.value, real: checked.real };
}

/** Feeds the file to `update` (a hash's update) in chunks: bounded memory whatever the file's size. */
export function hashUntrusted(file: string, opts: UntrustedOptions, update: (chunk: Buffer) => unknown): { ok: true; size: number } | Refusal {
  const r = streamUntrusted(file, opts, (chunk) => {
    update(chunk);
  });
  return r.ok ? { ok: true, size: r.size } : r;
}

/** A refusal in words, for messages that have no code table of their own (tests, logs). */
export function describeRefusal(r: Refusal, limit?: number): string {
  switch (r.reason) {
    case "missing":
      return `${r.path} does not exist`;
    case "not-regular":
      return `${r.path} is ${r.detail}, not a regular file`;
    case "outside-root":
      return r.detail === r.path ? `${r.path} is outside the root` : `${r.path} leads to ${r.detail}, outside the root`;
    case "too-large":
      return `${r.path} is ${r.detail}${limit !== undefined ? `, over the limit of ${limit} bytes` : ""}`;
    case "unreadable":
      return `${r.path} cannot be read: ${r.detail}`;
  }
}
