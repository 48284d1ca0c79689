// Loads and validates a world dataset directory (generated, or a user's own data in the same format). Every
// problem names the file, the line for items.jsonl, and what is wrong.
import path from "node:path";
import { inputProblem, MAX_IMAGE_BYTES, MAX_JSON_BYTES, refusalProblem, renderInputProblem } from "../../diagnostics/input-problems.ts";
import { checkUntrusted, type ReadRoot, readRoot, readUntrusted } from "../../util/untrusted-file.ts";
import { decodeUtf8 } from "../../util/utf8.ts";
import { FORMAT, FORMAT_VERSION, IMAGES_DIR, ITEMS_FILE, MANIFEST_FILE, type WorldItem, type WorldManifest } from "./format.ts";
import { mentions } from "./mentions.ts";
import { NEGATIVES, SPLITS, TASKS, type WorldOptions, WorldOptionsError, worldOptions } from "./options.ts";
import { decodePng, IMAGE_CAPS, PngError } from "./png.ts";
import { COLORS, POSITIONS, SHAPES, SIZES } from "./vocab.ts";

export interface WorldProblem {
  /** The file, as `dir` joined with its name. */
  file: string;
  /** 1-based line of items.jsonl. */
  line?: number;
  message: string;
}

export interface WorldDataset {
  manifest: WorldManifest | null;
  /** The items that passed every check. */
  items: WorldItem[];
  problems: WorldProblem[];
}

export const formatProblem = (p: WorldProblem): string => `${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`;

/** `images: false` skips decoding the PNGs (their existence is still checked). */
export function readWorld(dir: string, { images = true } = {}): WorldDataset {
  const problems: WorldProblem[] = [];
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const itemsFile = path.join(dir, ITEMS_FILE);
  const read = readManifest(manifestFile);
  if (typeof read === "string") problems.push({ file: manifestFile, message: read });
  const manifest = typeof read === "string" ? null : read;
  const options = manifest?.options;
  const text = readText(itemsFile);
  if (typeof text !== "string") {
    const missing = text.message === "missing";
    problems.push({
      file: itemsFile,
      message: missing ? `missing: a world dataset holds ${ITEMS_FILE}, one JSON item per line (see docs/world.md)` : text.message,
    });
    return { manifest, items: [], problems };
  }
  const items: WorldItem[] = [];
  const ids = new Map<string, number>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const root = readRoot(dir);
  lines.forEach((text, i) => {
    const line = i + 1;
    const item = checkItem(text, options);
    let problem: string | undefined;
    if (typeof item === "string") problem = item;
    else if (ids.has(item.id)) problem = `id '${item.id}' was already used on line ${ids.get(item.id)}; ids must be unique`;
    else if (item.image) problem = root ? checkImage(root, item.image, options?.image_size, images) : `the dataset directory ${dir} does not exist`;
    if (problem !== undefined) problems.push({ file: itemsFile, line, message: problem });
    else if (typeof item !== "string") {
      ids.set(item.id, line);
      items.push(item);
    }
  });
  if (manifest && problems.length === 0) problems.push(...checkCounts(manifest, items).map((message) => ({ file: manifestFile, message })));
  return { manifest, items, problems };
}

/**
 * A text file of a world dataset through the untrusted reader (a regular file within the cap, strict UTF-8, a
 * leading byte order mark dropped), or what is wrong: `{message: "missing"}` when it does not exist.
 */
function readText(file: string): string | { message: string } {
  const read = readUntrusted(file, { maxBytes: MAX_JSON_BYTES });
  if (!read.ok) return { message: read.reason === "missing" ? "missing" : renderInputProblem(refusalProblem(read, "file", MAX_JSON_BYTES)) };
  const bytes = read.bytes[0] === 0xef && read.bytes[1] === 0xbb && read.bytes[2] === 0xbf ? read.bytes.subarray(3) : read.bytes;
  const decoded = decodeUtf8(bytes);
  if ("text" in decoded) return decoded.text;
  const line = bytes.subarray(0, decoded.invalidAt).reduce((n, b) => n + (b === 10 ? 1 : 0), 1);
  const offset = decoded.invalidAt - (bytes.lastIndexOf(10, decoded.invalidAt - 1) + 1);
  return { message: renderInputProblem(inputProblem("rowNotUtf8", { where: `line ${line}`, offset })) };
}

/** The manifest, or what is wrong with it. */
function readManifest(file: string): WorldManifest | string {
  const text = readText(file);
  if (typeof text !== "string")
    return text.message === "missing"
      ? `missing: a world dataset directory holds ${MANIFEST_FILE}, ${ITEMS_FILE} and ${IMAGES_DIR}/ (see docs/world.md)`
      : text.message;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text);
  } catch (error) {
    return `not valid JSON: ${(error as Error).message}`;
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) return "must hold a JSON object";
  if (m.format !== FORMAT) return `format must be "${FORMAT}", got ${JSON.stringify(m.format)}`;
  if (m.version !== FORMAT_VERSION) {
    const newer = typeof m.version === "number" && m.version > FORMAT_VERSION;
    return `version ${JSON.stringify(m.version)} ${newer ? "was written by a newer alignc; upgrade alignc" : "is unknown"} (this alignc reads version ${FORMAT_VERSION})`;
  }
  try {
    m.options = worldOptions((m.options ?? {}) as Record<string, unknown>);
  } catch (error) {
    if (!(error instanceof WorldOptionsError)) throw error;
    return `options: ${error.message}`;
  }
  return m as unknown as WorldManifest;
}

function checkCounts(manifest: WorldManifest, items: WorldItem[]): string[] {
  const out: string[] = [];
  const said = manifest.counts?.items;
  if (said !== items.length) out.push(`counts.items is ${JSON.stringify(said)}, but ${ITEMS_FILE} holds ${items.length} items`);
  for (const t of TASKS) {
    const n = items.filter((it) => it.task === t).length;
    const s = manifest.counts?.tasks?.[t] ?? 0;
    if (s !== n) out.push(`counts.tasks.${t} is ${s}, but ${ITEMS_FILE} holds ${n}`);
  }
  return out;
}

const typeName = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v);

/** A world item from one line of items.jsonl, or what is wrong with it (`options`: the manifest's, when there is one). */
export function checkItem(text: string, options: WorldOptions | undefined): WorldItem | string {
  if (text.trim() === "") return "blank line; items.jsonl holds one JSON object per line";
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch (error) {
    return `not valid JSON: ${(error as Error).message}`;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `must be a JSON object, got ${typeName(v)}`;
  const bad = (field: string, want: string) =>
    field in v ? `field '${field}' must be ${want}, got ${JSON.stringify(v[field])}` : `field '${field}' is missing`;
  const str = (field: string, nonEmpty = true) => typeof v[field] === "string" && (!nonEmpty || v[field] !== "");
  const oneOf = (field: string, values: readonly string[]) => values.includes(v[field] as string);
  const negatives = options?.negatives ?? NEGATIVES;
  const isText = v.task === "text";
  const pope = v.task === "pope";
  if (!str("id")) return bad("id", "a non-empty string");
  if (!oneOf("split", SPLITS)) return bad("split", `one of ${SPLITS.join(", ")}`);
  if (options && v.split !== options.split) return `split is '${v.split}', but the manifest says this is the ${options.split} split`;
  if (!oneOf("task", TASKS)) return bad("task", `one of ${TASKS.join(", ")}`);
  if (!str("kind")) return bad("kind", "a non-empty string");
  if (!str("prompt")) return bad("prompt", "a non-empty string");
  if (!str("answer", false)) return bad("answer", "a string");
  if (isText ? v.image !== null : !str("image")) return bad("image", isText ? "null for a text item" : "the path of a PNG for an image item");
  if (isText && v.scene !== null) return bad("scene", "null for a text item");
  // Items imported from trainer formats (kind "imported") have an image but no scene graph.
  const sceneless = v.kind === "imported" && v.scene === null;
  const sceneProblem = isText || sceneless ? undefined : checkScene(v.scene);
  if (sceneProblem) return sceneProblem;
  if (pope ? !oneOf("negative", negatives) : v.negative !== null)
    return bad("negative", pope ? `one of ${negatives.join(", ")} for a POPE item` : "null except for POPE items");
  if (v.messages !== undefined && !isConversation(v.messages))
    return bad("messages", "a list of {role: system | user | assistant, content: string} ending with a user message");
  const item = v as unknown as WorldItem;
  return (pope && checkPope(item)) || item;
}

function isConversation(v: unknown): boolean {
  if (!Array.isArray(v) || v.length === 0) return false;
  const ok = v.every(
    (m) =>
      typeof m === "object" &&
      m !== null &&
      ["system", "user", "assistant"].includes((m as { role: unknown }).role as string) &&
      typeof (m as { content: unknown }).content === "string",
  );
  return ok && (v.at(-1) as { role: string }).role === "user";
}

/** What is wrong with a scene graph, if anything. */
function checkScene(scene: unknown): string | undefined {
  const objects = (scene as { objects?: unknown } | null)?.objects;
  if (!Array.isArray(objects)) return "field 'scene' must be an object with an 'objects' array (the scene graph)";
  for (const [i, o] of objects.entries()) {
    const at = `scene.objects[${i}]`;
    if (typeof o !== "object" || o === null) return `${at} must be an object`;
    const words: [string, readonly string[]][] = [
      ["shape", SHAPES],
      ["color", COLORS],
      ["size", SIZES],
      ["position", POSITIONS],
    ];
    for (const [key, values] of words) if (!values.includes(o[key])) return `${at}.${key} must be one of ${values.join(", ")}, got ${JSON.stringify(o[key])}`;
    for (const [key, max] of [
      ["x", 1],
      ["y", 1],
      ["r", 0.5],
    ] as const)
      if (typeof o[key] !== "number" || !(o[key] >= 0 && o[key] <= max)) return `${at}.${key} must be a number in [0, ${max}], got ${JSON.stringify(o[key])}`;
  }
  return undefined;
}

/** A POPE answer starts with yes or no, and agrees with the scene about the one object the prompt names. */
function checkPope(item: WorldItem): string | undefined {
  const said = /^\s*(yes|no)\b/i.exec(item.answer)?.[1]?.toLowerCase();
  if (!said) return `a POPE answer must start with yes or no, got ${JSON.stringify(item.answer)}`;
  const asked = mentions(item.prompt).filter((m) => !m.negated);
  const m = asked[0];
  if (asked.length !== 1 || !m || !item.scene) return undefined;
  const what = `${m.color ? `${m.color} ` : ""}${m.shape}`;
  const present = item.scene.objects.some((o) => o.shape === m.shape && (!m.color || o.color === m.color));
  if (present !== (said === "yes")) return `answer is '${said}' but the scene ${present ? "holds a" : "has no"} ${what}`;
  return undefined;
}

/**
 * What is wrong with an item's image (a path relative to the dataset directory `root`), if anything: a path that
 * leaves the directory (as written or through a symbolic link), a missing or special file, a file over the cap —
 * all before it is opened — and with `decode`, a header that is not a PNG within the pixel caps, a file that does
 * not decode, or a size other than the manifest's.
 */
export function checkImage(root: ReadRoot, image: string, side: number | undefined, decode: boolean): string | undefined {
  const norm = path.posix.normalize(image);
  if (path.isAbsolute(image) || norm === ".." || norm.startsWith("../"))
    return `image path ${JSON.stringify(image)} must be relative to the dataset directory and stay inside it`;
  const opts = { root, maxBytes: MAX_IMAGE_BYTES };
  const read = decode ? readUntrusted(norm, opts) : checkUntrusted(norm, opts);
  if (!read.ok) return renderInputProblem(refusalProblem(read, "image", MAX_IMAGE_BYTES, { shown: image, root: root.dir }));
  if (!("bytes" in read)) return undefined;
  let size: { width: number; height: number };
  try {
    size = decodePng(read.bytes);
  } catch (e) {
    if (!(e instanceof PngError)) throw e;
    return renderInputProblem(
      e.kind === "too-large"
        ? inputProblem("imageTooLarge", { image, width: e.width, height: e.height, limit: IMAGE_CAPS })
        : inputProblem("imageUnreadable", { image, reason: e.message }),
    );
  }
  if (side !== undefined && (size.width !== side || size.height !== side))
    return `image ${image} is ${size.width}×${size.height}, but the manifest's image_size is ${side}`;
  return undefined;
}
