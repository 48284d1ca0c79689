// Writes a world dataset directory: images first, then items.jsonl, then manifest.json last, so a directory
// with a manifest is complete. Never touches files it did not make.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import { FORMAT, FORMAT_VERSION, GENERATOR, IMAGES_DIR, ITEMS_FILE, MANIFEST_FILE, type WorldManifest } from "./format.ts";
import { generateItems } from "./generate.ts";
import type { WorldOptions } from "./options.ts";
import { vocabulary } from "./vocab.ts";

/** A directory the world may not be written to; the message says why and what to do. */
export class WorldDirError extends Error {
  override name = "WorldDirError";
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7017";
}

/** Images the generator names: `<split>-<digits>.png`. */
const OUR_IMAGE = /^(train|val|test)-\d+\.png$/;

export interface WriteWorldOptions {
  /** Replace the world dataset in a non-empty directory (see prepare). */
  force?: boolean;
  /** Called after each item with the number written so far. */
  onItem?: (written: number) => void;
}

export function writeWorld(dir: string, options: WorldOptions, { force = false, onItem }: WriteWorldOptions = {}): WorldManifest {
  prepare(dir, force);
  mkdirSync(path.join(dir, IMAGES_DIR), { recursive: true });
  const counts: WorldManifest["counts"] = { items: 0, images: 0, tasks: {}, negatives: {} };
  const fd = openSync(path.join(dir, ITEMS_FILE), "w");
  try {
    let lines: string[] = [];
    for (const { item, png } of generateItems(options)) {
      if (png && item.image) {
        writeFileSync(path.join(dir, item.image), png);
        counts.images++;
      }
      counts.items++;
      counts.tasks[item.task] = (counts.tasks[item.task] ?? 0) + 1;
      if (item.negative) counts.negatives[item.negative] = (counts.negatives[item.negative] ?? 0) + 1;
      lines.push(JSON.stringify(item));
      onItem?.(counts.items);
      if (lines.length === 1000) {
        writeSync(fd, `${lines.join("\n")}\n`);
        lines = [];
      }
    }
    if (lines.length > 0) writeSync(fd, `${lines.join("\n")}\n`);
  } finally {
    closeSync(fd);
  }
  const manifest: WorldManifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    generator: GENERATOR,
    options,
    counts,
    vocabulary: vocabulary(),
    files: { items: ITEMS_FILE, images: `${IMAGES_DIR}/` },
  };
  const tmp = path.join(dir, `${MANIFEST_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, path.join(dir, MANIFEST_FILE));
  return manifest;
}

/**
 * An empty or missing directory is used as is. A non-empty one is refused, unless `force` and it holds a world
 * dataset: then that dataset's own files (manifest, items, generated images) are removed and anything else stays.
 */
function prepare(dir: string, force: boolean): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new WorldDirError(`${dir} is a file, not a directory; choose another --out`);
  if (readdirSync(dir).length === 0) return;
  if (!force) throw new WorldDirError(`${dir} is not empty; choose an empty or new directory, or pass --force to replace the world dataset in it`);
  const manifest = path.join(dir, MANIFEST_FILE);
  let format: unknown;
  try {
    format = (JSON.parse(readFileSync(manifest, "utf8")) as { format?: unknown }).format;
  } catch {
    format = undefined;
  }
  if (format !== FORMAT)
    throw new WorldDirError(
      `${dir} is not empty and holds no world dataset (no ${MANIFEST_FILE} of format ${FORMAT}); --force only replaces a world dataset, so choose another --out`,
    );
  unlinkSync(manifest); // first, so an interrupted rewrite never looks complete
  const items = path.join(dir, ITEMS_FILE);
  if (existsSync(items)) unlinkSync(items);
  const images = path.join(dir, IMAGES_DIR);
  if (existsSync(images) && statSync(images).isDirectory()) {
    for (const name of readdirSync(images)) if (OUR_IMAGE.test(name)) unlinkSync(path.join(images, name));
    if (readdirSync(images).length === 0) rmdirSync(images);
  }
}
