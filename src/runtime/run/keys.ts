// Store keys: a node's compiler hash covers its kind, version, settings and upstream settings; the key adds what
// the compiler cannot see — digests of the files a node reads (data files, checkpoints) — and the inputs' keys,
// so editing a data file re-runs that node and everything downstream.
import { contentHash } from "../../compiler/lower/canonical.ts";
import type { ExecutionGraph } from "../../compiler/lower/graph.ts";
import type { NodeExecutor } from "./executors/types.ts";

export interface NodeKey {
  key: string;
  /** Digest of the external files, for nodes that read some. */
  external?: string;
}

export function storeKeys(graph: ExecutionGraph, executors: ReadonlyMap<string, NodeExecutor>, entryDir: string): Map<string, NodeKey> {
  const keys = new Map<string, NodeKey>();
  for (const node of graph.nodes) {
    const external = executors.get(node.kind)?.external?.(node, entryDir);
    const inputs = node.inputs.map((i) => ({ name: i.name, port: i.port, key: keys.get(i.node)?.key ?? i.node }));
    const key = contentHash({ hash: node.hash, external: external ?? null, inputs });
    keys.set(node.id, external ? { key, external } : { key });
  }
  return keys;
}
