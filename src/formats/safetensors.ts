// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 header
// length N, N bytes of UTF-8 JSON header, then the tensor bytes (little-endian, row-major). The writer
// follows the reference implementation byte for byte: compact JSON, "__metadata__" first, tensors laid out
// by descending dtype alignment then name (UTF-8 byte order), header space-padded to a multiple of 8 so
// every tensor's data is aligned. The reader checks every header rule and names the file in its errors.
import { readFileSync } from "node:fs";
import { allocate, byteSize, type DType } from "../tensor/ir/dtype.ts";
import type { TensorData } from "../tensor/ir/graph.ts";
import { writeFileAtomic } from "../util/safe-write.ts";
import { describeRefusal, type ReadRoot, withUntrustedReader } from "../util/untrusted-file.ts";
import { type JsonValue, LONE_SURROGATE, parseStrictJson } from "./strict-json.ts";

/** The reference reader's limit: a larger header is taken as a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";

const TO_FILE: Record<DType, string> = {
  float32: "F32",
  float64: "F64",
  float16: "F16",
  bfloat16: "BF16",
  int64: "I64",
  int32: "I32",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};
const FROM_FILE = new Map(Object.entries(TO_FILE).map(([d, s]) => [s, d as DType]));
/** Valid in the format but with no alignc dtype, so named as such rather than as unknown. */
const UNSUPPORTED = new Set(["I16", "U16", "U32", "U64", "C64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"]);
/** Position in the reference's `Dtype` enum, which is declared in increasing alignment; the writer sorts by it, descending. */
const ALIGN_RANK: Record<DType, number> = { bool: 0, uint8: 1, int8: 2, float16: 3, bfloat16: 4, int32: 5, float32: 6, float64: 7, int64: 8 };
type ArrayClass =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint16ArrayConstructor
  | BigInt64ArrayConstructor
  | Int32ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor;
const ARRAY_CLASS: Record<DType, ArrayClass> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export class SafetensorsError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7005";
  override name = "SafetensorsError";
}

export type TensorMap = ReadonlyMap<string, TensorData> | Readonly<Record<string, TensorData>>;

export interface SafetensorsContents {
  /** In file (offset) order. */
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
}

const utf8 = new TextEncoder();

/** Rust's `String` ordering: bytewise on UTF-8, which differs from JS's UTF-16 order above U+FFFF. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

function describe(v: unknown): string {
  return typeof v === "object" && v !== null ? v.constructor.name : typeof v;
}

function entriesOf(tensors: TensorMap): [string, TensorData][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors as Record<string, TensorData>);
}

/** What is wrong with `t` as a tensor value (dtype, shape, typed-array class, length), or undefined. */
export function tensorDataProblem(t: TensorData): string | undefined {
  if (!Object.hasOwn(TO_FILE, t.dtype)) return `unknown dtype ${JSON.stringify(t.dtype)}`;
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    return `shape ${JSON.stringify(t.shape)} must hold non-negative integers`;
  const cls = ARRAY_CLASS[t.dtype];
  if (!(t.data instanceof cls)) return `${t.dtype} data must be a ${cls.name}, got ${describe(t.data)}`;
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) return `shape [${t.shape.join(", ")}] needs ${n} elements, the data holds ${t.data.length}`;
  return undefined;
}

function checkTensor(name: string, t: TensorData): void {
  const what = `tensor ${JSON.stringify(name)}`;
  if (name === METADATA_KEY) throw new SafetensorsError(`${what}: the name is reserved for the file's metadata`);
  if (LONE_SURROGATE.test(name)) throw new SafetensorsError(`${what}: the name is not valid Unicode (a lone surrogate)`);
  const problem = tensorDataProblem(t);
  if (problem) throw new SafetensorsError(`${what}: ${problem}`);
}

/** The file bytes for `tensors` (laid out as the reference writer does) and optional string metadata. */
export function encodeSafetensors(tensors: TensorMap, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const entries = entriesOf(tensors);
  for (const [name, t] of entries) checkTensor(name, t);
  entries.sort(([an, a], [bn, b]) => ALIGN_RANK[b.dtype] - ALIGN_RANK[a.dtype] || compareUtf8(an, bn));
  // Built as text rather than through JSON.stringify of an object: objects put integer-like keys ("0") first.
  const parts: string[] = [];
  const meta = Object.entries(metadata ?? {});
  if (meta.length > 0) {
    for (const [k, v] of meta) {
      if (typeof v !== "string") throw new SafetensorsError(`metadata ${JSON.stringify(k)}: values must be strings, got ${typeof v}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) throw new SafetensorsError(`metadata ${JSON.stringify(k)}: not valid Unicode (a lone surrogate)`);
    }
    meta.sort(([a], [b]) => compareUtf8(a, b));
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`);
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${TO_FILE[t.dtype]}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, t] of entries) {
    // Typed arrays hold host-order bytes; every platform Node supports is little-endian, as the format is.
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** One tensor as a header describes it; `begin`/`end` are relative to the data section, which starts at `dataStart`. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Byte offset of the data section in the file: 8 + the header length. */
  dataStart: number;
  /** In file (offset) order. */
  tensors: SafetensorsEntry[];
  metadata: Record<string, string>;
}

type Fail = (msg: string) => never;

/** The header length from the first 8 bytes, checked against the limit and the file's size. */
function headerLengthOf(first8: Uint8Array, fileSize: number, fail: Fail): number {
  if (first8.length < 8 || fileSize < 8) fail(`the file is ${fileSize} bytes, too short for the 8-byte header length`);
  const n = new DataView(first8.buffer, first8.byteOffset, first8.byteLength).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header too large: ${n} bytes declared, the limit is ${MAX_HEADER_BYTES}`);
  const headerLength = Number(n);
  if (8 + headerLength > fileSize) fail(`header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  return headerLength;
}

/** Parses the header's JSON and checks every entry against a data section of `dataLength` bytes (tiled exactly). */
function parseHeader(headerBytes: Uint8Array, dataLength: number, fail: Fail): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail("the header is not valid UTF-8");
  }
  if (!text.startsWith("{")) fail(`the header must start with "{", got ${JSON.stringify(text.slice(0, 16))}`);
  let header: JsonValue = null;
  try {
    header = parseStrictJson(text);
  } catch (e) {
    fail(`the header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(header)) return fail("the header must be a JSON object");

  const metadata = readMetadata(header[METADATA_KEY], fail);
  const entries = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, info]) => readEntry(name, info, fail));
  for (const e of entries) {
    const what = `tensor ${JSON.stringify(e.name)}`;
    if (e.end > dataLength) fail(`${what}: data_offsets [${e.begin}, ${e.end}] are out of range; the data section is ${dataLength} bytes`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    const need = count * byteSize(e.dtype);
    if (!Number.isSafeInteger(need)) fail(`${what}: shape [${e.shape.join(", ")}] is too large`);
    if (e.end - e.begin !== need) {
      fail(`${what}: data_offsets [${e.begin}, ${e.end}] cover ${e.end - e.begin} bytes, but ${TO_FILE[e.dtype]} [${e.shape.join(", ")}] needs ${need}`);
    }
  }
  // The tensors must tile the data section exactly: sorted by offset, each starts where the last ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev = "the start of the data section";
  for (const e of entries) {
    const what = `tensor ${JSON.stringify(e.name)}`;
    if (e.begin < at) fail(`${what}: data_offsets [${e.begin}, ${e.end}] overlap ${prev} (which ends at ${at})`);
    if (e.begin > at) fail(`${what}: data_offsets [${e.begin}, ${e.end}] leave a gap of ${e.begin - at} bytes after ${prev}`);
    at = e.end;
    prev = what;
  }
  if (at !== dataLength) fail(`the data section is ${dataLength} bytes but the tensors cover only ${at}; ${dataLength - at} bytes belong to no tensor`);
  return { entries, metadata };
}

/**
 * The header of a file that is not read whole: `read(position, length)` returns bytes of the file (fewer at its end),
 * `fileSize` its size. Checks the same rules as decodeSafetensors, the data section's tiling included.
 */
export function decodeSafetensorsHeader(read: (position: number, length: number) => Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const fail: Fail = (msg) => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  const headerLength = headerLengthOf(read(0, 8), fileSize, fail);
  const headerBytes = read(8, headerLength);
  if (headerBytes.length !== headerLength) fail(`the header is ${headerLength} bytes but only ${headerBytes.length} could be read`);
  const { entries, metadata } = parseHeader(headerBytes, fileSize - 8 - headerLength, fail);
  return { dataStart: 8 + headerLength, tensors: entries, metadata };
}

/** Parses and validates a whole file held in memory; `source` (a path or label) starts every error message. */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsContents {
  const header = decodeSafetensorsHeader((position, length) => bytes.subarray(position, position + length), bytes.length, source);
  const tensors = new Map<string, TensorData>();
  for (const e of header.tensors) {
    // Copied into a fresh typed array: the file's offsets need not be aligned for every reader's buffer.
    const data = allocate(
      e.dtype,
      e.shape.reduce((a, b) => a * b, 1),
    );
    new Uint8Array(data.buffer).set(bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata: header.metadata };
}

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readMetadata(value: JsonValue | undefined, fail: Fail): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined) return out;
  if (!isObject(value)) return fail(`"${METADATA_KEY}" must be an object of strings`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") fail(`"${METADATA_KEY}" entry ${JSON.stringify(k)} must be a string, got ${JSON.stringify(v)}`);
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function readEntry(name: string, info: JsonValue, fail: Fail): SafetensorsEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isObject(info)) return fail(`${what}: expected an object with dtype, shape and data_offsets`);
  // Like the reference reader, fields other than these three are ignored.
  for (const field of ["dtype", "shape", "data_offsets"]) if (!(field in info)) fail(`${what}: missing "${field}"`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== "string") return fail(`${what}: dtype must be a string, got ${JSON.stringify(dtype)}`);
  const ours = FROM_FILE.get(dtype);
  if (!ours) {
    return fail(
      UNSUPPORTED.has(dtype)
        ? `${what}: dtype ${dtype} is valid safetensors but alignc does not support it`
        : `${what}: unknown dtype ${JSON.stringify(dtype)}`,
    );
  }
  const isIndex = (v: JsonValue | undefined): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!Array.isArray(shape) || !shape.every(isIndex)) return fail(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    return fail(`${what}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`${what}: data_offsets [${begin}, ${end}] end before they begin`);
  return { name, dtype: ours, shape: shape as number[], begin, end };
}

export function saveSafetensors(file: string, tensors: TensorMap, metadata?: Readonly<Record<string, string>>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(file: string): SafetensorsContents {
  return decodeSafetensors(readFileSync(file), file);
}

/** Largest safetensors file whose header is read (the data is never read here): a bound on what a header may claim. */
export const MAX_SHARD_BYTES = 1024 * 1024 * 1024 * 1024;

/**
 * Only the header of a safetensors file (names, dtypes, shapes, offsets), through the untrusted reader: a file of any
 * size up to MAX_SHARD_BYTES, of which 8 + the header length bytes are read. A refused path or a bad header is a
 * SafetensorsError naming the file.
 */
export function readSafetensorsHeader(file: string, root?: ReadRoot): SafetensorsHeader {
  const r = withUntrustedReader(file, { maxBytes: MAX_SHARD_BYTES, ...(root ? { root } : {}) }, (read, size) => decodeSafetensorsHeader(read, size, file));
  if (!r.ok) throw new SafetensorsError(describeRefusal(r, MAX_SHARD_BYTES));
  return r.value;
}
