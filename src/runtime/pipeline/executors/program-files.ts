// The store key of a node that runs an external program (a command rater, corrupt's editor) covers the bytes of the
// program's files: argv entries that name files relative to the .align file, and the `files` setting — the other
// files it reads (modules it imports, prompt templates, configuration) — so editing any of them runs it again.
// Files are hashed by streaming through the untrusted reader: only regular files are read (an argv entry naming a
// device or a FIFO is recorded as refused, unread), whatever their size, in bounded memory.
import { createHash } from "node:crypto";
import path from "node:path";
import { MAX_PROGRAM_FILE_BYTES } from "../../../diagnostics/input-problems.ts";
import { checkUntrusted, hashUntrusted } from "../../../util/untrusted-file.ts";

export function programDigest(argv: readonly unknown[], files: readonly unknown[], entryDir: string): string {
  const h = createHash("sha256");
  const opts = { maxBytes: MAX_PROGRAM_FILE_BYTES };
  for (const arg of argv) {
    if (typeof arg !== "string" || arg === "") continue;
    // An argument is a file only when it names a regular file; anything else (a flag, a device) is not hashed.
    const file = path.resolve(entryDir, arg);
    if (!checkUntrusted(file, opts).ok) continue;
    h.update(`argv:${arg}\0`);
    const r = hashUntrusted(file, opts, (chunk) => h.update(chunk));
    if (!r.ok) h.update(`refused:${r.reason}`); // replaced since the check
  }
  for (const name of files) {
    if (typeof name !== "string") continue;
    h.update(`file:${name}\0`);
    // A missing file hashes as missing: the program itself reports it when it runs.
    const r = hashUntrusted(path.resolve(entryDir, name), opts, (chunk) => h.update(chunk));
    if (!r.ok) h.update(r.reason === "missing" ? "missing" : `refused:${r.reason}`);
  }
  return h.digest("hex");
}
