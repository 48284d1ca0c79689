// The .align files of a folder (sorted absolute paths), for tests that run over every example and test case; and
// `alignc` run as a user runs it (runAlignc).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** `dir` is absolute or relative to the repository root; a missing folder has no files; `recursive` descends. */
export function alignFiles(dir: string, options: { recursive?: boolean } = {}): string[] {
  const abs = path.resolve(repoRoot, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const full = path.join(abs, entry.name);
    if (entry.isDirectory() && options.recursive) out.push(...alignFiles(full, options));
    else if (entry.isFile() && entry.name.endsWith(".align")) out.push(full);
  }
  return out.sort();
}

/** `alignc <args>` through bin/alignc.js in `cwd`, without colours; its status and both streams. */
export function runAlignc(args: readonly string[], cwd: string) {
  return spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
}
