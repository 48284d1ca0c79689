// What runGraph refuses before anything runs, each time listing every offending node with where it was declared:
// kinds this runtime has no executor for (or another version of), settings an executor does not implement
// (src/graph/node-kinds.ts; `check` refuses them too, ALN3021), params that do not fit their kind (src/graph/params.ts:
// a graph made elsewhere), and `--force` naming no node. The params come back decoded, for the executors.
import type { ExecutionGraph, GraphNode } from "../../../graph/graph.ts";
import { isNodeKind, unsupportedSettings } from "../../../graph/node-kinds.ts";
import { tryDecodeParams } from "../../../graph/params.ts";
import type { NodeExecutor } from "../node-executor.ts";

export function where(node: GraphNode): string {
  return node.source ? `${node.source.file}:${node.source.line}:${node.source.column}` : node.id;
}

/** Why the graph cannot run (the message of the run's failure), or every node's decoded params by node id. */
export function checkGraph(
  graph: ExecutionGraph,
  executors: ReadonlyMap<string, NodeExecutor>,
  force: readonly string[],
): { refused: string } | { params: ReadonlyMap<string, unknown> } {
  const refused = unrunnableKinds(graph, executors) ?? unsupported(graph);
  if (refused) return { refused };
  const decoded = decodeAll(graph);
  if ("refused" in decoded) return decoded;
  const unknownForce = force.filter((id) => !graph.nodes.some((n) => n.id === id));
  if (unknownForce.length > 0) return { refused: `--force names no node: ${unknownForce.join(", ")} (nodes: ${graph.nodes.map((n) => n.id).join(", ")})` };
  return decoded;
}

function unrunnableKinds(graph: ExecutionGraph, executors: ReadonlyMap<string, NodeExecutor>): string | undefined {
  const missing = graph.nodes.filter((n) => executors.get(n.kind)?.version !== n.version);
  if (missing.length === 0) return undefined;
  const lines = missing.map((n) => {
    const e = executors.get(n.kind);
    return `  ${where(n)}: ${n.id} (${n.kind}${e ? ` version ${n.version}; this runtime implements version ${e.version}` : ""})`;
  });
  return (
    `this version of alignc cannot run ${missing.length === 1 ? "this node" : "these nodes"} yet:\n${lines.join("\n")}\n` +
    `it runs ${[...executors.keys()].join(", ")}. Nothing was run.`
  );
}

function unsupported(graph: ExecutionGraph): string | undefined {
  const lines = graph.nodes.flatMap((n) =>
    unsupportedSettings(n.kind, n.params).map((u) => `  ${where(n)}: ${n.id}: ${u.setting} ${JSON.stringify(u.value)} (${u.why})`),
  );
  if (lines.length === 0) return undefined;
  return `this version of alignc does not run ${lines.length === 1 ? "this setting" : "these settings"} yet:\n${lines.join("\n")}\nNothing was run.`;
}

/** Every node's params decoded against its kind; a kind outside the table (a test's own executor) keeps them as they are. */
function decodeAll(graph: ExecutionGraph): { refused: string } | { params: ReadonlyMap<string, unknown> } {
  const params = new Map<string, unknown>();
  const lines: string[] = [];
  for (const n of graph.nodes) {
    if (!isNodeKind(n.kind)) {
      params.set(n.id, n.params);
      continue;
    }
    const decoded = tryDecodeParams(n.kind, n.params);
    if (decoded.ok) params.set(n.id, decoded.params);
    else lines.push(`  ${where(n)}: ${n.id} (${n.kind}): ${decoded.setting}: ${decoded.problem}`);
  }
  if (lines.length === 0) return { params };
  return {
    refused: `the params of ${lines.length === 1 ? "this node do" : "these nodes do"} not fit their node kind:\n${lines.join("\n")}\nNothing was run.`,
  };
}
