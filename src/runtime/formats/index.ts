// Preference files in and out (docs/formats.md): one module per format, dispatched here. `importFile` reads a
// user's file of any kind the catalog allows into an alignc dataset (images as absolute paths under the images
// root), collecting row problems as `file:row: what`; `exportFile` writes a dataset as a file of a format with
// its images beside it; `fileDigest` is what the file and the images its rows name hash to.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Dataset, DatasetKind, PairRecord, RatedRecord, RatingInfo, SampleRecord } from "../prefdata/records.ts";
import type { WorldItem } from "../world/format.ts";
import { checkImage, checkItem } from "../world/read.ts";
import { type AligncRecord, alignc, parseRecord, type RecordKind, writeRecord } from "./alignc.ts";
import { msSwift } from "./ms-swift.ts";
import { FileRowsError, type ImageRoot, imageRoot, parseRow, renameFields, resolveImage, splitRows } from "./rows.ts";
import { sharegpt } from "./sharegpt.ts";
import { trl } from "./trl.ts";
import { type FileFormat, type FormatModule, isRowError, type PairRow, type RowError } from "./types.ts";

export { alignc, parseItem, parseRecord, writeRecord } from "./alignc.ts";
export { IMAGE_PLACEHOLDER, stripPlaceholders } from "./common.ts";
export { msSwift } from "./ms-swift.ts";
export { badRowsMessage, FileRowsError, imageRoot, MAX_PROBLEMS, parseRow, renameFields, resolveImage, splitRows } from "./rows.ts";
export { renderErrors, SCHEMAS, schemaProblem } from "./schemas.ts";
export { sharegpt } from "./sharegpt.ts";
export { trl } from "./trl.ts";
export * from "./types.ts";

export const FORMATS: Readonly<Record<FileFormat, FormatModule>> = { alignc, trl, sharegpt, ms_swift: msSwift };

export function formatModule(name: string): FormatModule {
  const f = FORMATS[name as FileFormat];
  if (!f) throw new Error(`unknown file format ${JSON.stringify(name)}; known: ${Object.keys(FORMATS).join(", ")}`);
  return f;
}

/** Whether a format holds records of `kind`: every format holds prompts and pairs; samples and rated only alignc. */
export const formatHolds = (format: FileFormat, kind: DatasetKind): boolean => format === "alignc" || kind === "prompts" || kind === "pairs";

export interface ImportOptions {
  file: string;
  kind: DatasetKind;
  format: FileFormat;
  /** Renames: alignc's (the format's) field name → the file's. */
  fields?: Readonly<Record<string, string>>;
  /** The images root; default the file's directory. */
  images?: string;
  /** For kind rated: the rating the records' scores must fit (the node's aspects and scale). */
  aspects?: readonly string[];
  scale?: { min: number; max: number };
}

export interface ImportResult {
  /** The rows that passed every check, image paths absolute. */
  dataset: Dataset;
  /** `file:row: what` for every bad row. */
  problems: string[];
  /** The file's row count. */
  rows: number;
}

/** The kind of item an imported prompt or pair gets (docs/formats.md). */
export function importedItem(id: string, prompt: string, answer: string, image: string | null): WorldItem {
  return { id, split: "train", task: image ? "describe" : "text", kind: "imported", prompt, answer, image, scene: null, negative: null };
}

/** What is wrong with a rated record's scores under the rating, if anything. */
function scoreProblem(record: RatedRecord, aspects: readonly string[], scale: { min: number; max: number }): string | undefined {
  for (const [i, scores] of record.scores.entries()) {
    for (const a of aspects) if (!(a in scores)) return `'scores[${i}]' has no score for aspect '${a}' (the aspects are ${aspects.join(", ")})`;
    for (const [a, v] of Object.entries(scores)) {
      if (!aspects.includes(a)) return `'scores[${i}]' scores '${a}', which is not among the aspects ${aspects.join(", ")}`;
      if (!(v >= scale.min && v <= scale.max)) return `'scores[${i}].${a}' is ${v}, outside the scale ${scale.min}..${scale.max}`;
    }
  }
  return undefined;
}

/** Reads a user's file (throws FileRowsError when the file as a whole cannot be read). */
export function importFile(opts: ImportOptions): ImportResult {
  const { file, kind, format } = opts;
  if (!FORMATS[format]) throw new FileRowsError(`${file}: unknown format ${JSON.stringify(format)}; known: ${Object.keys(FORMATS).join(", ")}`);
  if (!formatHolds(format, kind)) throw new FileRowsError(`${file}: ${format} files hold prompts or pairs, not ${kind}; use format: alignc`);
  if (kind === "rated" && (!opts.aspects || !opts.scale)) throw new FileRowsError(`${file}: a file of rated records needs aspects and scale`);
  const fields = opts.fields ?? {};
  const rootDir = opts.images ?? path.dirname(file);
  const rows = splitRows(file);
  const problems: string[] = [];
  // A missing images directory is reported by the rows that name images (text-only files need none).
  const found = imageRoot(rootDir);
  const root: ImageRoot = isRowError(found) ? { dir: path.resolve(rootDir), real: path.resolve(rootDir) } : found;
  const ids = new Map<string, number>();
  const base = path.basename(file);
  const records: (WorldItem | AligncRecord)[] = [];
  const module = FORMATS[format];
  const resolved = new Map<string, string | RowError>(); // an image named by many rows is checked (and decoded) once
  const resolve = (written: string): string | RowError => {
    const known = resolved.get(written);
    if (known !== undefined) return known;
    const r = resolveImage(root, written);
    resolved.set(written, r);
    return r;
  };

  for (const { row, text } of rows) {
    const problem = (() => {
      // alignc prompts: world items, checked as the world reader checks them.
      if (kind === "prompts" && format === "alignc") {
        const value = parseRow(text);
        const item = checkItem(isRowError(value) ? text : JSON.stringify(renameFields(value, fields)), undefined);
        if (typeof item === "string") return item;
        if (ids.has(item.id)) return `id '${item.id}' was already used in row ${ids.get(item.id)}; ids must be unique`;
        if (item.image) {
          const bad = checkImage(root.dir, item.image, undefined, true);
          if (bad) return bad;
          const abs = resolveImage(root, item.image, false);
          if (isRowError(abs)) return abs.error;
          item.image = abs;
        }
        ids.set(item.id, row);
        records.push(item);
        return undefined;
      }
      const value = parseRow(text);
      if (isRowError(value)) return value.error;
      const renamed = renameFields(value, fields);
      let record: WorldItem | AligncRecord | RowError;
      if (format === "alignc") record = parseRecord(kind as RecordKind, renamed, { kind: "file", file, row, format });
      else if (kind === "prompts") {
        const p = module.parsePrompt(renamed);
        record = isRowError(p) ? p : importedItem(p.id ?? `${base}:${row}`, p.prompt, p.answer, p.image);
      } else {
        const p = module.parsePair(renamed);
        record = isRowError(p) ? p : pairOf(p, `${base}:${row}`, { kind: "file", file, row, format });
      }
      if (isRowError(record)) return record.error;
      const id = record.id;
      if (ids.has(id)) return `id '${id}' was already used in row ${ids.get(id)}; ids must be unique`;
      if (kind === "rated") {
        const bad = scoreProblem(record as RatedRecord, opts.aspects ?? [], opts.scale ?? { min: 0, max: 0 });
        if (bad) return bad;
      }
      const item = "item" in record ? record.item : record;
      if (item.image) {
        const abs = resolve(item.image);
        if (isRowError(abs)) return abs.error;
        item.image = abs;
      }
      ids.set(id, row);
      records.push(record);
      return undefined;
    })();
    if (problem !== undefined) problems.push(`${file}:${row}: ${problem}`);
  }
  return { dataset: datasetOf(kind, records, opts), problems, rows: rows.length };
}

function pairOf(p: PairRow, fallbackId: string, source: PairRecord["source"]): PairRecord {
  const id = p.id ?? fallbackId;
  return { id, item: importedItem(id, p.prompt, p.chosen, p.image), chosen: p.chosen, rejected: p.rejected, source };
}

function datasetOf(kind: DatasetKind, records: (WorldItem | AligncRecord)[], opts: ImportOptions): Dataset {
  switch (kind) {
    case "prompts":
      return { kind, records: records as WorldItem[] };
    case "samples":
      return { kind, records: records as SampleRecord[] };
    case "pairs":
      return { kind, records: records as PairRecord[] };
    case "rated": {
      const rating: RatingInfo = { rater: "file", kind: "file", aspects: [...(opts.aspects ?? [])], scale: { ...(opts.scale ?? { min: 0, max: 0 }) } };
      return { kind, records: records as RatedRecord[], rating };
    }
  }
}

/**
 * The digest of a file and of the images its rows name (after renames), for the node's store key. Never throws:
 * a file or image that cannot be read hashes as missing, and the run reports it.
 */
export function fileDigest(opts: Pick<ImportOptions, "file" | "format" | "fields" | "images">): string {
  const h = createHash("sha256");
  if (!existsSync(opts.file)) return h.update("missing").digest("hex");
  const bytes = readFileSync(opts.file);
  h.update(bytes);
  let rows: { text: string }[];
  try {
    rows = splitRows(opts.file, bytes.toString("utf8"));
  } catch {
    return h.digest("hex");
  }
  const root = opts.images ?? path.dirname(opts.file);
  const module = FORMATS[opts.format] ?? alignc;
  for (const { text } of rows) {
    const value = parseRow(text);
    if (isRowError(value)) continue;
    for (const image of module.imagesOf(renameFields(value, opts.fields ?? {}))) {
      const p = path.resolve(root, image);
      let content: Buffer;
      try {
        content = readFileSync(p);
      } catch {
        content = Buffer.from("missing");
      }
      h.update(p).update(content);
    }
  }
  return h.digest("hex");
}

// ── export ───────────────────────────────────────────────────────────────────

/** The folder, beside the exported file, that holds its images. */
export const EXPORT_IMAGES_DIR = "images";

export interface ExportResult {
  /** Rows written. */
  rows: number;
  /** Distinct image files written under images/. */
  images: number;
}

/**
 * Writes `dataset` to `outFile` in `format` (a .json file gets one JSON array, anything else JSON lines) and its
 * images under `images/` beside it, each named by its content (`images/<sha256, 16 hex>.png`, so exports into one
 * folder never clash), linked where possible. Image paths in the file are relative to the file.
 */
export function exportFile(dataset: Dataset, format: FileFormat, outFile: string): ExportResult {
  if (!formatHolds(format, dataset.kind)) throw new Error(`${format} files hold prompts or pairs, not ${dataset.kind}; export it with format: alignc`);
  const dir = path.dirname(outFile);
  mkdirSync(path.join(dir, EXPORT_IMAGES_DIR), { recursive: true });
  const names = new Map<string, string>();
  const place = (abs: string): string => {
    const known = names.get(abs);
    if (known) return known;
    const bytes = readFileSync(abs);
    const name = `${EXPORT_IMAGES_DIR}/${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}${path.extname(abs) || ".png"}`;
    const target = path.join(dir, name);
    if (!existsSync(target)) {
      try {
        linkSync(realpathSync(abs), target);
      } catch {
        copyFileSync(abs, target);
      }
    }
    names.set(abs, name);
    return name;
  };
  const relative = (item: WorldItem): WorldItem => (item.image ? { ...item, image: place(item.image) } : item);
  const module = FORMATS[format];
  const rows: Record<string, unknown>[] = [];
  if (dataset.kind === "prompts") for (const item of dataset.records) rows.push(module.writePrompt(relative(item)));
  else if (dataset.kind === "pairs") for (const r of dataset.records) rows.push(module.writePair({ ...r, item: relative(r.item) }));
  else for (const r of dataset.records as SampleRecord[]) rows.push(writeRecord({ ...r, item: relative(r.item) }));
  const text = outFile.endsWith(".json")
    ? `[\n${rows.map((r) => `  ${JSON.stringify(r)}`).join(",\n")}\n]\n`
    : rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  writeFileSync(outFile, text);
  return { rows: rows.length, images: new Set(names.values()).size };
}
