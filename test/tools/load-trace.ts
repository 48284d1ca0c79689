// Which modules a process loads: runs node with an ES module load hook that writes down the URL of every module it
// loads (CommonJS packages imported from ES modules included; the files they require() are not seen). Used by
// test/cli-commands.test.ts (what `alignc --help` and `alignc check` load) and test/cli-build.test.ts (whether the
// bundle in dist/ ran, or the sources).
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const HOOKS = `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.ALIGNC_TEST_LOAD_TRACE, url + "\\n");
  return next(url, context);
}
`;

export interface TracedRun extends SpawnSyncReturns<string> {
  /** file: URLs (and node: builtins) in the order they were loaded. */
  loaded: string[];
}

/** Runs `node --import <hook> ...nodeArgs`, in `cwd` with `env` (default: this process's). */
export function runTracingLoads(nodeArgs: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): TracedRun {
  const dir = mkdtempSync(path.join(tmpdir(), "alignc-load-trace-"));
  try {
    writeFileSync(path.join(dir, "hooks.mjs"), HOOKS);
    writeFileSync(path.join(dir, "register.mjs"), 'import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n');
    const trace = path.join(dir, "loaded.txt");
    writeFileSync(trace, "");
    const r = spawnSync(process.execPath, ["--import", path.join(dir, "register.mjs"), ...nodeArgs], {
      cwd: options.cwd,
      env: { ...(options.env ?? process.env), ALIGNC_TEST_LOAD_TRACE: trace },
      encoding: "utf8",
      timeout: 120_000,
    });
    return { ...r, loaded: readFileSync(trace, "utf8").split("\n").filter(Boolean) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
