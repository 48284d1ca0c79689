// The `typescript` rater: a function of type Rater (src/api/rater.ts) exported by the user's module, called in process.
// `alignc check` has already verified the export's type (src/compiler/hooks/typescript-rater.ts); at run time the
// module is imported as it is (alignc runs under the tsx loader, so .ts modules load directly), and every reply is
// checked again, since a type check cannot see scores off the scale.
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Rater } from "../../api/rater.ts";
import type { RatingInfo } from "../data/prefdata/records.ts";
import { AttemptFailure, type Part, type RaterMode, RaterUnavailable, runPlan } from "./protocol.ts";
import type { ItemFailure, RateHooks, RaterReply, RaterRequest, RaterRuntime } from "./types.ts";

export interface TypeScriptRaterOptions {
  info: RatingInfo;
  /** The module: absolute, or relative to `cwd`. */
  module: string;
  /** The .align file's directory, for a relative `module`. Default: the current directory. */
  cwd?: string;
  /** The export to call (the `export` setting). Default "rate". */
  exportName?: string;
  mode?: RaterMode;
  /** Calls in flight at once, for async raters. Default 8. */
  concurrency?: number;
  /** Retries after a thrown error or an invalid reply. Default 0: an in-process function is usually deterministic. */
  retries?: number;
  /** Wait before retry k is backoffBaseMs · 2^k. Default 500. */
  backoffBaseMs?: number;
}

export function createTypeScriptRater(options: TypeScriptRaterOptions): RaterRuntime {
  const modulePath = isAbsolute(options.module) ? options.module : resolve(options.cwd ?? process.cwd(), options.module);
  const exportName = options.exportName ?? "rate";
  let loaded: Promise<Rater> | undefined;
  return {
    info: options.info,
    async rate(requests: readonly RaterRequest[], hooks: RateHooks): Promise<ItemFailure[]> {
      loaded ??= loadRater(modulePath, exportName);
      const rater = await loaded;
      const attempt = async (part: Part): Promise<RaterReply> => {
        try {
          // A copy per call: the user's function may keep or change what it is given.
          return await rater(structuredClone(part.request));
        } catch (error) {
          throw new AttemptFailure(`${exportName} in ${modulePath} threw: ${describeError(error)}`);
        }
      };
      return runPlan(requests, hooks, {
        mode: options.mode ?? "listwise",
        concurrency: options.concurrency ?? 8,
        retries: options.retries ?? 0,
        backoffBaseMs: options.backoffBaseMs ?? 500,
        attempt,
      });
    },
  };
}

async function loadRater(modulePath: string, exportName: string): Promise<Rater> {
  let exports: Record<string, unknown>;
  try {
    // tsx's tsImport loads the file as an ES module whatever package.json beside it says (a rater in a folder without
    // "type": "module" would otherwise load as CommonJS and fail on its export syntax).
    // tsx (and the esbuild it drives) is loaded here, when a TypeScript rater runs, not by every command that loads the runtime.
    const { tsImport } = await import("tsx/esm/api");
    exports = (await tsImport(pathToFileURL(modulePath).href, import.meta.url)) as Record<string, unknown>;
  } catch (error) {
    throw new RaterUnavailable(
      `could not load the TypeScript rater ${modulePath}: ${describeError(error)}; run \`alignc check\` on the .align file to see the problem`,
    );
  }
  const rater = exports[exportName];
  if (typeof rater !== "function") {
    const names = Object.keys(exports).filter((k) => typeof exports[k] === "function");
    const have = names.length > 0 ? `its functions are: ${names.join(", ")}` : "it exports no functions";
    throw new RaterUnavailable(
      `the TypeScript rater ${modulePath} has no function export named ${JSON.stringify(exportName)} (${have}); set the rater's export setting`,
    );
  }
  return rater as Rater;
}

/** An error's message on one line (tsx's syntax errors span several). */
function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
