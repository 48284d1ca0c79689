// A fingerprint of a store entry's output, for test/node-kind-drift.test.ts: what the node made, with what may
// legitimately differ between two runs of the same code taken out, and floating-point numbers compared with a
// tolerance rather than bit for bit.
//
// - node.json is left out (it records times and keys), and so are timing fields in JSON (`seconds`, `*_seconds`,
//   `*_per_second`).
// - Store keys in the output (a cosine similarity or a judge names its model's entry) are replaced by the node they
//   belong to, so an upstream key that changes (a version bump upstream) does not count as this node's change.
// - Everything else is exact: text, integers, JSON structure, images, tensor names, shapes and dtypes — digested per
//   file, or per top-level folder (`images/`, `parts/`).
// - Floating-point numbers (non-integers in JSON, float tensors in .safetensors) are summarised per file and JSON key
//   path by a sketch: count, Euclidean norm, and three signed sums with pseudo-random ±1 signs. A change δ of the
//   values moves the signed sums by about |δ|, so any change larger than the tolerance (relative to the norm) is seen,
//   while the last-bit differences another CPU's kernels may give (ONNX Runtime picks kernels by instruction set) are not.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/** [count, norm, signed sum 1, signed sum 2, signed sum 3]. */
export type Sketch = [number, number, number, number, number];

export interface Fingerprint {
  /** File (or top-level folder with a trailing /) → digest of its exact content (16 hex digits). */
  files: Record<string, string>;
  /** `file#key.path` (JSON) or `file` (safetensors) → sketch of its floating-point numbers. */
  numbers: Record<string, Sketch>;
}

/** Relative tolerance of a sketch's norm and signed sums, against the larger norm. */
export const RELATIVE_TOLERANCE = 1e-4;
const ABSOLUTE_TOLERANCE = 1e-9;

const TIMING = /(^|_)seconds$|_per_second$/;
const FLOAT_DTYPES: Record<string, { bytes: number; read: (b: Buffer, at: number) => number }> = {
  F64: { bytes: 8, read: (b, at) => b.readDoubleLE(at) },
  F32: { bytes: 4, read: (b, at) => b.readFloatLE(at) },
  F16: { bytes: 2, read: (b, at) => halfToFloat(b.readUInt16LE(at)) },
  BF16: { bytes: 2, read: (b, at) => bf16ToFloat(b.readUInt16LE(at)) },
};

/** Accumulates sketches. */
class Sketches {
  readonly sums = new Map<string, { n: number; sq: number; s: [number, number, number] }>();
  add(group: string, x: number): void {
    let g = this.sums.get(group);
    if (!g) {
      g = { n: 0, sq: 0, s: [0, 0, 0] };
      this.sums.set(group, g);
    }
    const i = g.n++;
    g.sq += x * x;
    for (let j = 0; j < 3; j++) g.s[j] = (g.s[j] as number) + (sign(i, j) ? x : -x);
  }
  result(): Record<string, Sketch> {
    const out: Record<string, Sketch> = {};
    for (const [group, g] of [...this.sums].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      out[group] = [g.n, round(Math.sqrt(g.sq)), round(g.s[0]), round(g.s[1]), round(g.s[2])];
    return out;
  }
}

/** A pseudo-random sign for value i of sketch j (a 32-bit integer hash). */
function sign(i: number, j: number): boolean {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(j + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return (h & 1) === 1;
}

/** Nine significant digits: more than the tolerance needs, few enough to read. */
const round = (x: number): number => Number(x.toPrecision(9));

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function bf16ToFloat(h: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(h << 16);
  return b.readFloatLE(0);
}

/** Every file under dir, relative, sorted. */
function filesUnder(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(path.join(dir, r)).isDirectory()) out.push(...filesUnder(dir, r));
    else out.push(r);
  }
  return out;
}

/**
 * The fingerprint of the entry in `dir`. `names` maps text that names other entries (store keys, `<kk>/<key>` entry
 * paths) to what it stands for; it is replaced before digesting.
 */
export function fingerprint(dir: string, names: ReadonlyMap<string, string>): Fingerprint {
  const digests = new Map<string, ReturnType<typeof createHash>>();
  const sketches = new Sketches();
  // Longest first, so that an entry path is replaced before the key inside it.
  const replacements = [...names].sort(([a], [b]) => b.length - a.length);
  const normalise = (text: string) => replacements.reduce((t, [from, to]) => t.replaceAll(from, to), text);
  for (const rel of filesUnder(dir)) {
    if (rel === "node.json") continue;
    const slash = rel.indexOf("/");
    const unit = slash < 0 ? rel : `${rel.slice(0, slash)}/`;
    const h = digests.get(unit) ?? createHash("sha256");
    digests.set(unit, h);
    h.update(`${rel}\0`);
    const bytes = readFileSync(path.join(dir, rel));
    if (rel.endsWith(".safetensors")) h.update(safetensorsExact(bytes, (x) => sketches.add(rel, x)));
    else if (rel.endsWith(".jsonl")) {
      for (const line of normalise(bytes.toString("utf8")).split("\n")) {
        if (line.trim() === "") continue;
        h.update(`${JSON.stringify(exactJson(JSON.parse(line), rel, "", sketches))}\n`);
      }
    } else if (rel.endsWith(".json")) h.update(JSON.stringify(exactJson(JSON.parse(normalise(bytes.toString("utf8"))), rel, "", sketches)));
    else if (/\.(md|txt|csv)$/.test(rel)) h.update(normalise(bytes.toString("utf8")));
    else h.update(bytes);
    h.update("\0");
  }
  const files: Record<string, string> = {};
  for (const [unit, h] of [...digests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) files[unit] = h.digest("hex").slice(0, 16);
  return { files, numbers: sketches.result() };
}

/** A JSON value with timing fields dropped and non-integer numbers replaced by "<float>" (added to the sketches). */
function exactJson(v: unknown, file: string, at: string, sketches: Sketches): unknown {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v;
    sketches.add(`${file}#${at}`, v);
    return "<float>";
  }
  if (Array.isArray(v)) return v.map((x) => exactJson(x, file, `${at}[]`, sketches));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!TIMING.test(k)) out[k] = exactJson(x, file, at ? `${at}.${k}` : k, sketches);
    return out;
  }
  return v;
}

/** A safetensors file's header and non-float tensors, exactly; float tensors' values go to `add`. */
function safetensorsExact(bytes: Buffer, add: (x: number) => void): Buffer {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const base = 8 + headerLength;
  const exact: Buffer[] = [bytes.subarray(0, base)];
  for (const name of Object.keys(header).sort()) {
    if (name === "__metadata__") continue;
    const t = header[name] as { dtype: string; data_offsets: [number, number] };
    const [from, to] = t.data_offsets;
    const float = FLOAT_DTYPES[t.dtype];
    if (!float) {
      exact.push(bytes.subarray(base + from, base + to));
      continue;
    }
    for (let at = base + from; at < base + to; at += float.bytes) {
      const x = float.read(bytes, at);
      // NaN and infinities would make every comparison of the sketch false: they are kept exactly, by position.
      if (Number.isFinite(x)) add(x);
      else exact.push(Buffer.from(`${name}@${at - base - from}:${x}\0`));
    }
  }
  return Buffer.concat(exact);
}

/** How two fingerprints of a node's output differ: one line per difference, empty when they agree. */
export function differences(before: Fingerprint, now: Fingerprint): string[] {
  const out: string[] = [];
  for (const f of new Set([...Object.keys(before.files), ...Object.keys(now.files)])) {
    const [a, b] = [before.files[f], now.files[f]];
    if (a === undefined) out.push(`${f} is new`);
    else if (b === undefined) out.push(`${f} is gone`);
    else if (a !== b) out.push(`${f} differs`);
  }
  for (const g of new Set([...Object.keys(before.numbers), ...Object.keys(now.numbers)])) {
    const [a, b] = [before.numbers[g], now.numbers[g]];
    if (a === undefined) out.push(`numbers ${g} are new`);
    else if (b === undefined) out.push(`numbers ${g} are gone`);
    else if (a[0] !== b[0]) out.push(`numbers ${g}: ${a[0]} values → ${b[0]}`);
    else {
      const scale = Math.max(a[1], b[1]);
      const far = a.slice(1).some((x, i) => Math.abs(x - (b[i + 1] as number)) > RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE);
      if (far) out.push(`numbers ${g}: norm ${a[1]} → ${b[1]}, signed sums [${a.slice(2).join(", ")}] → [${b.slice(2).join(", ")}]`);
    }
  }
  return out;
}
