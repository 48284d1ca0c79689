// align.lock: what a run resolved and used, as YAML — params, the trial, and per node its settings, compiler hash,
// store key, digests of external files, status and summary — plus a digest of alignc's own source, so a result
// can be traced to the exact code, models and data that made it.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { ExecutionGraph } from "../../graph/graph.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import { ALIGNC_VERSION } from "../../version.ts";

export type NodeStatus = "ran" | "cached" | "failed" | "not run";

export interface LockedNode {
  key: string;
  external?: string;
  status: NodeStatus;
  seconds?: number;
  summary?: Record<string, unknown>;
  error?: string;
}

/** sha256 over alignc's TypeScript sources (src/), in path order. */
export function codeDigest(): string {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const h = createHash("sha256");
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, name.name);
      if (name.isDirectory()) walk(full);
      else if (/\.(ts|json)$/.test(name.name)) h.update(path.relative(root, full)).update(readFileSync(full));
    }
  };
  walk(root);
  return h.digest("hex");
}

export function writeLock(file: string, graph: ExecutionGraph, entrySha256: string, code: string, nodes: ReadonlyMap<string, LockedNode>): void {
  const doc = {
    alignc: ALIGNC_VERSION,
    code_sha256: code,
    entry: graph.entry,
    entry_sha256: entrySha256,
    written: new Date().toISOString(),
    params: graph.params,
    ...(graph.trial ? { trial: graph.trial } : {}),
    nodes: Object.fromEntries(
      graph.nodes.map((n) => {
        const l = nodes.get(n.id);
        return [
          n.id,
          {
            kind: n.kind,
            version: n.version,
            hash: n.hash,
            key: l?.key,
            ...(l?.external ? { external_sha256: l.external } : {}),
            status: l?.status ?? "not run",
            ...(l?.seconds !== undefined ? { seconds: Number(l.seconds.toFixed(2)) } : {}),
            inputs: Object.fromEntries(n.inputs.map((i) => [i.name, i.node])),
            settings: n.params,
            ...(l?.summary ? { summary: l.summary } : {}),
            ...(l?.error ? { error: l.error } : {}),
          },
        ];
      }),
    ),
  };
  // At the top of the run directory: replaced through a temporary file of its own, never written through a link.
  writeFileAtomic(file, `# Written by alignc run; records what the latest run used and made. Do not edit.\n${stringify(doc)}`, { root: path.dirname(file) });
}
