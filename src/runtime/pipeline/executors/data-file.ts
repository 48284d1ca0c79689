// data.file: records from a user's file (docs/formats.md): prompts in any format, pairs in any format, samples
// and rated samples in alignc's format. One JSON object per line (.jsonl), a JSON array (.json) or Parquet
// (.parquet); images relative to `images` (default: the file's directory) and never outside it, or a Parquet row's
// own bytes; fields may be renamed with `fields`. The records and copies of their images are written into the store
// entry, and the file's and images' bytes are part of the node's key, so an edited file is read again. Every bad
// row is reported as `file:row: what`.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MAX_IMAGE_BYTES, refusalProblem, renderInputProblem } from "../../../diagnostics/input-problems.ts";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { Params } from "../../../graph/params.ts";
import { type ReadRoot as ImageRoot, readRoot, readUntrusted } from "../../../util/untrusted-file.ts";
import { badRowsMessage, FileRowsError, fileDigest, type ImportOptions, importFile } from "../../data/formats/index.ts";
import { type Dataset, itemOf, writeDataset } from "../../data/prefdata/records.ts";
import { IMAGES_DIR, ITEMS_FILE, type WorldItem } from "../../world/format.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";

type FileSettings = Pick<Params<"data.file">, "path" | "kind" | "format" | "fields" | "images" | "aspects" | "scale">;

/** The import options of a data.file node's settings, its paths resolved against the entry file's directory. */
function importOptionsOf(s: FileSettings, entryDir: string): ImportOptions {
  const file = path.resolve(entryDir, s.path);
  const opts: ImportOptions = {
    file,
    kind: s.kind,
    format: s.format,
    fields: s.fields,
    images: s.images !== undefined ? path.resolve(entryDir, s.images) : path.dirname(file),
  };
  if (s.aspects) opts.aspects = s.aspects;
  if (s.scale) opts.scale = s.scale;
  return opts;
}

/** Where the import writes a Parquet file's embedded images: a folder of the entry, removed once they are placed. */
const EMBEDDED_DIR = ".embedded";

/** Whether `image` is one the import wrote into the entry from the file's own bytes (checked as it was written). */
const isEmbedded = (image: string, out: string): boolean => path.dirname(image) === path.join(out, EMBEDDED_DIR);

/**
 * Copies a user's image (checked when the file was imported) into the entry, through the untrusted reader again:
 * a file swapped for a FIFO or a link out of the root since the check is refused, not followed. An embedded image
 * is the entry's own file already.
 */
function copyImage(image: string, root: ImageRoot | undefined, to: string, out: string): void {
  if (isEmbedded(image, out)) {
    copyFileSync(image, to);
    return;
  }
  if (!root) throw new NodeError(`the images root of ${image} is gone`); // it existed when the rows were checked
  const read = readUntrusted(image, { root, maxBytes: MAX_IMAGE_BYTES });
  if (!read.ok) throw new NodeError(renderInputProblem(refusalProblem(read, "image", MAX_IMAGE_BYTES, { root: root.dir })));
  writeFileSync(to, read.bytes, { flag: "wx" });
}

/** Prompts in alignc's format: items.jsonl and images/<n>.<ext>, one copy per item (as alignc has always written them). */
function writeWorldItems(out: string, items: WorldItem[], root: ImageRoot | undefined): void {
  mkdirSync(path.join(out, IMAGES_DIR), { recursive: true });
  const stored = items.map((item, i) => {
    if (!item.image) return item;
    const name = `${IMAGES_DIR}/${i}${path.extname(item.image) || ".png"}`;
    copyImage(item.image, root, path.join(out, name), out);
    return { ...item, image: name };
  });
  writeFileSync(path.join(out, ITEMS_FILE), `${stored.map((it) => JSON.stringify(it)).join("\n")}\n`);
}

/**
 * Any dataset through writeDataset. The user's images are copied first (into a folder of the entry that is
 * removed afterwards), so the entry links to its own copies, never to the user's files, which may be edited in place.
 */
function writeImported(out: string, dataset: Dataset, root: ImageRoot | undefined): void {
  const incoming = path.join(out, ".incoming");
  const copies = new Map<string, string>();
  const kind = dataset.kind;
  const records = (dataset.records as Parameters<typeof itemOf>[1][]).map((r) => {
    const item = itemOf(kind, r);
    if (!item.image) return r;
    let copy = isEmbedded(item.image, out) ? item.image : copies.get(item.image);
    if (!copy) {
      copy = path.join(incoming, `${copies.size}${path.extname(item.image) || ".png"}`);
      mkdirSync(incoming, { recursive: true });
      copyImage(item.image, root, copy, out);
      copies.set(item.image, copy);
    }
    const moved = { ...item, image: copy };
    return kind === "prompts" ? moved : { ...r, item: moved };
  });
  writeDataset(out, { ...dataset, records } as Dataset);
  rmSync(incoming, { recursive: true, force: true });
}

export const dataFile = defineExecutor({
  ...nodeKind("data.file"),
  settings: (p): FileSettings => ({
    path: p.path,
    kind: p.kind,
    format: p.format,
    fields: p.fields,
    images: p.images,
    aspects: p.aspects,
    scale: p.scale,
  }),
  external(settings, entryDir) {
    return fileDigest(importOptionsOf(settings, entryDir));
  },
  async run(ctx, settings) {
    const opts = { ...importOptionsOf(settings, ctx.entryDir), embeddedImages: path.join(ctx.out, EMBEDDED_DIR) };
    const { file, kind, format } = opts;
    let result: ReturnType<typeof importFile>;
    try {
      result = importFile(opts);
    } catch (e) {
      if (e instanceof FileRowsError) throw new NodeError(e.message, { cause: e });
      throw e;
    }
    if (result.problems.length > 0) throw new NodeError(badRowsMessage(file, result.problems));
    const { dataset } = result;
    if (dataset.records.length === 0) throw new NodeError(`${file}: holds no records`);
    const root = readRoot(opts.images ?? path.dirname(file));
    if (dataset.kind === "prompts") {
      if (format === "alignc") writeWorldItems(ctx.out, dataset.records, root);
      else writeImported(ctx.out, dataset, root);
      rmSync(opts.embeddedImages, { recursive: true, force: true });
      const tasks: Record<string, number> = {};
      for (const it of dataset.records) tasks[it.task] = (tasks[it.task] ?? 0) + 1;
      return format === "alignc" ? { source: file, items: dataset.records.length, tasks } : { source: file, format, items: dataset.records.length, tasks };
    }
    writeImported(ctx.out, dataset, root);
    rmSync(opts.embeddedImages, { recursive: true, force: true });
    const images = new Set(dataset.records.map((r) => r.item.image).filter((i) => i !== null)).size;
    return { source: file, format, kind, records: dataset.records.length, images };
  },
});
