// The store key of a node that runs an external program (a command rater, corrupt's editor) covers the bytes of the
// program's files: argv entries that name files relative to the .align file, and the `files` setting — the other
// files it reads (modules it imports, prompt templates, configuration) — so editing any of them runs it again.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export function programDigest(argv: readonly unknown[], files: readonly unknown[], entryDir: string): string {
  const h = createHash("sha256");
  for (const arg of argv) {
    if (typeof arg !== "string" || arg === "") continue;
    const file = path.resolve(entryDir, arg);
    if (existsSync(file) && statSync(file).isFile()) h.update(`argv:${arg}\0`).update(readFileSync(file));
  }
  for (const name of files) {
    if (typeof name !== "string") continue;
    const file = path.resolve(entryDir, name);
    // A missing file hashes as missing: the program itself reports it when it runs.
    h.update(`file:${name}\0`).update(existsSync(file) && statSync(file).isFile() ? readFileSync(file) : Buffer.from("missing"));
  }
  return h.digest("hex");
}
