// The one way alignc writes into a directory it owns: the run directory, the store, an export target, a file
// `alignc fmt` rewrites. Such a directory may hold things alignc did not put there (a copied run directory, a
// shared filesystem, a link someone planted), so every write here
//
//   - creates folders one component at a time below a root, and before creating anything in or writing through a
//     component checks that it is a real directory inside the root (a symbolic link is followed only when it
//     leads inside the root): nothing is ever created outside the root, not even before the check;
//   - writes a file through a temporary file in the same folder, created exclusively under an unpredictable name
//     (`.<name>.<random hex>.tmp`, O_CREAT|O_EXCL|O_NOFOLLOW: a link planted at that name is never followed), then
//     fsyncs and renames it over the file — rename replaces a link at the file's own name instead of writing
//     through it, and a reader sees the old file or the new one, never half of one.
//
// What this cannot stop is someone swapping a checked folder for a link in the instant between the check and the
// write (Node has no openat): it guards against links left in place beforehand, not a racing attacker.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import path from "node:path";

/** A write that would go through a link (or a file where a folder belongs) leading out of the directory alignc owns. */
export class UnsafePathError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7020";
  override name = "UnsafePathError";
  constructor(
    message: string,
    /** The path alignc was asked to use. */
    readonly path: string,
    /** Where it leads, when it leads somewhere else. */
    readonly leadsTo?: string,
  ) {
    super(message);
  }
}

const within = (real: string, realRoot: string): boolean => real === realRoot || real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function linkText(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return "?";
  }
}

const below = (rel: string): boolean => !(path.isAbsolute(rel) || rel === ".." || rel.startsWith(`..${path.sep}`));

/**
 * `dir` relative to `root` (by name, or to root's real path: callers pass paths they got from mkdirInside), as
 * components; refuses a `dir` that is neither root nor below it.
 */
function componentsBelow(root: string, realRoot: string, dir: string): string[] {
  let rel = path.relative(path.resolve(root), path.resolve(dir));
  if (!below(rel)) rel = path.relative(realRoot, path.resolve(dir));
  if (!below(rel))
    throw new UnsafePathError(`refusing to write ${dir}: it is not inside ${root}, the directory alignc writes into; give a path inside it`, dir);
  return rel.split(path.sep).filter((c) => c !== "" && c !== ".");
}

/**
 * Walks `dir` below `root` one component at a time (creating missing ones when `create`), and returns its real
 * path; undefined when a component is missing and `create` is off. Throws UnsafePathError when a component is a
 * link leading out of root (or nowhere), or a file.
 */
function walkInside(root: string, dir: string, create: boolean): string | undefined {
  if (create) mkdirSync(root, { recursive: true }); // the root itself is the caller's choice (--run-dir, the file's folder)
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch (e) {
    if (!create && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  let cur = realRoot;
  let shown = path.resolve(root);
  const parts = componentsBelow(root, realRoot, dir);
  for (const name of parts) {
    const next = path.join(cur, name);
    shown = path.join(shown, name);
    let st = lstatOrUndefined(next);
    if (!st) {
      if (!create) return undefined;
      try {
        mkdirSync(next); // one level, in a folder already checked to be inside root
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e; // made by someone else meanwhile: check it below
      }
      st = lstatSync(next);
    }
    if (st.isSymbolicLink()) {
      let real: string;
      try {
        real = realpathSync(next);
      } catch {
        throw new UnsafePathError(
          `refusing to write into ${shown}: it is a symbolic link to ${linkText(next)}, which does not exist; remove the link (alignc makes the folder itself) and run again`,
          shown,
          linkText(next),
        );
      }
      if (!within(real, realRoot))
        throw new UnsafePathError(
          `refusing to write into ${shown}: it is a symbolic link to ${real}, outside ${realRoot}, and alignc writes only inside it; remove the link (or make it point inside ${realRoot}) and run again`,
          shown,
          real,
        );
      if (!lstatSync(real).isDirectory())
        throw new UnsafePathError(`refusing to write into ${shown}: it links to ${real}, which is not a folder; remove it and run again`, shown, real);
      cur = real;
    } else if (st.isDirectory()) cur = next;
    else throw new UnsafePathError(`refusing to write into ${shown}: it is a file where alignc needs a folder; move it away and run again`, shown);
  }
  return cur;
}

/**
 * Creates `dir` and its missing parents below `root` (created too when missing), one component at a time, each
 * checked before anything is created in it. Returns the folder's real path.
 */
export function mkdirInside(root: string, dir: string): string {
  return walkInside(root, dir, true) as string;
}

/** The real path of `dir` below `root` without creating anything; undefined when some part of it does not exist. */
export function resolveInside(root: string, dir: string): string | undefined {
  return walkInside(root, dir, false);
}

/** The folder `file` goes in, checked (and made) below `opts.root` when given; and the real path to write. */
function destination(file: string, root: string | undefined): { dir: string; target: string } {
  const base = path.basename(path.resolve(file));
  const dir = root !== undefined ? mkdirInside(root, path.dirname(path.resolve(file))) : path.dirname(path.resolve(file));
  const target = path.join(dir, base);
  const st = lstatOrUndefined(target);
  if (st?.isDirectory()) throw new UnsafePathError(`refusing to write ${file}: it is a folder; name a file`, file);
  return { dir, target };
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** An unpredictable name beside `base` in `dir` ("." first, so listings and globs pass over it). */
function tempName(dir: string, base: string): string {
  return path.join(dir, `.${base.slice(0, 80)}.${randomBytes(12).toString("hex")}.tmp`);
}

/** Opens a fresh temporary file beside `target` exclusively (never through a link); returns its path and fd. */
function openTemp(dir: string, target: string, mode: number): { tmp: string; fd: number } {
  for (let attempt = 0; ; attempt++) {
    const tmp = tempName(dir, path.basename(target));
    try {
      return { tmp, fd: openSync(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | O_NOFOLLOW, mode) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw e;
    }
  }
}

/** Fills a fresh temporary file with `fill`, fsyncs it and renames it over `target`; on any error the temp goes. */
function replaceWith(dir: string, target: string, mode: number | undefined, fill: (fd: number) => void): void {
  const existing = lstatOrUndefined(target);
  const { tmp, fd } = openTemp(dir, target, mode ?? 0o666);
  try {
    try {
      // A file being rewritten (alignc fmt on the user's file) keeps its permissions; a new one gets `mode`.
      if (mode === undefined && existing?.isFile()) fchmodSync(fd, existing.mode & 0o7777);
      fill(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface WriteOptions {
  /** The directory the write must stay inside; the file's folder is created with mkdirInside. */
  root?: string;
  /** Permissions of a new file (before the umask); a rewritten file keeps its own. */
  mode?: number;
}

/**
 * Writes `data` to `file` atomically: a temporary file beside it, created exclusively under an unpredictable name,
 * written, fsync'd and renamed over `file` (a link at `file` is replaced, not written through).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
  const { dir, target } = destination(file, opts.root);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  replaceWith(dir, target, opts.mode, (fd) => {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
  });
}

const CHUNK = 1 << 20;

/** Copies `src` to `dest` atomically, as writeFileAtomic writes (in chunks: big files never sit in memory whole). */
export function copyFileAtomic(src: string, dest: string, opts: { root?: string; mode?: number } = {}): void {
  const { dir, target } = destination(dest, opts.root);
  const input = openSync(src, "r");
  try {
    const mode = opts.mode ?? fstatSync(input).mode & 0o777;
    const buf = Buffer.allocUnsafe(CHUNK);
    replaceWith(dir, target, mode, (fd) => {
      for (;;) {
        const n = readSync(input, buf, 0, CHUNK, null);
        if (n === 0) break;
        for (let at = 0; at < n; ) at += writeSync(fd, buf, at, n - at);
      }
    });
  } finally {
    closeSync(input);
  }
}

/**
 * Appends `data` to `file` below `root` (created when missing). The folder is checked as mkdirInside checks; the
 * file is opened with O_NOFOLLOW, so a link planted at its name is refused rather than appended through.
 */
export function appendFileInside(root: string, file: string, data: string | Uint8Array): void {
  const dir = mkdirInside(root, path.dirname(path.resolve(file)));
  const target = path.join(dir, path.basename(file));
  let fd: number;
  try {
    fd = openSync(target, constants.O_CREAT | constants.O_APPEND | constants.O_WRONLY | O_NOFOLLOW, 0o666);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "EMLINK")
      throw new UnsafePathError(
        `refusing to append to ${file}: it is a symbolic link (to ${linkText(target)}); remove it and run again`,
        file,
        linkText(target),
      );
    throw e;
  }
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes `target` (a file, a link itself — never what it points to — or a folder with its contents) when its folder
 * is inside `root`; nothing happens when it does not exist. A folder of its path that leads out of root is refused.
 */
export function removeInside(root: string, target: string): void {
  const dir = resolveInside(root, path.dirname(path.resolve(target)));
  if (dir === undefined) return;
  rmSync(path.join(dir, path.basename(target)), { recursive: true, force: true });
}

/**
 * Makes `link` a symbolic link to `to` (stored as given: pass a relative path for a relative link): created under an
 * unpredictable name in the link's folder and renamed into place, so the name is never missing and nothing is
 * written through whatever was at `link` before. A real folder at `link` (an old layout's copy) is removed first.
 */
export function symlinkAtomic(to: string, link: string, opts: { root?: string; type?: "dir" | "file" } = {}): void {
  const base = path.basename(path.resolve(link));
  const dir = opts.root !== undefined ? mkdirInside(opts.root, path.dirname(path.resolve(link))) : path.dirname(path.resolve(link));
  const target = path.join(dir, base);
  const st = lstatOrUndefined(target);
  if (st?.isDirectory()) rmSync(target, { recursive: true, force: true });
  for (let attempt = 0; ; attempt++) {
    const tmp = tempName(dir, base);
    try {
      symlinkSync(to, tmp, opts.type ?? "dir");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && attempt < 5) continue;
      throw e;
    }
    try {
      renameSync(tmp, target);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
      throw e;
    }
    return;
  }
}
