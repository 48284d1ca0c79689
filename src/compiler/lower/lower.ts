// Checked program → execution graph. Every declaration becomes a node (sweeps excepted: they choose
// trials, they do not run); reference log-probs of preference phases and each evaluated model's answers get a
// node of their own so the runtime caches them by content across runs, phases, evaluations and trials, and so does
// a model written in place of an argument (`cosine { model: hf("…") }`), as its declaration would.
import path from "node:path";
import { type ExecutionGraph, GRAPH_SCHEMA_VERSION, type GraphInput, type GraphNode } from "../../graph/graph.ts";
import { NODE_KINDS } from "../../graph/node-kinds.ts";
import { contentHash } from "../../util/content-hash.ts";
import { ALIGNC_VERSION } from "../../version.ts";
import type { CheckedArg, CheckedCall, ResultInfo } from "../checker/catalog/ctor.ts";
import type { CheckedDecl, CheckedProgram } from "../checker/check.ts";
import { type Value, valueJson } from "../values/types.ts";

export function lower(checked: CheckedProgram, entryAbsPath: string, trial?: ExecutionGraph["trial"]): ExecutionGraph {
  const entryDir = path.dirname(entryAbsPath);
  const nodes: GraphNode[] = [];
  const byId = new Map<string, GraphNode>();

  const hashOf = (node: Omit<GraphNode, "hash">): string =>
    contentHash({
      kind: node.kind,
      version: node.version,
      params: node.params,
      inputs: node.inputs.map((i) => ({ name: i.name, port: i.port, hash: byId.get(i.node)?.hash ?? i.node })),
    });
  const add = (node: Omit<GraphNode, "hash">): GraphNode => {
    const hashed: GraphNode = { ...node, hash: hashOf(node) };
    nodes.push(hashed);
    byId.set(hashed.id, hashed);
    return hashed;
  };
  /** Answers nodes by model and hash: evaluations that ask a model the same questions the same way share one. */
  const answersOf = new Map<string, GraphNode>();
  /** Nodes of calls written in place of an argument, by hash, and the settings each left out (see markDefaults). */
  const inlineOf = new Map<string, GraphNode>();
  const inlineDefaults = new Map<string, string[]>();

  for (const decl of checked.decls.values()) {
    if (decl.category === "sweep") continue;
    const inputs: GraphInput[] = [];
    const params: Record<string, unknown> = {};
    const relocate = (p: string) => path.relative(entryDir, path.resolve(path.dirname(decl.symbol.file.ast.source.absPath), p)) || ".";
    const source = { file: decl.symbol.file.ast.source.displayPath, line: decl.symbol.node.name.span.line, column: decl.symbol.node.name.span.column };

    if (decl.evaluate) {
      const { models, on, max_tokens, temperature, seed, ...rest } = decl.evaluate.settings;
      const data = on?.k === "ref" ? refInput("data", on) : undefined;
      // Each model's answers are a node of their own, whose hash covers only the model, the data and what shapes the
      // answers (generation settings, device): an unchanged model is not asked again when another model of the
      // evaluation changes, nor by another run or sweep trial sharing the store (equal hashes give equal store keys).
      // Within the graph, evaluations that ask a model the same questions the same way share one node, named after
      // the first of them: `<evaluation>.answers.<model>` (docs/execution-graph.md).
      const shaping: Record<string, Value | undefined> = { max_tokens, temperature, seed, device: rest.device };
      const generation = settingsJson(Object.fromEntries(Object.entries(shaping).filter((e): e is [string, Value] => e[1] !== undefined)), []);
      if (models?.k === "list") {
        models.items.forEach((m, i) => {
          if (m.k !== "ref" || !data) return;
          const node: Omit<GraphNode, "hash"> = {
            id: `${decl.qualified}.answers.${m.target}`,
            kind: "eval.answers",
            version: NODE_KINDS["eval.answers"].version,
            produces: "answers",
            params: { ...generation },
            inputs: [refInput("model", m), { ...data }],
            source,
          };
          // The same model only: the evaluation names a model's report after its answers node's model input.
          const same = `${m.target}\0${hashOf(node)}`;
          let answers = answersOf.get(same);
          if (!answers) {
            answers = add(node);
            answersOf.set(same, answers);
          }
          inputs.push({ name: `answers[${i}]`, node: answers.id });
        });
      }
      if (data) inputs.push(data);
      Object.assign(params, settingsJson(rest, inputs));
      add({ id: decl.qualified, kind: "eval.metrics", version: NODE_KINDS["eval.metrics"].version, produces: "evaluation", params, inputs, source });
      continue;
    }
    const call = decl.call;
    if (!call) continue;
    /**
     * A call's arguments and settings as params; references become inputs, and a call written in place of an argument
     * (`cosine { model: hf("…") }`) the node it makes, added first.
     */
    const callParams = (c: CheckedCall, into: GraphInput[]): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      c.args.forEach((arg, i) => {
        const spec = c.ctor.args[Math.min(i, c.ctor.args.length - 1)];
        const name = spec?.variadic ? `${spec.name}[${i - (c.ctor.args.length - 1)}]` : (spec?.name ?? `arg${i}`);
        if (arg.inline) into.push({ name, node: inlineNode(arg, arg.inline).id });
        else if (arg.value.k === "ref") into.push(refInput(name, arg.value));
        else out[spec?.name ?? name] = arg.value.k === "string" && spec?.type.t === "string" && spec.type.path ? relocate(arg.value.v) : valueJson(arg.value);
      });
      Object.assign(out, settingsJson(c.settings, into));
      // Settings that name files (the catalog's `path` strings) are relative to the declaring file, like arguments.
      for (const [key, field] of Object.entries(c.ctor.fields))
        if (field.type.t === "string" && field.type.path && typeof out[key] === "string") out[key] = relocate(out[key]);
      return out;
    };
    /**
     * The node of a call written in place of an argument, named `<declaration>.<argument>` (the argument's reference)
     * and placed where the call is written. It is the node its declaration would be: equal hashes, so the same store
     * entries as the named form. Calls written alike in several places share one node, named after the first.
     */
    const inlineNode = (arg: CheckedArg, c: CheckedCall): GraphNode => {
      const kind = c.ctor.node;
      if (!kind || arg.value.k !== "ref") throw new Error(`internal: ${c.ctor.name} written in place of an argument makes no node`);
      const inner: GraphInput[] = [];
      const node: Omit<GraphNode, "hash"> = {
        id: arg.value.target,
        kind,
        version: NODE_KINDS[kind].version,
        produces: producesOf(arg.info, arg.value.category),
        params: callParams(c, inner),
        inputs: inner,
        source: { file: source.file, line: arg.span.line, column: arg.span.column },
      };
      const hash = hashOf(node);
      let made = inlineOf.get(hash);
      if (!made) {
        made = add(node);
        inlineOf.set(hash, made);
        if (c.defaulted.length > 0) inlineDefaults.set(made.id, c.defaulted);
      }
      return made;
    };
    Object.assign(params, callParams(call, inputs));

    const info = decl.info;
    const produces = producesOf(info, decl.category);
    const kind = call.ctor.node;
    if (!kind) throw new Error(`internal: ${decl.category} constructor ${call.ctor.name} names no node kind`);

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
          version: NODE_KINDS["reference.logprobs"].version,
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
    const node: Omit<GraphNode, "hash"> = { id: decl.qualified, kind, version: NODE_KINDS[kind].version, produces, params, inputs, source };
    if (info?.category === "dataset" && info.ports) node.ports = info.ports;
    add(node);
  }

  markDefaults(nodes, checked, inlineDefaults);

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

/**
 * Records on each node which of its params the file did not write (`defaults`: their values are the constructor's
 * defaults), for reports; not part of the hash. A generated node (reference log-probs, an evaluated model's answers)
 * takes its declaration's, found by where it was declared, for the params it has; a call written in place of an
 * argument its own (`inline`, by node id).
 */
function markDefaults(nodes: GraphNode[], checked: CheckedProgram, inline: ReadonlyMap<string, string[]>): void {
  const at = (s: GraphNode["source"]) => (s ? `${s.file}:${s.line}:${s.column}` : "");
  const bySource = new Map<string, CheckedDecl>();
  for (const d of checked.decls.values()) {
    const span = d.symbol.node.name.span;
    bySource.set(`${d.symbol.file.ast.source.displayPath}:${span.line}:${span.column}`, d);
  }
  for (const node of nodes) {
    const decl = checked.decls.get(node.id) ?? bySource.get(at(node.source));
    const defaulted = inline.get(node.id) ?? decl?.call?.defaulted ?? decl?.evaluate?.defaulted ?? [];
    const defaults = defaulted.filter((p) => hasParam(node.params, p)).sort();
    if (defaults.length > 0) node.defaults = defaults;
  }
}

/** Whether `params` has a value at a dotted path that is not an input reference. */
function hasParam(params: Record<string, unknown>, dotted: string): boolean {
  let v: unknown = params;
  for (const key of dotted.split(".")) {
    if (!v || typeof v !== "object" || Array.isArray(v) || !(key in v)) return false;
    v = (v as Record<string, unknown>)[key];
  }
  return !(v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "input" in v);
}

/** What a declaration's (or a call's written in place) node produces: a dataset of its kind, a phase a model. */
function producesOf(info: ResultInfo | undefined, category: string): string {
  return info?.category === "dataset" ? `dataset:${info.kind}` : info?.category === "phase" ? "model" : (info?.category ?? category);
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
