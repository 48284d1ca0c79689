// Reading a Parquet file (as Hugging Face `datasets` and pyarrow write it) one row group at a time, each row as an
// object of its top-level columns, for parquet-values.ts to turn into what a JSON row would be. hyparquet parses;
// its top-level read is async, so this drives its synchronous parts (footer, column chunks, nested assembly: the
// `hyparquet/src/*.js` entry points its package exports) through the untrusted reader's positional reads, and
// importing and store keys stay synchronous as they are for JSON files. Codecs: what hyparquet decodes itself
// (none, snappy: pyarrow's and datasets' default) and what node:zlib decodes (gzip, brotli, zstd where Node has it).
import zlib from "node:zlib";
import type { CompressionCodec, Compressors, DecodedArray, FileMetaData, SchemaTree } from "hyparquet";
import { flatten, parquetMetadata, parquetSchema } from "hyparquet";
import { assembleNested } from "hyparquet/src/assemble.js";
import { readColumn } from "hyparquet/src/column.js";
import { DEFAULT_PARSERS } from "hyparquet/src/convert.js";
import { getTreePath } from "hyparquet/src/schema.js";
import { formatBytes, inputProblem, MAX_JSONL_BYTES, refusalProblem } from "../../../diagnostics/input-problems.ts";
import { withUntrustedReader } from "../../../util/untrusted-file.ts";
import { decodeUtf8 } from "../../../util/utf8.ts";
import { FileRowsError, fileRowsError } from "./rows.ts";

export const PARQUET_EXTENSION = ".parquet";

/** Whether a data file is read as Parquet (by its extension; the reader then checks the PAR1 magic). */
export const isParquetFile = (file: string): boolean => file.toLowerCase().endsWith(PARQUET_EXTENSION);

/** Largest Parquet file: it is read a row group at a time, so only time grows with it. */
export const MAX_PARQUET_BYTES = MAX_JSONL_BYTES;
/** Largest row group (its column chunks, compressed and uncompressed), read into memory whole. */
export const MAX_ROW_GROUP_BYTES = 1024 * 1024 * 1024;
/** Largest footer (the file's metadata). */
const MAX_FOOTER_BYTES = 64 * 1024 * 1024;
const MAGIC = "PAR1";
const HASH_CHUNK = 1 << 20;

/** A string column's value that is not UTF-8 (hyparquet's own decoder would put replacement characters in). */
export class NotUtf8 {
  constructor(readonly invalidAt: number) {}
}

const parsers = {
  ...DEFAULT_PARSERS,
  stringFromBytes: (bytes: Uint8Array | undefined): string | NotUtf8 | undefined => {
    if (!bytes) return bytes;
    const d = decodeUtf8(bytes);
    return "text" in d ? d.text : new NotUtf8(d.invalidAt);
  },
};

/** A decompressor from node:zlib, bounded by the page's stated size so that a page cannot inflate without end. */
const zlibCodec =
  (decompress: (b: Uint8Array, o: { maxOutputLength: number }) => Buffer) =>
  (input: Uint8Array, outputLength: number): Uint8Array =>
    decompress(input, { maxOutputLength: Math.max(1, outputLength) });

const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o: { maxOutputLength: number }) => Buffer }).zstdDecompressSync;

const COMPRESSORS: Compressors = {
  GZIP: zlibCodec(zlib.unzipSync),
  BROTLI: zlibCodec(zlib.brotliDecompressSync),
  ...(zstd ? { ZSTD: zlibCodec(zstd) } : {}),
};

/** The codecs this alignc reads, in words (docs/formats.md). */
export const READ_CODECS: readonly CompressionCodec[] = ["UNCOMPRESSED", "SNAPPY", ...(Object.keys(COMPRESSORS) as CompressionCodec[])];

const fail = (file: string, problem: string): FileRowsError => fileRowsError(file, inputProblem("parquetUnreadable", { file, problem }));

/** The file's metadata from its footer, after checking the magic at both ends. */
function readFooter(file: string, read: (position: number, length: number) => Buffer, size: number): FileMetaData {
  if (size < 12 || read(0, 4).toString("latin1") !== MAGIC)
    throw fail(file, `it does not start with Parquet's magic bytes "PAR1", so it is not a Parquet file`);
  const tail = read(size - 8, 8);
  if (tail.subarray(4).toString("latin1") !== MAGIC) throw fail(file, `it does not end with "PAR1": the file is cut short or not Parquet`);
  const length = tail.readUInt32LE(0);
  if (length > size - 12) throw fail(file, `its footer claims ${length} bytes, more than the file holds`);
  if (length > MAX_FOOTER_BYTES) throw fail(file, `its footer is ${formatBytes(length)}; alignc reads footers up to ${formatBytes(MAX_FOOTER_BYTES)}`);
  const footer = read(size - 8 - length, length + 8);
  try {
    return parquetMetadata(footer.buffer.slice(footer.byteOffset, footer.byteOffset + footer.byteLength) as ArrayBuffer);
  } catch (e) {
    throw fail(file, `its footer does not parse (${(e as Error).message})`);
  }
}

/** Refuses what this reader cannot read, before any row is read. */
function checkReadable(file: string, metadata: FileMetaData): void {
  for (const [g, group] of metadata.row_groups.entries()) {
    let bytes = 0;
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (!meta || chunk.file_path) throw fail(file, `row group ${g} keeps its columns in another file, which alignc does not read`);
      if (!READ_CODECS.includes(meta.codec))
        throw fail(
          file,
          `column '${meta.path_in_schema.join(".")}' is compressed with ${meta.codec}; alignc reads ${READ_CODECS.join(", ")}` +
            `${meta.codec === "ZSTD" ? " (ZSTD with Node 22.15 or later, whose zlib has it)" : ""}` +
            ` — write it again with snappy, e.g. pyarrow.parquet.write_table(pyarrow.parquet.read_table(IN), OUT)`,
        );
      bytes += Number(meta.total_compressed_size) + Number(meta.total_uncompressed_size);
    }
    if (bytes > MAX_ROW_GROUP_BYTES)
      throw fail(
        file,
        `row group ${g} holds ${formatBytes(bytes)}; alignc reads row groups up to ${formatBytes(MAX_ROW_GROUP_BYTES)} — write it with smaller ones (row_group_size, or datasets' to_parquet(batch_size=…))`,
      );
  }
}

/** One row group's top-level columns, each assembled (structs and lists) as hyparquet assembles them. */
function readGroup(read: (position: number, length: number) => Buffer, metadata: FileMetaData, tree: SchemaTree, g: number): Map<string, DecodedArray> {
  const group = metadata.row_groups[g] as FileMetaData["row_groups"][number];
  const rows = Number(group.num_rows);
  const physical = new Map<string, DecodedArray>();
  for (const chunk of group.columns) {
    const meta = chunk.meta_data as NonNullable<typeof chunk.meta_data>;
    const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
    const bytes = read(start, Number(meta.total_compressed_size));
    const schemaPath = getTreePath(tree, meta.path_in_schema);
    const decoder: Parameters<typeof readColumn>[2] = {
      ...meta,
      pathInSchema: meta.path_in_schema,
      element: (schemaPath.at(-1) as SchemaTree).element,
      schemaPath,
      parsers,
      compressors: COMPRESSORS,
      // Unannotated binary (an image's bytes) stays bytes; parquet-values.ts decides what it is.
      utf8: false,
    };
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const { data } = readColumn({ view, offset: 0 }, { groupStart: 0, selectStart: 0, selectEnd: rows, groupRows: rows }, decoder);
    physical.set(meta.path_in_schema.join("."), flatten(data));
  }
  const columns = new Map<string, DecodedArray>();
  for (const child of tree.children) {
    const name = child.element.name;
    if (child.children.length > 0) {
      assembleNested(physical, child, parsers);
      columns.set(name, physical.get(name) ?? []);
    } else columns.set(name, physical.get(name) ?? []);
  }
  return columns;
}

/**
 * Calls `onRow` with each row's top-level columns (values as hyparquet decodes them: bigints, byte arrays, NotUtf8
 * for a string that is not UTF-8), in order, 1-based, and returns the number of rows; `onBytes` (for a hash) sees
 * the whole file first. Throws FileRowsError when the file as a whole cannot be read.
 */
export function forEachParquetRow(file: string, onRow: (row: number, value: Record<string, unknown>) => void, onBytes?: (chunk: Buffer) => void): number {
  const r = withUntrustedReader(file, { maxBytes: MAX_PARQUET_BYTES }, (read, size) => {
    for (let at = 0; onBytes && at < size; at += HASH_CHUNK) onBytes(read(at, HASH_CHUNK));
    const metadata = readFooter(file, read, size);
    checkReadable(file, metadata);
    const tree = parquetSchema(metadata);
    let row = 0;
    for (let g = 0; g < metadata.row_groups.length; g++) {
      let columns: Map<string, DecodedArray>;
      try {
        columns = readGroup(read, metadata, tree, g);
      } catch (e) {
        if (e instanceof FileRowsError || (e as NodeJS.ErrnoException).syscall) throw e;
        throw fail(file, `row group ${g} does not decode (${(e as Error).message}); the file is corrupt`);
      }
      const count = Number(metadata.row_groups[g]?.num_rows ?? 0);
      for (let i = 0; i < count; i++) {
        const value: Record<string, unknown> = {};
        for (const [name, data] of columns) value[name] = data[i];
        onRow(++row, value);
      }
    }
    return row;
  });
  if (!r.ok) throw fileRowsError(file, refusalProblem(r, "data file", MAX_PARQUET_BYTES, { shown: file }));
  return r.value;
}
