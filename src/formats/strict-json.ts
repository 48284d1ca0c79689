// A small strict JSON parser for safetensors headers. `JSON.parse` silently keeps the last of duplicate
// keys, which would let a file carry two different descriptions of one tensor; this parser rejects them.
// Objects come back as null-prototype records so keys such as "__proto__" are plain data.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class JsonSyntaxError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7005";
  override name = "JsonSyntaxError";
}

export function parseStrictJson(text: string): JsonValue {
  const p = new Parser(text);
  p.ws();
  const value = p.value("");
  p.ws();
  if (p.pos < text.length) p.fail("unexpected text after the JSON value");
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonSyntaxError(`${what} at character ${this.pos}`);
  }

  ws(): void {
    while (this.pos < this.s.length && " \t\n\r".includes(this.s[this.pos]!)) this.pos++;
  }

  expect(ch: string): void {
    if (this.s[this.pos] !== ch) this.fail(`expected "${ch}"`);
    this.pos++;
  }

  /** `path` names where the value sits (for duplicate-key messages). */
  value(path: string): JsonValue {
    const c = this.s[this.pos];
    if (c === "{") return this.object(path);
    if (c === "[") return this.array(path);
    if (c === '"') return this.string();
    for (const [word, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (this.s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.s);
    if (!m) this.fail(c === undefined ? "unexpected end of input" : `unexpected character ${JSON.stringify(c)}`);
    this.pos += m[0].length;
    return Number(m[0]);
  }

  object(path: string): JsonValue {
    const out: Record<string, JsonValue> = Object.create(null);
    const seen = new Set<string>();
    this.expect("{");
    this.ws();
    if (this.s[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') this.fail("expected a string key");
      const key = this.string();
      const where = path ? `${path}.${key}` : key;
      if (seen.has(key)) this.fail(`duplicate key ${JSON.stringify(where)}`);
      seen.add(key);
      this.ws();
      this.expect(":");
      this.ws();
      out[key] = this.value(where);
      this.ws();
      if (this.s[this.pos] === "}") {
        this.pos++;
        return out;
      }
      this.expect(",");
    }
  }

  array(path: string): JsonValue {
    const out: JsonValue[] = [];
    this.expect("[");
    this.ws();
    if (this.s[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(`${path}[${out.length}]`));
      this.ws();
      if (this.s[this.pos] === "]") {
        this.pos++;
        return out;
      }
      this.expect(",");
    }
  }

  string(): string {
    this.expect('"');
    let out = "";
    for (;;) {
      // Copy the run of plain characters in one slice; stop at a quote, a backslash or a control character.
      const start = this.pos;
      while (this.pos < this.s.length) {
        const code = this.s.charCodeAt(this.pos);
        if (code === 0x22 || code === 0x5c || code < 0x20) break;
        this.pos++;
      }
      out += this.s.slice(start, this.pos);
      const c = this.s[this.pos];
      if (c === undefined) this.fail("unterminated string");
      if (c < " ") this.fail("control character in a string");
      this.pos++;
      if (c === '"') break;
      const e = this.s[this.pos++];
      if (e === "u") {
        const hex = this.s.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("bad \\u escape");
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.pos += 4;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) out += ESCAPES[e];
      else this.fail("bad escape");
    }
    // Escapes can spell half a surrogate pair, which no UTF-8 text can hold.
    if (LONE_SURROGATE.test(out)) this.fail("lone surrogate escape in a string");
    return out;
  }
}
