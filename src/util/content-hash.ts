// Canonical JSON (sorted keys, no whitespace) and content hashes: the identity of nodes and trials, and the sha256
// alignc uses for everything else it digests.
// The runtime hashes what it reads with it too, so no nesting may overflow the call stack: values nested
// deeper than SHALLOW are written by a loop with an explicit stack instead of by recursion.
import { createHash } from "node:crypto";

/** Nesting up to which the (faster) recursive writer is used. */
const SHALLOW = 500;

export function canonicalJson(value: unknown): string {
  try {
    return recursive(value, 0);
  } catch (error) {
    if (error !== tooDeep) throw error;
    return iterative(value);
  }
}

/** The identity of a JSON value: sha256 of its canonical JSON. */
export function contentHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** sha256 of bytes or UTF-8 text, in hex: the one digest alignc writes (store keys, file digests, names). */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const tooDeep = new Error("nested deeper than the recursive writer goes");

function recursive(value: unknown, depth: number): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (depth >= SHALLOW) throw tooDeep;
  if (Array.isArray(value)) return `[${value.map((v) => recursive(v, depth + 1)).join(",")}]`;
  const o = value as Record<string, unknown>;
  const entries = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${recursive(o[k], depth + 1)}`);
  return `{${entries.join(",")}}`;
}

interface Open {
  close: "]" | "}";
  items: unknown[];
  /** An object's keys, sorted, for its `items`. */
  keys?: string[];
  next: number;
}

/** The same text as `recursive`, for any depth. */
function iterative(value: unknown): string {
  const out: string[] = [];
  const stack: Open[] = [];
  let pending = true;
  let v = value;
  for (;;) {
    if (pending) {
      pending = false;
      if (v === null || typeof v !== "object") out.push(JSON.stringify(v) ?? "null");
      else if (Array.isArray(v)) {
        out.push("[");
        stack.push({ close: "]", items: v, next: 0 });
      } else {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o)
          .filter((k) => o[k] !== undefined)
          .sort();
        out.push("{");
        stack.push({ close: "}", items: keys.map((k) => o[k]), keys, next: 0 });
      }
    }
    const top = stack[stack.length - 1];
    if (!top) return out.join("");
    if (top.next === top.items.length) {
      out.push(top.close);
      stack.pop();
      continue;
    }
    if (top.next > 0) out.push(",");
    if (top.keys) out.push(`${JSON.stringify(top.keys[top.next])}:`);
    v = top.items[top.next++];
    pending = true;
  }
}
