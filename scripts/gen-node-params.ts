// Writes src/graph/params.generated.ts from the checker's catalog: for every node kind, the TypeScript type of its
// params (NodeParamsMap) and the spec the runtime decodes them against (NODE_PARAM_SPECS, src/graph/params.ts), so a
// setting is declared once — in the catalog, with its type, bounds and default — and both sides of the graph read it.
// The params are what src/compiler/lower/lower.ts writes: a constructor's settings (after defaults) and its arguments
// that are not references; references become inputs, and their place holds `{ "input": name }`.
// Usage: npm run gen:params             rewrite the file
//        npm run gen:params -- --check  write nothing; exit 1 when the file is out of date
// test/node-params.test.ts fails when the file differs from what this writes.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { allCtors, ctorsOf } from "../src/compiler/checker/catalog/index.ts";
import { evaluateFields } from "../src/compiler/checker/catalog/training.ts";
import { type Field, type Fields, type NumberBounds, type Type, valueJson } from "../src/compiler/values/types.ts";
import { NODE_KINDS, type NodeKind } from "../src/graph/node-kinds.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
export const GENERATED_FILE = path.join(root, "src", "graph", "params.generated.ts");

/** A node kind's params: its settings, and the rules between them. */
interface KindSource {
  kind: NodeKind;
  doc: string;
  fields: Fields;
  exclusive: (readonly [string, string])[];
  oneOf: (readonly string[])[];
}

const pick = (fields: Fields, keys: readonly string[]): Fields => Object.fromEntries(keys.map((k) => [k, fields[k] as Field]));
const omit = (fields: Fields, keys: readonly string[]): Fields => Object.fromEntries(Object.entries(fields).filter(([k]) => !keys.includes(k)));

function ctorNamed(name: string) {
  const ctor = allCtors.find((c) => c.name === name);
  if (!ctor) throw new Error(`the catalog has no constructor ${name}`);
  return ctor;
}

/**
 * Nodes the lowering makes without a constructor of their own, with the settings of their declaration it gives them
 * (lower.ts): a preference phase's reference log-probs run on the phase's device; an evaluation's answers node takes
 * what shapes the answers, its metrics node the rest.
 */
const GENERATED_NODES: readonly KindSource[] = [
  {
    kind: "reference.logprobs",
    doc: "A preference phase's reference log-probs (generated: no constructor).",
    fields: pick(ctorNamed("dpo").fields, ["device"]),
    exclusive: [],
    oneOf: [],
  },
  {
    kind: "eval.answers",
    doc: "One evaluated model's answers (generated from an evaluate declaration).",
    fields: pick(evaluateFields, ["max_tokens", "temperature", "seed", "device"]),
    exclusive: [],
    oneOf: [],
  },
  {
    kind: "eval.metrics",
    doc: "An evaluation's scores of its models' answers (generated from an evaluate declaration).",
    fields: omit(evaluateFields, ["models", "on", "max_tokens", "temperature", "seed"]),
    exclusive: [],
    oneOf: [],
  },
];

/**
 * Rules between settings that the catalog checks in code (a constructor's `validate`), which a graph made elsewhere
 * could break: the decoder refuses such a graph.
 */
const CODED_RULES: Partial<Record<NodeKind, Pick<KindSource, "exclusive" | "oneOf">>> = {
  "train.sft": { exclusive: [["epochs", "steps"]], oneOf: [] },
  "train.dpo": {
    exclusive: [
      ["epochs", "steps"],
      ["gamma", "weights"],
    ],
    oneOf: [],
  },
  "train.online": {
    exclusive: [
      ["epochs", "steps"],
      ["annotator", "bdhs"],
    ],
    oneOf: [["annotator", "bdhs"]],
  },
  "train.mixed": {
    exclusive: [
      ["epochs", "steps"],
      ["annotator", "bdhs"],
    ],
    oneOf: [["annotator", "bdhs"]],
  },
};

/** Every node kind's params, in the order of src/graph/node-kinds.ts. */
function kindSources(): KindSource[] {
  const byKind = new Map<NodeKind, KindSource>();
  for (const ctor of allCtors) {
    if (!ctor.node) continue;
    if (byKind.has(ctor.node)) throw new Error(`two constructors make ${ctor.node}; the params of a kind come from one`);
    // Arguments that are not references are params under their name (a checkpoint's path, a command's argv).
    const args: Fields = Object.fromEntries(
      ctor.args.filter((a) => a.type.t !== "ref").map((a) => [a.name, { type: a.type, doc: a.doc, required: true } satisfies Field]),
    );
    const rules = CODED_RULES[ctor.node];
    byKind.set(ctor.node, {
      kind: ctor.node,
      doc: ctor.doc,
      fields: { ...args, ...ctor.fields },
      exclusive: [...(ctor.exclusive ?? []), ...(rules?.exclusive ?? [])],
      oneOf: [...(ctor.oneOf ?? []), ...(rules?.oneOf ?? [])],
    });
  }
  for (const g of GENERATED_NODES) byKind.set(g.kind, g);
  return (Object.keys(NODE_KINDS) as NodeKind[]).map((kind) => {
    const source = byKind.get(kind);
    if (!source) throw new Error(`node kind ${kind}: no constructor makes it and it is not a generated node`);
    return source;
  });
}

/** A setting's spec (TypeScript source of a SettingSpec) and its TypeScript type. */
interface Emitted {
  spec: string;
  ts: string;
}

const pascal = (s: string) => s.replace(/(^|[._\s-])(\w)/g, (_, __, c: string) => c.toUpperCase());
const constName = (s: string) => s.replace(/[.\s-]/g, "_").toUpperCase();

class Emitter {
  /** Named specs shared by several kinds (blocks, constructor families), in an order where each follows what it uses. */
  readonly consts = new Map<string, string>();
  /** Named TypeScript types (blocks, constructor values), likewise. */
  readonly types = new Map<string, string>();
  /** Which of params-spec.ts's types the file uses. */
  readonly uses = new Set<string>();

  private share(map: Map<string, string>, name: string, text: string): void {
    const known = map.get(name);
    if (known !== undefined && known !== text) throw new Error(`two different declarations named ${name}`);
    map.set(name, text);
  }

  /** The spec of a setting of catalog type `type`, and its TypeScript type. */
  type(type: Type): Emitted {
    switch (type.t) {
      case "int":
        return { spec: `{ t: "int"${bounds(type)} }`, ts: "number" };
      case "float":
      case "duration":
        return { spec: `{ t: "number"${bounds(type)} }`, ts: "number" };
      case "fraction":
        return { spec: `{ t: "number"${bounds({ ...type, min: type.min ?? 0, max: type.max ?? 1 })} }`, ts: "number" };
      case "string": {
        const pattern = type.pattern ? `, pattern: ${String(type.pattern)}` : "";
        const help = type.patternHelp ? `, help: ${JSON.stringify(type.patternHelp)}` : "";
        return { spec: `{ t: "string"${pattern}${help} }`, ts: "string" };
      }
      case "name":
        return { spec: `{ t: "string" }`, ts: "string" };
      case "bool":
        return { spec: `{ t: "bool" }`, ts: "boolean" };
      case "enum":
        return { spec: `{ t: "enum", values: ${JSON.stringify(type.values)} }`, ts: type.values.map((v) => JSON.stringify(v)).join(" | ") };
      case "range":
        this.uses.add("RangeParam");
        return { spec: `{ t: "range"${optional("min", type.min)}${optional("max", type.max)} }`, ts: "RangeParam" };
      case "list": {
        const of = this.type(type.of);
        const extra = `${optional("min", type.min)}${optional("max", type.max)}${type.unique ? ", unique: true" : ""}`;
        return { spec: `{ t: "list", of: ${of.spec}${extra} }`, ts: `${/[|&]/.test(of.ts) ? `(${of.ts})` : of.ts}[]` };
      }
      case "map": {
        const of = this.type(type.of);
        return { spec: `{ t: "map", of: ${of.spec} }`, ts: `Record<string, ${of.ts}>` };
      }
      case "record": {
        const name = `${constName(type.name)}_BLOCK`;
        const fields = this.fields(type.fields);
        this.share(this.consts, name, `{ t: "block", name: ${JSON.stringify(type.name)}, fields: ${fields.spec} }`);
        const ts = `${pascal(type.name)}Block`;
        this.share(this.types, ts, `/** The ${type.name} { … } block. */\nexport interface ${ts} ${fields.ts}`);
        return { spec: name, ts };
      }
      case "ctor":
        return this.family(type.family);
      case "ref":
        this.uses.add("InputRef");
        return { spec: `{ t: "input" }`, ts: "InputRef" };
      case "union": {
        const of = type.of.map((t) => this.type(t));
        const ts = [...new Set(of.flatMap((o) => o.ts.split(" | ")))];
        return { spec: `{ t: "union", of: [${of.map((o) => o.spec).join(", ")}] }`, ts: ts.includes("string") ? "string" : ts.join(" | ") };
      }
      case "score":
      case "predicate":
        this.uses.add("ExprParam");
        return { spec: `{ t: "expr" }`, ts: "ExprParam" };
    }
  }

  /** A constructor family (optimizer, schedule): one spec, and a type per constructor with its `type` tag. */
  private family(family: string): Emitted {
    const name = constName(family);
    const ctors = [...ctorsOf(family).values()];
    const specs: string[] = [];
    const members: string[] = [];
    for (const c of ctors) {
      const fields = this.fields(c.fields);
      specs.push(`${c.name}: ${fields.spec}`);
      const ts = `${pascal(c.name)}${pascal(family)}`;
      members.push(ts);
      this.share(this.types, ts, `/** ${c.doc} */\nexport interface ${ts} {\n  type: ${JSON.stringify(c.name)};\n${fields.members}}`);
    }
    this.share(this.consts, name, `{ t: "ctor", family: ${JSON.stringify(family)}, ctors: { ${specs.join(", ")} } }`);
    const ts = pascal(family);
    this.share(this.types, ts, `export type ${ts} = ${members.join(" | ")};`);
    return { spec: name, ts };
  }

  /** Settings: their FieldsSpec, and the members of their TypeScript type (optional when absent unless written). */
  fields(fields: Fields, override?: (key: string) => Emitted | undefined): { spec: string; ts: string; members: string } {
    const specs: string[] = [];
    const members: string[] = [];
    for (const [key, field] of Object.entries(fields)) {
      const e = override?.(key) ?? this.type(field.type);
      const def = field.default !== undefined ? `, default: ${JSON.stringify(valueJson(field.default))}` : "";
      specs.push(`${key}: { type: ${e.spec}${def}${field.required ? ", required: true" : ""} }`);
      const present = field.default !== undefined || field.required === true;
      members.push(`  /** ${field.doc.replaceAll("*/", "* /")} */\n  ${key}${present ? "" : "?"}: ${e.ts};\n`);
    }
    return { spec: `{ ${specs.join(", ")} }`, ts: `{\n${members.join("")}}`, members: members.join("") };
  }
}

function optional(key: string, v: number | undefined): string {
  return v === undefined ? "" : `, ${key}: ${v}`;
}

function bounds(b: NumberBounds): string {
  return `${optional("min", b.min)}${optional("max", b.max)}${b.minOpen ? ", minOpen: true" : ""}${b.maxOpen ? ", maxOpen: true" : ""}`;
}

/**
 * The one setting the lowering writes otherwise than its catalog type: a dpo or mixed phase's `reference` naming a
 * model becomes an input of its reference.logprobs node, and the phase's own params say "model".
 */
function loweredOverride(kind: NodeKind): ((key: string) => Emitted | undefined) | undefined {
  if (kind !== "train.dpo" && kind !== "train.mixed") return undefined;
  const values = ["precomputed", "none", "model"];
  return (key) =>
    key === "reference" ? { spec: `{ t: "enum", values: ${JSON.stringify(values)} }`, ts: values.map((v) => JSON.stringify(v)).join(" | ") } : undefined;
}

/** The text of src/graph/params.generated.ts (formatted as biome formats it). */
export function nodeParamsSource(): string {
  const emit = new Emitter();
  const interfaces: string[] = [];
  const map: string[] = [];
  const specs: string[] = [];
  for (const k of kindSources()) {
    const name = `${pascal(k.kind)}Params`;
    const fields = emit.fields(k.fields, loweredOverride(k.kind));
    const doc = `/** ${k.kind}: ${k.doc.replaceAll("*/", "* /")} */\n`;
    interfaces.push(Object.keys(k.fields).length === 0 ? `${doc}export type ${name} = Record<string, never>;` : `${doc}export interface ${name} ${fields.ts}`);
    map.push(`  ${JSON.stringify(k.kind)}: ${name};`);
    const rules = [
      k.exclusive.length > 0 ? `, exclusive: ${JSON.stringify(k.exclusive)}` : "",
      k.oneOf.length > 0 ? `, oneOf: ${JSON.stringify(k.oneOf)}` : "",
    ].join("");
    specs.push(`  ${JSON.stringify(k.kind)}: { fields: ${fields.spec}${rules} },`);
  }
  const types = ["KindParamsSpec", ...(emit.consts.size > 0 ? ["SettingSpec"] : []), ...emit.uses].sort();
  const text = [
    "// Generated by scripts/gen-node-params.ts from the checker's catalog (npm run gen:params); do not edit.",
    "// Each node kind's params as the lowering writes them: their TypeScript type (NodeParamsMap) and the spec the runtime",
    "// decodes them against before anything runs (NODE_PARAM_SPECS, src/graph/params.ts).",
    `import type { NodeKind } from "./node-kinds.ts";`,
    `import type { ${types.join(", ")} } from "./params-spec.ts";`,
    "",
    ...[...emit.types.values()].map((t) => `${t}\n`),
    ...interfaces.map((t) => `${t}\n`),
    "/** Each node kind's params. */",
    `export interface NodeParamsMap {\n${map.join("\n")}\n}`,
    "",
    ...[...emit.consts].map(([name, spec]) => `const ${name}: SettingSpec = ${spec};\n`),
    "export const NODE_PARAM_SPECS: { readonly [K in NodeKind]: KindParamsSpec } = {",
    ...specs,
    "};",
    "",
  ].join("\n");
  return format(text);
}

/** `text` as `biome format` writes it (the repository's formatter, so the file passes `npm run lint` as written). */
function format(text: string): string {
  const biome = path.join(root, "node_modules", ".bin", process.platform === "win32" ? "biome.cmd" : "biome");
  const r = spawnSync(biome, ["format", `--stdin-file-path=${path.relative(root, GENERATED_FILE)}`], { cwd: root, input: text, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`biome format failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function main(): void {
  const name = path.relative(root, GENERATED_FILE);
  const text = nodeParamsSource();
  let current = "";
  try {
    current = readFileSync(GENERATED_FILE, "utf8");
  } catch {
    // not there yet
  }
  if (text === current) console.log(`${name}: up to date`);
  else if (process.argv.includes("--check")) {
    console.error(`${name}: out of date: run npm run gen:params`);
    process.exitCode = 1;
  } else {
    writeFileSync(GENERATED_FILE, text);
    console.log(`${name}: written`);
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
