// Every path below a folder with its contents, for "nothing outside changed" comparisons before and after a run.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Paths relative to `dir` → contents (folders as "", links as `-> path`), read as latin1 so any bytes compare. */
export function treeListing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      const rel = path.relative(dir, full);
      if (e.isSymbolicLink()) out[rel] = `-> ${full}`;
      else if (e.isDirectory()) {
        out[`${rel}/`] = "";
        walk(full);
      } else out[rel] = readFileSync(full, "latin1");
    }
  };
  walk(dir);
  return out;
}
