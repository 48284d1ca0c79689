// TensorBoard event files: the format TensorBoard, `tf.summary`, PyTorch's SummaryWriter and Hugging Face's
// TensorBoardCallback write, and what `wandb sync --sync-tensorboard` reads.
//
// A file is a sequence of TFRecords, each
//
//   uint64 length (little-endian) · uint32 masked CRC-32C of those 8 bytes · data · uint32 masked CRC-32C of data
//
// around a serialized `tensorflow.Event` protobuf message (tensorflow/core/util/event.proto). The first Event holds
// `file_version: "brain.Event:2"`; each later one a wall time, a step and a Summary of scalars:
//
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; … }
//
// Scalars are written as `simple_value`, as SummaryWriter.add_scalar does (TensorBoard turns them into its
// tensor-based scalars when it loads them). The protobuf bytes come from @bufbuild/protobuf's BinaryWriter; the
// reader here (decodeEvent, readRecords) is the minimal one the tests and tools need, not a general one.
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** The file_version of the first Event in every file TensorBoard 2 and TF 2 write. */
export const FILE_VERSION = "brain.Event:2";

/** CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), byte by byte through a table. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** The CRC-32C of `bytes` ("123456789" → 0xe3069283). */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (CRC32C_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xa282ead8 (mod 2³²). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export interface Scalar {
  tag: string;
  value: number;
}

/** What alignc writes in an Event: the file version, or a step's scalars. */
export interface TbEvent {
  /** Seconds since the epoch (fractions allowed). */
  wallTime: number;
  step?: number;
  fileVersion?: string;
  scalars?: readonly Scalar[];
}

/** A serialized `tensorflow.Event`. */
export function encodeEvent(e: TbEvent): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Bit64).double(e.wallTime);
  if (e.step !== undefined && e.step !== 0) w.tag(2, WireType.Varint).int64(e.step);
  if (e.fileVersion !== undefined) w.tag(3, WireType.LengthDelimited).string(e.fileVersion);
  if (e.scalars !== undefined) {
    w.tag(5, WireType.LengthDelimited).fork(); // Summary
    for (const s of e.scalars) {
      w.tag(1, WireType.LengthDelimited).fork(); // Summary.Value
      w.tag(1, WireType.LengthDelimited).string(s.tag);
      w.tag(2, WireType.Bit32).float(s.value);
      w.join();
    }
    w.join();
  }
  return w.finish();
}

/** Events as the bytes to append to an event file: one TFRecord each. */
export function eventRecords(events: readonly TbEvent[]): Uint8Array {
  const records = events.map((e) => tfRecord(encodeEvent(e)));
  const out = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of records) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}

/** A decoded Event: what encodeEvent writes, plus scalars in TensorBoard 2's tensor form (a float or double tensor). */
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Scalar[];
}

function decodeTensorScalar(bytes: Uint8Array): number | undefined {
  // TensorProto: dtype = 1, float_val = 5 (packed or not), double_val = 6.
  const r = new BinaryReader(bytes);
  let value: number | undefined;
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 5 && type === WireType.Bit32) value = r.float();
    else if (field === 5 && type === WireType.LengthDelimited) {
      const packed = new BinaryReader(r.bytes());
      while (packed.pos < packed.len) value = packed.float();
    } else if (field === 6 && type === WireType.Bit64) value = r.double();
    else if (field === 6 && type === WireType.LengthDelimited) {
      const packed = new BinaryReader(r.bytes());
      while (packed.pos < packed.len) value = packed.double();
    } else r.skip(type, field);
  }
  return value;
}

function decodeValue(bytes: Uint8Array): Scalar | undefined {
  const r = new BinaryReader(bytes);
  let tag = "";
  let value: number | undefined;
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === WireType.LengthDelimited) tag = r.string();
    else if (field === 2 && type === WireType.Bit32) value = r.float();
    else if (field === 8 && type === WireType.LengthDelimited) value = decodeTensorScalar(r.bytes());
    else r.skip(type, field);
  }
  return value === undefined ? undefined : { tag, value };
}

/** Decodes a serialized Event (fields alignc does not use are skipped). */
export function decodeEvent(bytes: Uint8Array): DecodedEvent {
  const r = new BinaryReader(bytes);
  const e: DecodedEvent = { wallTime: 0, step: 0, scalars: [] };
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (field === 1 && type === WireType.Bit64) e.wallTime = r.double();
    else if (field === 2 && type === WireType.Varint) e.step = Number(r.int64());
    else if (field === 3 && type === WireType.LengthDelimited) e.fileVersion = r.string();
    else if (field === 5 && type === WireType.LengthDelimited) {
      const summary = new BinaryReader(r.bytes());
      while (summary.pos < summary.len) {
        const [f, t] = summary.tag();
        if (f === 1 && t === WireType.LengthDelimited) {
          const s = decodeValue(summary.bytes());
          if (s) e.scalars.push(s);
        } else summary.skip(t, f);
      }
    } else r.skip(type, field);
  }
  return e;
}

/** A record whose length or data does not match its CRC. */
export class CorruptRecordError extends Error {
  override name = "CorruptRecordError";
}

/**
 * The records of an event file's bytes, each CRC checked. A last record cut short (a writer that died mid-append) is
 * left out and reported as `torn`, as TensorBoard's readers tolerate it; a CRC mismatch is an error.
 */
export function readRecords(bytes: Uint8Array): { records: Uint8Array[]; torn: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) return { records, torn: true };
    const header = bytes.subarray(at, at + 8);
    if (view.getUint32(at + 8, true) !== maskedCrc32c(header)) throw new CorruptRecordError(`record at byte ${at}: the length's CRC does not match`);
    const length = Number(view.getBigUint64(at, true));
    if (at + 12 + length + 4 > bytes.length) return { records, torn: true };
    const data = bytes.subarray(at + 12, at + 12 + length);
    if (view.getUint32(at + 12 + length, true) !== maskedCrc32c(data)) throw new CorruptRecordError(`record at byte ${at}: the data's CRC does not match`);
    records.push(data);
    at += 12 + length + 4;
  }
  return { records, torn: false };
}

/** Every Event of an event file's bytes (a torn last record left out). */
export function readEvents(bytes: Uint8Array): DecodedEvent[] {
  return readRecords(bytes).records.map(decodeEvent);
}
