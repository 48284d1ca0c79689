// The constructor reference of docs/language.md, generated from the catalog (src/compiler/checker/catalog/) so
// that the documented settings, types and defaults are always the ones the checker enforces. The region of
// docs/language.md between the CONSTRUCTORS markers is rewritten by `npm run docs:language`, and a test fails
// when it is stale. Also home to the small marker-region helpers that script and test share.
import { allCtors, type Ctor } from "../checker/catalog/index.ts";
import { evaluateFields } from "../checker/catalog/training.ts";
import { type Field, type Fields, type Type, typeName, valueText } from "../values/types.ts";

/** Families in the order the reference lists them, with a heading, an intro and how a value is written. */
const FAMILIES: readonly { family: string; title: string; intro: string; form: (call: string) => string }[] = [
  {
    family: "model",
    title: "Models",
    intro: "Declared with `model NAME = …`. A phase's name also denotes the model it trains, wherever a model is expected.",
    form: (call) => `model NAME = ${call}`,
  },
  {
    family: "dataset",
    title: "Datasets and data stages",
    intro:
      "Declared with `dataset NAME = …`. Every dataset holds one kind of record (prompts, samples, rated samples or pairs); the argument types below say which kinds a stage takes.",
    form: (call) => `dataset NAME = ${call}`,
  },
  {
    family: "rater",
    title: "Raters",
    intro: "Declared with `rater NAME = …`. A rater declares the aspects it scores and its integer scale; score expressions are checked against them.",
    form: (call) => `rater NAME = ${call}`,
  },
  {
    family: "similarity",
    title: "Similarity functions",
    intro: "Declared with `similarity NAME = …`; used by BDHS to reject answers too close to the ground truth.",
    form: (call) => `similarity NAME = ${call}`,
  },
  {
    family: "phase",
    title: "Training phases",
    intro: "Declared with `phase NAME = …`. The phase's name then denotes the trained model.",
    form: (call) => `phase NAME = ${call}`,
  },
  {
    family: "optimizer",
    title: "Optimizers",
    intro: "Values of a phase's `optimizer` setting: `optimizer: adamw { lr: 5e-5 }`, or just the name for all defaults.",
    form: (call) => `optimizer: ${call}`,
  },
  {
    family: "schedule",
    title: "Learning-rate schedules",
    intro: "Values of a phase's `schedule` setting: `schedule: cosine { warmup: 3% }`, or just the name.",
    form: (call) => `schedule: ${call}`,
  },
  {
    family: "sweep",
    title: "Sweeps",
    intro: "Declared with `sweep NAME = …`. See [Sweeps](#sweeps) for axes, exclusions and trial ids.",
    form: (call) => `sweep NAME = ${call}`,
  },
  {
    family: "distribution",
    title: "Distributions",
    intro: "Axis values of a random sweep.",
    form: (call) => call,
  },
];

/** How a call of `c` is written: `cosine(model) { … }`, and with its named arguments in the block, `cosine { model: …, … }`. */
function callForms(c: Ctor): string[] {
  const settings = Object.keys(c.fields).length > 0;
  const list = (args: Ctor["args"]) => (args.length > 0 ? `(${args.map((a) => a.name + (a.variadic ? "…" : "")).join(", ")})` : "");
  const forms = [`${c.name}${list(c.args)}${settings ? " { … }" : ""}`];
  const named = c.args.filter((a) => a.named);
  if (named.length > 0) {
    const block = [...named.map((a) => `${a.name}: …`), ...(settings ? ["…"] : [])].join(", ");
    forms.push(`${c.name}${list(c.args.filter((a) => !a.named))} { ${block} }`);
  }
  return forms;
}

/** The anchor of a constructor's heading: names repeat across families (`cosine` is a schedule and a similarity). */
export function ctorAnchor(family: string, name: string): string {
  return `ref-${family}-${name}`.replace(/_/g, "-");
}

/**
 * `typeName`, polished for tables: articles agree with the next word ("an optimizer"), lists read as plurals
 * ("a non-empty list of names"), and constructor families link to their constructors.
 */
export function typeText(t: Type): string {
  switch (t.t) {
    case "list": {
      const of = t.of;
      let items: string;
      if (of.t === "enum") items = `values from ${of.values.join(", ")}`;
      else if (of.t === "bool") items = "true/false values";
      else if (of.t === "range") items = "integer ranges such as 0..4";
      else if (of.t === "union" || of.t === "list") items = `values, each ${typeText(of)}`;
      else
        items = typeText(of)
          .replace(/^(an?|one of) /, "")
          .replace(/^(\S+)/, (w) => (w.endsWith("s") ? w : `${w}s`));
      return `a ${t.min !== undefined && t.min > 0 ? "non-empty " : ""}list of ${items}${t.unique ? " (no repeats)" : ""}`;
    }
    case "union":
      return t.of.map(typeText).join(" or ");
    case "ctor": {
      const names = allCtors.filter((c) => c.category === t.family).map((c) => `[${c.name}](#${ctorAnchor(c.category, c.name)})`);
      return withArticle(typeName(t)) + (names.length > 0 ? ` (${names.join(", ")})` : "");
    }
    default:
      return withArticle(typeName(t));
  }
}

function withArticle(s: string): string {
  return s.replace(/^a ([aeiou])/, "an $1");
}

function defaultText(field: Field): string {
  if (field.required) return "**required**";
  if (field.default === undefined) return "—";
  if (field.type.t === "record") return "see below";
  if (field.default.k === "record" && !field.default.ctor && Object.keys(field.default.fields).length === 0) return code("{}");
  return code(valueText(field.default));
}

/** Inline code that may itself contain backticks; pipes escaped for tables. */
export function code(s: string): string {
  const body = s.replace(/\|/g, "\\|");
  return body.includes("`") ? `\`\` ${body} \`\`` : `\`${body}\``;
}

/**
 * Prose from the catalog or the message table, made safe for markdown: backslashes, asterisks, tildes and angle
 * brackets outside code spans are escaped, so that an escaped quote or a comment marker reads as written;
 * pipes are escaped everywhere (table cells).
 */
export function prose(s: string): string {
  return s
    .replace(/\s*\n\s*/g, " ")
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/[\\*~]/g, (c) => `\\${c}`).replace(/</g, "&lt;")))
    .join("")
    .replace(/\|/g, "\\|");
}

/** Table cells of types: links and markdown are intended, only pipes need escaping. */
function cell(s: string): string {
  return s.replace(/\|/g, "\\|");
}

/** One row per setting; a nested block's settings follow it as dotted keys (`lora.rank`). */
function settingRows(fields: Fields, prefix = ""): string[] {
  const rows: string[] = [];
  for (const [key, field] of Object.entries(fields)) {
    rows.push(`| ${code(prefix + key)} | ${cell(typeText(field.type))} | ${defaultText(field)} | ${prose(field.doc)} |`);
    if (field.type.t === "record") rows.push(...settingRows(field.type.fields, `${prefix}${key}.`));
  }
  return rows;
}

function settingsTable(fields: Fields): string[] {
  if (Object.keys(fields).length === 0) return ["No settings."];
  return ["| setting | type | default | description |", "|---|---|---|---|", ...settingRows(fields)];
}

/** An argument's type for the table, with what it may be written as besides (ArgSpec.inline, ArgSpec.named). */
function argTypeText(a: Ctor["args"][number]): string {
  const inline = a.inline ? `, or ${a.inline.map((c) => `\`${c}(…)\``).join(" or ")} written in its place` : "";
  const named = a.named ? `; in parentheses or in the block as \`${a.name}: …\`` : "";
  return `${typeText(a.type)}${inline}${named}`;
}

function ctorSection(c: Ctor, form: string): string[] {
  const out = [
    `<a id="${ctorAnchor(c.category, c.name)}"></a>`,
    "",
    `#### \`${c.name}\` (${c.category})`,
    "",
    prose(c.doc).replace(/\\\|/g, "|"),
    "",
    "```text",
    form,
    "```",
    "",
  ];
  if (c.args.length > 0) {
    out.push("| argument | type | description |", "|---|---|---|");
    for (const a of c.args)
      out.push(`| ${code(a.name + (a.variadic ? "…" : ""))} | ${cell(argTypeText(a))}${a.variadic ? " (one or more)" : ""} | ${prose(a.doc)} |`);
    out.push("");
  }
  out.push(...settingsTable(c.fields), "");
  const rules: string[] = [];
  for (const [a, b] of c.exclusive ?? []) rules.push(`\`${a}\` and \`${b}\` exclude each other.`);
  for (const group of c.oneOf ?? []) rules.push(`One of ${group.map((k) => `\`${k}\``).join(", ")} is required.`);
  if (rules.length > 0) out.push(rules.join(" "), "");
  if (c.example) out.push("```align", c.example, "```", "");
  return out;
}

/** The generated constructor reference: every family in a fixed order, every constructor in catalog order. */
export function constructorReferenceMarkdown(): string {
  const out: string[] = [];
  const known = new Set(FAMILIES.map((f) => f.family));
  const families = [...FAMILIES];
  // A family added to the catalog later still appears, after the known ones.
  for (const c of allCtors) {
    if (!known.has(c.category)) {
      known.add(c.category);
      families.push({ family: c.category, title: c.category, intro: "", form: (x) => x });
    }
  }
  const index: string[] = [];
  for (const f of families) {
    const ctors = allCtors.filter((c) => c.category === f.family);
    if (ctors.length === 0) continue;
    index.push(`- ${f.title}: ${ctors.map((c) => `[\`${c.name}\`](#${ctorAnchor(c.category, c.name)})`).join(", ")}`);
    out.push(`### ${f.title}`, "");
    if (f.intro) out.push(f.intro, "");
    for (const c of ctors) out.push(...ctorSection(c, callForms(c).map(f.form).join("\n")));
  }
  index.push(`- Evaluation: [\`evaluate\`](#${ctorAnchor("evaluate", "evaluate")})`);
  out.push(
    "### Evaluation",
    "",
    `<a id="${ctorAnchor("evaluate", "evaluate")}"></a>`,
    "",
    "#### `evaluate`",
    "",
    "Generates answers with each model on the evaluation prompts and computes the metrics (names get an `eval_` prefix in logs).",
    "",
    "```text",
    "evaluate NAME { models: […], on: DATASET, … }",
    "```",
    "",
    ...settingsTable(evaluateFields),
    "",
  );
  return `${[...index, "", ...out].join("\n").replace(/\n+$/, "")}\n`;
}

// ── marker regions ──────────────────────────────────────────────────────────
// A generated region is the text between the lines `<!-- BEGIN GENERATED NAME -->` and `<!-- END GENERATED NAME -->`.

export function markers(name: string): { begin: string; end: string } {
  return { begin: `<!-- BEGIN GENERATED ${name} -->`, end: `<!-- END GENERATED ${name} -->` };
}

function regionLines(lines: string[], name: string): { begin: number; end: number } | undefined {
  const { begin, end } = markers(name);
  const b = lines.findIndex((l) => l.trim() === begin);
  if (b < 0) return undefined;
  const e = lines.findIndex((l, i) => i > b && l.trim() === end);
  return e < 0 ? undefined : { begin: b, end: e };
}

/** The text between the markers (without them), or undefined when the markers are missing. */
export function extractMarkedRegion(markdown: string, name: string): string | undefined {
  const lines = markdown.split("\n");
  const at = regionLines(lines, name);
  if (!at) return undefined;
  return lines.slice(at.begin + 1, at.end).join("\n");
}

/** The markdown with the text between the markers replaced by `body` (set off by blank lines). */
export function replaceMarkedRegion(markdown: string, name: string, body: string): string {
  const lines = markdown.split("\n");
  const at = regionLines(lines, name);
  if (!at) {
    const { begin, end } = markers(name);
    throw new Error(`the markdown lacks the lines ${begin} and ${end}`);
  }
  return [...lines.slice(0, at.begin + 1), "", ...body.replace(/\n+$/, "").split("\n"), "", ...lines.slice(at.end)].join("\n");
}
