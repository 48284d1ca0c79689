// Runs every gradient-check case on a provider (used by `alignc doctor` and the test suite).

import type { Provider } from "../providers.ts";
import { elementwiseCases, linalgCases, nnCases, reduceCases, shapeCases } from "./cases.ts";
import { compositeCases } from "./composite.ts";
import { checkCase, isMissingKernel } from "./harness.ts";
import type { GradCase, GradCheckRow } from "./types.ts";

export type { GradCase, GradCheckRow } from "./types.ts";

export const allCases: readonly GradCase[] = [...elementwiseCases, ...linalgCases, ...shapeCases, ...reduceCases, ...nnCases, ...compositeCases];

export interface GradCheckOptions {
  provider: Provider;
  /** Only cases whose op matches. */
  ops?: readonly string[];
  log?: (row: GradCheckRow) => void;
}

/** float64 first; a case whose ops lack float64 kernels on the provider is checked in float32 instead. */
export async function runGradientChecks(options: GradCheckOptions): Promise<GradCheckRow[]> {
  const rows: GradCheckRow[] = [];
  for (const c of allCases) {
    if (options.ops && !options.ops.includes(c.op)) continue;
    let row = await checkCase(c, { provider: options.provider, dtype: "float64" });
    if (isMissingKernel(row)) row = await checkCase(c, { provider: options.provider, dtype: "float32" });
    rows.push(row);
    options.log?.(row);
  }
  return rows;
}
