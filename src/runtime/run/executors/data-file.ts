// data.file: prompts from a user's file in alignc's own format — world items (docs/world.md), one JSON object per
// line (.jsonl) or a JSON array (.json), with images relative to `images` (default: the file's directory). Fields
// may be renamed with `fields`. The records and their images are copied into the store entry, and the file's and
// images' bytes are part of the node's key, so an edited file is read again.
// Preference files and the TRL, sharegpt and ms-swift layouts come with the preference-data stages.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { GraphNode } from "../../../compiler/lower/graph.ts";
import { IMAGES_DIR, ITEMS_FILE, type WorldItem } from "../../world/format.ts";
import { checkImage, checkItem } from "../../world/read.ts";
import { NodeError, type NodeExecutor } from "./types.ts";

interface FileSource {
  file: string;
  imagesDir: string;
}

function sourceOf(node: GraphNode, entryDir: string): FileSource {
  const file = path.resolve(entryDir, String(node.params.path));
  const images = node.params.images;
  return { file, imagesDir: typeof images === "string" ? path.resolve(entryDir, images) : path.dirname(file) };
}

function readSource(file: string): string {
  if (!existsSync(file)) throw new NodeError(`${file}: no such file; check the path (it is relative to the .align file)`);
  return readFileSync(file, "utf8");
}

/** The file's records as JSON texts with their 1-based row (line of a .jsonl, index + 1 of a .json array). */
function records(file: string, text = readSource(file)): { row: number; text: string }[] {
  if (file.endsWith(".json")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new NodeError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new NodeError(`${file}: a .json dataset must hold an array of records`);
    return parsed.map((r, i) => ({ row: i + 1, text: JSON.stringify(r) }));
  }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((t, i) => ({ row: i + 1, text: t }));
}

function rename(text: string, fields: Record<string, string>): string {
  if (Object.keys(fields).length === 0) return text;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return text; // checkItem reports it
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return text;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = { ...o };
  for (const [ours, theirs] of Object.entries(fields)) {
    delete out[theirs];
    if (theirs in o) out[ours] = o[theirs];
  }
  return JSON.stringify(out);
}

export const dataFile: NodeExecutor = {
  kind: "data.file",
  version: 1,
  external(node, entryDir) {
    const { file, imagesDir } = sourceOf(node, entryDir);
    const h = createHash("sha256");
    if (!existsSync(file)) return h.update("missing").digest("hex");
    const bytes = readFileSync(file);
    h.update(bytes);
    // The images the records name (after renames) count too; a record or path that cannot be read hashes as
    // missing, and the run reports it.
    let rows: { row: number; text: string }[] = [];
    try {
      rows = records(file, bytes.toString("utf8"));
    } catch {
      return h.digest("hex");
    }
    const fields = (node.params.fields ?? {}) as Record<string, string>;
    for (const { text } of rows) {
      let image: unknown;
      try {
        image = (JSON.parse(rename(text, fields)) as { image?: unknown }).image;
      } catch {
        continue;
      }
      if (typeof image !== "string") continue;
      const p = path.resolve(imagesDir, image);
      h.update(p).update(existsSync(p) ? readFileSync(p) : Buffer.from("missing"));
    }
    return h.digest("hex");
  },
  async run(ctx) {
    const p = ctx.node.params;
    if (p.kind !== "prompts" || (p.format ?? "alignc") !== "alignc")
      throw new NodeError(
        `file: kind ${String(p.kind)} in format ${String(p.format)} is not read by this version of alignc's runtime; it reads kind: prompts in format: alignc (world items, docs/world.md)`,
      );
    const { file, imagesDir } = sourceOf(ctx.node, ctx.entryDir);
    const fields = (p.fields ?? {}) as Record<string, string>;
    const items: WorldItem[] = [];
    const problems: string[] = [];
    const ids = new Map<string, number>();
    mkdirSync(path.join(ctx.out, IMAGES_DIR), { recursive: true });
    for (const { row, text } of records(file)) {
      const item = checkItem(rename(text, fields), undefined);
      let problem = typeof item === "string" ? item : undefined;
      if (typeof item !== "string") {
        if (ids.has(item.id)) problem = `id '${item.id}' was already used in row ${ids.get(item.id)}; ids must be unique`;
        else if (item.image) problem = checkImage(imagesDir, item.image, undefined, true);
      }
      if (problem !== undefined || typeof item === "string") {
        problems.push(`${file}:${row}: ${problem}`);
        continue;
      }
      ids.set(item.id, row);
      if (item.image) {
        const stored = `${IMAGES_DIR}/${items.length}${path.extname(item.image) || ".png"}`;
        copyFileSync(path.resolve(imagesDir, item.image), path.join(ctx.out, stored));
        item.image = stored;
      }
      items.push(item);
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 20).join("\n  ");
      throw new NodeError(
        `${file}: ${problems.length} bad record${problems.length > 1 ? "s" : ""}; fix them and run again:\n  ${shown}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ""}`,
      );
    }
    if (items.length === 0) throw new NodeError(`${file}: holds no records`);
    writeFileSync(path.join(ctx.out, ITEMS_FILE), `${items.map((it) => JSON.stringify(it)).join("\n")}\n`);
    const tasks: Record<string, number> = {};
    for (const it of items) tasks[it.task] = (tasks[it.task] ?? 0) + 1;
    return { source: file, items: items.length, tasks };
  },
};
