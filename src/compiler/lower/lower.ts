// Checked program → execution graph. Every declaration becomes a node (sweeps excepted: they choose
// trials, they do not run); reference log-probs of preference phases get a node of their own so the
// runtime caches them by content across runs, phases and trials.
import path from "node:path";
import type { CheckedDecl, CheckedProgram } from "../checker/check.ts";
import { type Value, valueJson } from "../checker/types.ts";
import { ALIGNC_VERSION } from "../version.ts";
import { contentHash } from "./canonical.ts";
import { type ExecutionGraph, GRAPH_SCHEMA_VERSION, type GraphInput, type GraphNode } from "./graph.ts";

/** Constructor arguments that name files, resolved against the declaring file's directory. */
const PATH_ARGS = new Set(["path", "module"]);

export function lower(checked: CheckedProgram, entryAbsPath: string, trial?: ExecutionGraph["trial"]): ExecutionGraph {
  const entryDir = path.dirname(entryAbsPath);
  const nodes: GraphNode[] = [];
  const byId = new Map<string, GraphNode>();

  const add = (node: Omit<GraphNode, "hash">): GraphNode => {
    const hashed: GraphNode = {
      ...node,
      hash: contentHash({
        kind: node.kind,
        version: node.version,
        params: node.params,
        inputs: node.inputs.map((i) => ({ name: i.name, port: i.port, hash: byId.get(i.node)?.hash ?? i.node })),
      }),
    };
    nodes.push(hashed);
    byId.set(hashed.id, hashed);
    return hashed;
  };

  for (const decl of checked.decls.values()) {
    if (decl.category === "sweep") continue;
    const inputs: GraphInput[] = [];
    const params: Record<string, unknown> = {};
    const relocate = (p: string) => path.relative(entryDir, path.resolve(path.dirname(decl.symbol.file.ast.source.absPath), p)) || ".";
    const source = { file: decl.symbol.file.ast.source.displayPath, line: decl.symbol.node.name.span.line, column: decl.symbol.node.name.span.column };

    if (decl.evaluate) {
      const { models, on, ...rest } = decl.evaluate.settings;
      if (models?.k === "list") {
        models.items.forEach((m, i) => {
          if (m.k === "ref") inputs.push(refInput(`model[${i}]`, m));
        });
      }
      if (on?.k === "ref") inputs.push(refInput("data", on));
      Object.assign(params, settingsJson(rest, inputs));
      add({ id: decl.qualified, kind: "eval.metrics", version: 1, produces: "evaluation", params, inputs, source });
      continue;
    }
    const call = decl.call;
    if (!call) continue;
    call.args.forEach((arg, i) => {
      const spec = call.ctor.args[Math.min(i, call.ctor.args.length - 1)];
      const name = spec?.variadic ? `${spec.name}[${i - (call.ctor.args.length - 1)}]` : (spec?.name ?? `arg${i}`);
      if (arg.value.k === "ref") inputs.push(refInput(name, arg.value));
      else params[spec?.name ?? name] = arg.value.k === "string" && PATH_ARGS.has(spec?.name ?? "") ? relocate(arg.value.v) : valueJson(arg.value);
    });
    Object.assign(params, settingsJson(call.settings, inputs));
    if (call.ctor.name === "onnx" && typeof params.tokenizer === "string") params.tokenizer = relocate(params.tokenizer);
    if (call.ctor.name === "file" && typeof params.images === "string") params.images = relocate(params.images);

    const info = decl.info;
    const produces = info?.category === "dataset" ? `dataset:${info.kind}` : info?.category === "phase" ? "model" : (info?.category ?? decl.category);
    const kind = call.ctor.node ?? `${decl.category}.${call.ctor.name}`;

    if ((call.ctor.name === "dpo" || call.ctor.name === "mixed") && params.reference !== "none") {
      // Reference log-probs on the offline pairs, of the initial policy (precomputed) or of another model: computed
      // once by their own node, so they are cached by content and shared by every phase and trial that needs them.
      // Both sums and means are kept, so the objective's logps setting is not part of the node.
      const pairInputs = inputs.filter((i) => i.name.startsWith("pairs"));
      const other = inputs.findIndex((i) => i.name === "reference");
      const model = other >= 0 ? inputs.splice(other, 1)[0] : inputs.find((i) => i.name === "model");
      if (model) {
        const ref = add({
          id: `${decl.qualified}.reference`,
          kind: "reference.logprobs",
          version: 1,
          produces: "logprobs",
          // On the phase's device, when it names one (else alignc run --device's).
          params: params.device !== undefined ? { device: params.device } : {},
          inputs: [{ ...model, name: "model" }, ...pairInputs],
          source,
        });
        inputs.push({ name: "reference", node: ref.id });
        if (other >= 0) params.reference = "model";
      }
    }
    const node: Omit<GraphNode, "hash"> = { id: decl.qualified, kind, version: call.ctor.version ?? 1, produces, params, inputs, source };
    if (info?.category === "dataset" && info.ports) node.ports = info.ports;
    add(node);
  }

  const params: Record<string, unknown> = {};
  for (const [name, p] of checked.params) params[name] = valueJson(p.value);
  const graph: ExecutionGraph = {
    schemaVersion: GRAPH_SCHEMA_VERSION,
    compiler: { name: "alignc", version: ALIGNC_VERSION },
    entry: path.basename(entryAbsPath),
    params,
    nodes,
  };
  if (trial) graph.trial = trial;
  return graph;
}

function refInput(name: string, v: Value & { k: "ref" }): GraphInput {
  return v.port ? { name, node: v.target, port: v.port } : { name, node: v.target };
}

/** Settings as JSON params; references inside settings become inputs instead (named by their key path). */
function settingsJson(settings: Record<string, Value>, inputs: GraphInput[], prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(settings).sort()) {
    const v = settings[key] as Value;
    const name = prefix + key;
    if (v.k === "ref") {
      inputs.push(refInput(name, v));
      out[key] = { input: name };
    } else if (v.k === "list" && v.items.some((i) => i.k === "ref")) {
      out[key] = v.items.map((item, i) => {
        if (item.k !== "ref") return valueJson(item);
        inputs.push(refInput(`${name}[${i}]`, item));
        return { input: `${name}[${i}]` };
      });
    } else if (v.k === "record" && Object.values(v.fields).some((f) => f.k === "ref")) {
      const inner = settingsJson(v.fields, inputs, `${name}.`);
      out[key] = v.ctor ? { type: v.ctor, ...inner } : inner;
    } else {
      out[key] = valueJson(v);
    }
  }
  return out;
}

export type { CheckedDecl };
