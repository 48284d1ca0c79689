// printable: text from data and programs with its control characters and bidi overrides shown as escapes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { printable, printableJson, printableLine } from "../src/util/printable.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: what must never reach a terminal raw
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

describe("printable", () => {
  test("an ANSI clear-screen sequence is shown, not run", () => {
    assert.equal(printable("\x1b[2J\x1b[Hgone"), "\\x1b[2J\\x1b[Hgone");
    assert.equal(printable("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  });

  test("an OSC window-title sequence, with BEL and with ST", () => {
    assert.equal(printable("\x1b]0;pwned\x07after"), "\\x1b]0;pwned\\x07after");
    assert.equal(printable("\x1b]2;title\x1b\\"), "\\x1b]2;title\\x1b\\");
  });

  test("a carriage return cannot overwrite the line; backspace, NUL and DEL are escaped", () => {
    assert.equal(printable("ok: 3 items\rFAILED"), "ok: 3 items\\rFAILED");
    assert.equal(printable("a\bb\x00c\x7fd"), "a\\x08b\\x00c\\x7fd");
  });

  test("C1 controls (the 8-bit CSI) are escaped", () => {
    assert.equal(printable("\x9b31mred\x85"), "\\x9b31mred\\x85");
  });

  test("bidi overrides and isolates are escaped", () => {
    assert.equal(printable("file\u202egnp.exe"), "file\\u202egnp.exe");
    for (const c of ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"])
      assert.equal(printable(`x${c}y`), `x\\u${c.charCodeAt(0).toString(16)}y`);
  });

  test("valid text is unchanged: non-ASCII letters, symbols, emoji, newlines and tabs", () => {
    for (const text of ["é€🙂", "naïve café — ½ · ✓ ▶", "日本語のテキスト", "עברית ومرحبا", "line 1\nline 2\tcolumn", "", "back\\slash \\x1b"])
      assert.equal(printable(text), text);
  });

  test("escaping is idempotent (backslashes are not escaped)", () => {
    const once = printable("\x1b[2J\r\u202e");
    assert.equal(printable(once), once);
    assert.doesNotMatch(once, RAW);
  });

  test("printableLine also escapes newlines and tabs", () => {
    assert.equal(printableLine("a\nb\tc\r\n\x1b"), "a\\nb\\tc\\r\\n\\x1b");
    assert.equal(printableLine("é€🙂"), "é€🙂");
  });

  test("printableJson keeps JSON valid and its value the same", () => {
    const value = { text: "\x1b[2J\u202eevil\x7f\x9b", ok: "é€🙂" };
    const json = printableJson(JSON.stringify(value));
    assert.doesNotMatch(json, RAW);
    assert.match(json, /\\u202e/);
    assert.match(json, /\\u007f/);
    assert.deepEqual(JSON.parse(json), value);
  });
});
