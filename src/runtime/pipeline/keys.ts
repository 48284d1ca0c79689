// Store keys: a node's compiler hash covers its kind, version, settings and upstream settings; the key adds what
// the compiler cannot see — digests of the files a node reads (data files, checkpoints), the inputs' keys, and,
// for nodes that run ONNX programs on a GPU, the device kind — so editing a data file re-runs that node and
// everything downstream, and a phase trained on CUDA is not mistaken for the same phase trained on CPU.

import type { ExecutionGraph, GraphNode } from "../../graph/graph.ts";
import { contentHash } from "../../util/content-hash.ts";
import { externalDigest, type NodeExecutor } from "./node-executor.ts";

export interface NodeKey {
  key: string;
  /** Digest of the external files, for nodes that read some. */
  external?: string;
  /** The device kind, when it is part of the key (a node that runs programs, on a GPU). */
  device?: GpuKind;
}

/** A GPU node's kind of device: CUDA, or CUDA with TF32 off (`--tf32 off`: other float32 results). */
export type GpuKind = "cuda" | "cuda-tf32-off";

/** Which kind of device a node runs on (cuda:0 and cuda:1 give the same results). */
export type DeviceKindOf = (node: GraphNode) => "cpu" | GpuKind;

/** Every node on CPU: the keys of a plain `alignc run`. */
export const onCpu: DeviceKindOf = () => "cpu";

export function storeKeys(
  graph: ExecutionGraph,
  executors: ReadonlyMap<string, NodeExecutor>,
  entryDir: string,
  deviceOf: DeviceKindOf = onCpu,
): Map<string, NodeKey> {
  const keys = new Map<string, NodeKey>();
  for (const node of graph.nodes) {
    const executor = executors.get(node.kind);
    const external = executor ? externalDigest(executor, node, entryDir) : undefined;
    const inputs = node.inputs.map((i) => ({ name: i.name, port: i.port, key: keys.get(i.node)?.key ?? i.node }));
    // CPU adds nothing, so keys made before devices were keyed stay valid for CPU runs.
    const kind = executor?.usesDevice ? deviceOf(node) : "cpu";
    const device = kind !== "cpu" ? { device: kind } : {};
    const key = contentHash({ hash: node.hash, external: external ?? null, inputs, ...device });
    keys.set(node.id, { key, ...(external ? { external } : {}), ...device });
  }
  return keys;
}
