// JSON Schemas of the rows of each file format (docs/formats.md), compiled with ajv once, on first use. A row that
// fails its schema is reported with ajv's errors made readable: `conversations[0].from must be one of …, got …`.
// Schemas allow fields they do not name: files from other tools carry extra columns (source, weight, …).
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { NEGATIVES, SPLITS, TASKS } from "../../world/options.ts";
import { COLORS, POSITIONS, SHAPES, SIZES } from "../../world/vocab.ts";

type Schema = Record<string, unknown>;

/** `if` … `then` (a helper, so that no object literal spells a `then` key). */
const ifThen = (condition: Schema, then: Schema): Schema => ({ if: condition, then });

const nonEmpty: Schema = { type: "string", minLength: 1 };
/** A row's own id: a non-empty string or an integer. */
const id: Schema = { type: ["string", "integer"], minLength: 1 };
const images: Schema = { type: "array", items: nonEmpty };

// ── TRL ──────────────────────────────────────────────────────────────────────
const trlPart: Schema = {
  type: "object",
  required: ["type"],
  properties: { type: { enum: ["text", "image"] }, text: { type: "string" } },
  ...ifThen({ required: ["type"], properties: { type: { const: "text" } } }, { required: ["text"] }),
};
const trlMessage: Schema = {
  type: "object",
  required: ["role", "content"],
  properties: { role: { enum: ["system", "user", "assistant"] }, content: { type: ["string", "array"], items: trlPart } },
};
/** Standard (a string) or conversational (a list of messages). */
const trlText: Schema = { type: ["string", "array"], minItems: 1, items: trlMessage };
const trlImages = { id, images, image: { type: ["string", "null"], minLength: 1 } };

// ── LLaMA-Factory sharegpt ───────────────────────────────────────────────────
export const SHAREGPT_ROLES = ["human", "user", "gpt", "assistant", "system", "observation", "function_call"] as const;
const sharegptMessage: Schema = {
  type: "object",
  required: ["from", "value"],
  properties: { from: { enum: SHAREGPT_ROLES }, value: { type: "string" } },
};
const sharegptTurns: Schema = { type: "array", minItems: 1, items: sharegptMessage };

// ── LLaVA JSON ───────────────────────────────────────────────────────────────
const llavaTurn: Schema = {
  type: "object",
  required: ["from", "value"],
  properties: { from: { enum: ["human", "gpt", "system"] }, value: { type: "string" } },
};
const llavaProps = { id, image: nonEmpty, images, conversations: { type: "array", minItems: 1, items: llavaTurn } };

// ── RLAIF-V ──────────────────────────────────────────────────────────────────
const rlaifProps = { id, idx: { type: ["string", "integer"] }, image: nonEmpty, image_path: nonEmpty, question: { type: "string" } };

// ── ms-swift ─────────────────────────────────────────────────────────────────
const swiftMessage: Schema = {
  type: "object",
  required: ["role", "content"],
  properties: { role: { enum: ["system", "user", "assistant", "tool"] }, content: { type: "string" } },
};
const swiftMessages: Schema = { type: "array", minItems: 1, items: swiftMessage };

// ── alignc's records (src/runtime/data/prefdata/records.ts) ───────────────────────
const unit = (max: number): Schema => ({ type: "number", minimum: 0, maximum: max });
const sceneObject: Schema = {
  type: "object",
  required: ["shape", "color", "size", "position", "x", "y", "r"],
  properties: {
    shape: { enum: SHAPES },
    color: { enum: COLORS },
    size: { enum: SIZES },
    position: { enum: POSITIONS },
    x: unit(1),
    y: unit(1),
    r: unit(0.5),
  },
};
const worldItem: Schema = {
  type: "object",
  required: ["id", "split", "task", "kind", "prompt", "answer", "image", "scene", "negative"],
  properties: {
    id: nonEmpty,
    split: { enum: SPLITS },
    task: { enum: TASKS },
    kind: nonEmpty,
    prompt: nonEmpty,
    answer: { type: "string" },
    image: { type: ["string", "null"], minLength: 1 },
    scene: { type: ["object", "null"], required: ["objects"], properties: { objects: { type: "array", items: sceneObject } } },
    negative: { enum: [...NEGATIVES, null] },
  },
};
const numbers: Schema = { type: "array", items: { type: "number" } };
const scoreMap: Schema = { type: "object", additionalProperties: { type: "number" } };
const when = (kind: string, then: Schema): Schema => ifThen({ required: ["kind"], properties: { kind: { const: kind } } }, then);
const pairSource: Schema = {
  type: "object",
  required: ["kind"],
  properties: { kind: { enum: ["rated", "bdhs", "corrupt", "file"] } },
  allOf: [
    when("rated", {
      required: ["rater", "score", "scores", "aspects", "chosen", "rejected", "margin"],
      properties: {
        rater: { type: "string" },
        score: { type: "string" },
        scores: numbers,
        aspects: { type: "array", items: scoreMap },
        chosen: { type: "integer", minimum: 0 },
        rejected: { type: "integer", minimum: 0 },
        margin: { type: "number" },
      },
    }),
    when("bdhs", {
      required: ["tries", "accepted", "similarity"],
      properties: { tries: { type: "array", items: { type: "object" } }, accepted: { type: ["integer", "null"] }, similarity: { type: "number" } },
    }),
    when("corrupt", {
      required: ["edits", "command"],
      properties: {
        edits: {
          type: "array",
          items: { type: "object", required: ["op", "from", "to"], properties: { op: { type: "string" }, from: { type: "string" }, to: { type: "string" } } },
        },
        command: { type: ["array", "null"], items: { type: "string" } },
      },
    }),
    when("file", {
      required: ["file", "row", "format"],
      properties: { file: { type: "string" }, row: { type: "integer", minimum: 1 }, format: { type: "string" } },
    }),
  ],
};
const response: Schema = {
  type: "object",
  required: ["text", "tokens"],
  properties: { text: { type: "string" }, tokens: { type: "integer", minimum: 0 }, logprob: { type: ["number", "null"] } },
};
const sampler: Schema = {
  type: ["object", "null"],
  required: ["model", "temperature", "top_p", "top_k", "max_tokens", "seed"],
  properties: {
    model: { type: "string" },
    temperature: { type: "number", minimum: 0 },
    top_p: { type: "number", minimum: 0, maximum: 1 },
    top_k: { type: "integer", minimum: 0 },
    max_tokens: { type: "integer", minimum: 1 },
    seed: { type: "integer", minimum: 0 },
  },
};
const sampleProps = { id: nonEmpty, item: worldItem, responses: { type: "array", minItems: 1, items: response }, sampler };

export const SCHEMAS = {
  "trl.pair": { type: "object", required: ["chosen", "rejected"], properties: { ...trlImages, prompt: trlText, chosen: trlText, rejected: trlText } },
  "trl.prompt": { type: "object", required: ["prompt"], properties: { ...trlImages, prompt: trlText, completion: trlText } },
  "sharegpt.pair": {
    type: "object",
    required: ["conversations", "chosen", "rejected"],
    properties: { id, images, system: { type: "string" }, conversations: sharegptTurns, chosen: sharegptMessage, rejected: sharegptMessage },
  },
  "sharegpt.prompt": { type: "object", required: ["conversations"], properties: { id, images, system: { type: "string" }, conversations: sharegptTurns } },
  "ms_swift.pair": {
    type: "object",
    required: ["messages", "rejected_response"],
    properties: { id, images, rejected_images: images, messages: swiftMessages, rejected_response: { type: "string" } },
  },
  "ms_swift.prompt": { type: "object", required: ["messages"], properties: { id, images, messages: swiftMessages } },
  "llava.pair": {
    type: "object",
    required: ["conversations", "chosen", "rejected"],
    properties: { ...llavaProps, chosen: { type: "string" }, rejected: { type: "string" } },
  },
  "llava.prompt": { type: "object", required: ["conversations"], properties: llavaProps },
  "rlaif_v.pair": {
    type: "object",
    required: ["question", "chosen", "rejected"],
    properties: { ...rlaifProps, chosen: { type: "string" }, rejected: { type: "string" } },
  },
  "rlaif_v.prompt": { type: "object", required: ["question"], properties: { ...rlaifProps, answer: { type: "string" } } },
  "alignc.pairs": {
    type: "object",
    required: ["id", "item", "chosen", "rejected"],
    properties: { id: nonEmpty, item: worldItem, chosen: { type: "string" }, rejected: { type: "string" }, source: pairSource, flipped: { type: "boolean" } },
  },
  "alignc.samples": { type: "object", required: ["id", "item", "responses"], properties: sampleProps },
  "alignc.rated": {
    type: "object",
    required: ["id", "item", "responses", "scores"],
    properties: { ...sampleProps, scores: { type: "array", items: scoreMap }, rationale: { type: ["string", "null"] } },
  },
} as const satisfies Record<string, Schema>;

export type SchemaName = keyof typeof SCHEMAS;

let compiled: Map<SchemaName, ValidateFunction> | undefined;

function validators(): Map<SchemaName, ValidateFunction> {
  if (compiled) return compiled;
  // ajv is CommonJS: under Node's ESM loader the default import is `module.exports`, whose `default` is the class.
  const ajv = new Ajv.default({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
  compiled = new Map(Object.entries(SCHEMAS).map(([name, schema]) => [name as SchemaName, ajv.compile(schema)]));
  return compiled;
}

/** What is wrong with `row` under schema `name`, readably, or undefined when it is valid. */
export function schemaProblem(name: SchemaName, row: unknown): string | undefined {
  const validate = validators().get(name) as ValidateFunction;
  if (validate(row)) return undefined;
  return renderErrors(validate.errors ?? []);
}

const MAX_PER_ROW = 3;

/** ajv's errors as `where what` phrases joined by "; " (at most three, then how many more). */
export function renderErrors(errors: readonly ErrorObject[]): string {
  const texts: string[] = [];
  const missing = new Map<string, string[]>(); // instancePath → missing fields, said in one phrase
  for (const e of errors) {
    if (e.keyword === "if") continue; // its `then` error says what is wrong
    if (e.keyword === "required") {
      const where = pathText(e.instancePath);
      const name = `${where === "" ? "" : `${where}.`}${String((e.params as { missingProperty: unknown }).missingProperty)}`;
      const list = missing.get(e.instancePath);
      if (list) {
        if (!list.includes(name)) list.push(name);
        continue;
      }
      missing.set(e.instancePath, [name]);
      texts.push(`\0${e.instancePath}`); // placeholder, filled in below
      continue;
    }
    const text = renderError(e);
    if (!texts.includes(text)) texts.push(text);
  }
  for (const [i, t] of texts.entries()) {
    if (!t.startsWith("\0")) continue;
    const names = missing.get(t.slice(1)) ?? [];
    texts[i] = names.length === 1 ? `field '${names[0]}' is missing` : `fields ${names.map((n) => `'${n}'`).join(", ")} are missing`;
  }
  if (texts.length === 0) return "does not match the format";
  const shown = texts.slice(0, MAX_PER_ROW).join("; ");
  return texts.length > MAX_PER_ROW ? `${shown}; … and ${texts.length - MAX_PER_ROW} more` : shown;
}

/** `/conversations/0/from` → `conversations[0].from`. */
export function pathText(instancePath: string): string {
  let out = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  }
  return out;
}

const typeName = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : Number.isInteger(v) ? "an integer" : typeof v;

const shown = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s !== undefined && s.length > 40 ? `${s.slice(0, 37)}…` : String(s);
};

function renderError(e: ErrorObject): string {
  const where = pathText(e.instancePath);
  const subject = where === "" ? "the row" : `'${where}'`;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "type": {
      const want = String(p.type)
        .split(",")
        .map((t) => (t === "object" && where === "" ? "a JSON object" : t))
        .join(" or ");
      return `${subject} must be ${want}, got ${typeName(e.data)}`;
    }
    case "enum":
      return `${subject} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}; got ${shown(e.data)}`;
    case "const":
      return `${subject} must be ${JSON.stringify(p.allowedValue)}; got ${shown(e.data)}`;
    case "minLength":
      return p.limit === 1 ? `${subject} must not be empty` : `${subject} must be at least ${p.limit} characters long`;
    case "minItems":
      return `${subject} must hold at least ${p.limit} item${p.limit === 1 ? "" : "s"}`;
    case "minimum":
    case "maximum":
      return `${subject} ${e.message ?? "is out of range"}; got ${shown(e.data)}`;
    default:
      return `${subject} ${e.message ?? "is invalid"}`;
  }
}
