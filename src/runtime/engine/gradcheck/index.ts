// Runs every gradient-check case on a provider (used by `alignc doctor` and the test suite): each op's cases from the
// op registry (src/tensor/ops/), then the composite blocks the models are made of.

import type { GradCase } from "../../../tensor/ops/op-def.ts";
import { gradCheckCases } from "../../../tensor/ops/registry.ts";
import type { Provider } from "../providers.ts";
import { compositeCases } from "./composite.ts";
import { checkCase, isMissingKernel } from "./harness.ts";
import type { GradCheckRow } from "./types.ts";

export type { GradCheckRow } from "./types.ts";

export const allCases: readonly GradCase[] = [...gradCheckCases, ...compositeCases];

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
