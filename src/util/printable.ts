// Text that came from data or from programs (dataset prompts and responses, a rater's error replies and stderr, an
// HTTP body relayed by a judge), made safe to show on a terminal or write to a log: control characters are replaced
// by visible escapes, so that such text cannot clear the screen, set the window title, overwrite a line with \r, or
// reorder what is shown with a bidi override. Everything else — any valid non-ASCII text — is kept as it is.
//
// Escaped: C0 controls (U+0000–U+001F) except newline and tab, DEL (U+007F), C1 controls (U+0080–U+009F) and the
// Unicode bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069). `printableLine` also escapes
// newline and tab, for single-line contexts (a status line, one field of a record).
//
// Backslashes are not escaped, so escaping is idempotent: text escaped once (by a rater's error message) is not
// escaped again when the log writes it.

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters being escaped
const MULTI_LINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters being escaped
const SINGLE_LINE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

export interface PrintableOptions {
  /** Also escape newline and tab (default false: multi-line text keeps its lines). */
  singleLine?: boolean;
}

/** `text` with its control characters and bidi overrides shown as escapes (`\x1b`, `\r`, `\u202e`). */
export function printable(text: string, options: PrintableOptions = {}): string {
  return text.replace(options.singleLine ? SINGLE_LINE : MULTI_LINE, escapeChar);
}

/** `printable` for single-line contexts: newlines and tabs are escaped too (`\n`, `\t`). */
export function printableLine(text: string): string {
  return printable(text, { singleLine: true });
}

// The characters JSON.stringify leaves as they are (DEL is not a control character to the linter).
const JSON_UNSAFE = /[\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text (as JSON.stringify writes it) made safe for a terminal and still valid JSON with the same value: DEL, C1
 * controls and bidi overrides, which JSON.stringify leaves raw, become `\u007f`-style escapes. (JSON.stringify
 * already escapes the C0 controls.)
 */
export function printableJson(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
