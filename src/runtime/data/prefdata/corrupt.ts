// Rule-based hallucination injection in the style of POVID: the rejected answer is the ground truth with a few
// words swapped for plausible but false ones, using the shapes world's vocabulary. docs/preference-data.md
// ("corrupt") lists the rules with examples. Or an external editor program does the editing (the `command` hook).
//
// Edits (each picks an op uniformly among the chosen ops that still have an editable place, then one such place
// uniformly, then the new value uniformly; places already edited are not edited again):
//   object    a shape word → another shape the scene lacks (any other shape for text items); plural kept
//             ("two circles" → "two moons"), synonyms too ("discs" → "stars").
//   color     a colour word → another colour; when it describes a shape ("a red star"), one no such shape in the scene
//             has; "a"/"an" before it follows ("a red" → "an orange").
//   count     a number (word or digits) → n ± 1 or n ± 2 within 0…20; the noun after it takes the number ("one object"
//             → "three objects") and an "is"/"are" before it agrees ("There is one" → "There are three").
//   position  a position phrase ("on the left", "in the top right") → another region's phrase; when the sentence names
//             one shape, a region where the scene has no object of that shape.
//   size      small ↔ large (little, tiny, big too), unless the scene has the described shape (and colour) in the other
//             size. Not (yet) among the `corrupt` constructor's ops; the runtime accepts it.
// Answers starting with yes or no (POPE) are corrupted by swapping yes ↔ no, whatever `ops` says; this counts as one
// edit (op "yes_no"), and further edits, if asked for, go to the rest of the answer. Capitals are kept.
// An answer where none of the chosen ops finds a place to edit (and that is not yes/no) is skipped — no fallback to
// other ops, so an ablation over kinds of hallucination stays clean — and counted in the stats, as are answers that
// got fewer edits than asked for and items without an answer. The rejected answer always differs from the chosen.
// Randomness: an xoshiro128** stream per item, forked from the seed by the item id (`corrupt/<id>`).

import { JsonlProcess } from "../../../util/jsonl-process.ts";
import { printableJson, printableLine } from "../../../util/printable.ts";
import { Rng } from "../../../util/random.ts";
import { parseYesNo } from "../../world/answers.ts";
import type { WorldItem } from "../../world/format.ts";
import type { Scene } from "../../world/scene.ts";
import {
  COLOR_WORDS,
  COLORS,
  type Color,
  NUMBER_WORDS,
  POSITION_PHRASE,
  POSITIONS,
  type Position,
  plural,
  SHAPE_WORDS,
  SHAPES,
  type Shape,
  SIZE_WORDS,
} from "../../world/vocab.ts";
import type { PairRecord } from "./records.ts";

/** The ops of the `corrupt` constructor (its `ops` default). */
export const CORRUPT_OPS = ["object", "color", "count", "position"] as const;
/** Every op the runtime implements: the constructor's, and `size` (small ↔ large), which the catalog may add. */
export const ALL_CORRUPT_OPS = [...CORRUPT_OPS, "size"] as const;
export type CorruptOp = (typeof ALL_CORRUPT_OPS)[number];

export interface Edit {
  op: string;
  from: string;
  to: string;
}

export interface CorruptStats {
  prompts: number;
  pairs: number;
  /** Items whose answer none of the chosen ops could edit (or that the editor program declined). */
  skipped: number;
  /** Items without a reference answer. */
  no_answer: number;
  /** Items that got fewer edits than asked for. */
  short: number;
  /** Edits made, by op (yes_no included). */
  edits: Record<string, number>;
}

/** Pair id of the corrupted answer of an item. */
export const corruptPairId = (itemId: string): string => `${itemId}/c0`;

// ── the answer as words and separators ─────────────────────────────────────

const WORD = /([A-Za-z]+(?:'[A-Za-z]+)?|\d+)/;

class Words {
  /** Words in their original case; seps[i] comes before words[i], seps[words.length] after the last. */
  readonly words: string[];
  readonly seps: string[];

  constructor(text: string) {
    const parts = text.split(WORD);
    this.words = parts.filter((_, i) => i % 2 === 1);
    this.seps = parts.filter((_, i) => i % 2 === 0);
  }

  lower(i: number): string {
    return (this.words[i] ?? "").toLowerCase();
  }

  text(): string {
    let out = this.seps[0] ?? "";
    this.words.forEach((w, i) => {
      out += w + (this.seps[i + 1] ?? "");
    });
    return out;
  }

  phrase(start: number, length: number): string {
    let out = "";
    for (let i = start; i < start + length; i++) out += (i > start ? (this.seps[i] ?? "") : "") + (this.words[i] ?? "");
    return out;
  }

  /** Whether words a < b are in the same sentence (no . ! ? between them). */
  sameSentence(a: number, b: number): boolean {
    for (let i = a + 1; i <= b; i++) if (/[.!?]/.test(this.seps[i] ?? "")) return false;
    return true;
  }

  /** Replaces words [start, start + length) with `next` (space-separated), keeping the first word's capital. */
  replace(start: number, length: number, next: readonly string[]): void {
    const words = [...next];
    const first = this.words[start] ?? "";
    if (/^[A-Z]/.test(first) && words[0]) words[0] = words[0][0]?.toUpperCase() + words[0].slice(1);
    this.words.splice(start, length, ...words);
    this.seps.splice(start + 1, length - 1, ...words.slice(1).map(() => " "));
  }

  /** Sets one word, keeping its case pattern (Capital, UPPER, lower). */
  set(i: number, word: string): void {
    const old = this.words[i] ?? "";
    this.words[i] =
      old.length > 1 && old === old.toUpperCase() && /[A-Z]/.test(old)
        ? word.toUpperCase()
        : /^[A-Z]/.test(old)
          ? word[0]?.toUpperCase() + word.slice(1)
          : word;
  }
}

// ── places to edit ──────────────────────────────────────────────────────────

interface Site {
  op: CorruptOp;
  start: number;
  length: number;
  /** Replacement word lists, in vocabulary order. */
  options: string[][];
  /** Grammar fixes after the replacement with option k. */
  fix?: (w: Words, choice: number) => void;
}

const SHAPE_SYNONYM_FORMS: ReadonlyMap<string, [string, string]> = new Map([
  ["disc", ["disc", "discs"]],
  ["disk", ["disk", "disks"]],
  ["box", ["box", "boxes"]],
  ["rhombus", ["rhombus", "rhombuses"]],
  ["crescent", ["crescent", "crescents"]],
]);
/** Singular and plural of every countable noun the world's answers use. */
const NOUN_FORMS: ReadonlyMap<string, [string, string]> = new Map(
  [
    ...SHAPES.map((s) => [s, plural(s)] as [string, string]),
    ...SHAPE_SYNONYM_FORMS.values(),
    ["object", "objects"] as [string, string],
    ["shape", "shapes"] as [string, string],
    ["corner", "corners"] as [string, string],
    ["thing", "things"] as [string, string],
  ].flatMap((forms) => [
    [forms[0], forms],
    [forms[1], forms],
  ]),
);
const isPlural = (word: string): boolean => NOUN_FORMS.get(word)?.[1] === word;
const NUMBER_VALUE: ReadonlyMap<string, number> = new Map(NUMBER_WORDS.map((w, i) => [w, i]));
const PHRASES = POSITIONS.map((p) => ({ position: p, words: POSITION_PHRASE[p].split(" ") }));
const article = (word: string): string => (/^[aeiou]/i.test(word) ? "an" : "a");

/** "a"/"an" right before word i agrees with it. */
function fixArticle(w: Words, i: number): void {
  const before = w.lower(i - 1);
  if ((before === "a" || before === "an") && /^\s+$/.test(w.seps[i] ?? "")) w.set(i - 1, article(w.words[i] ?? ""));
}

/** The shape word a colour or size at i describes (skipping colour and size words), in the same sentence. */
function describedShape(w: Words, i: number): Shape | undefined {
  for (let j = i + 1; j < w.words.length && w.sameSentence(i, j); j++) {
    const word = w.lower(j);
    const shape = SHAPE_WORDS.get(word);
    if (shape) return shape;
    if (!COLOR_WORDS.has(word) && !SIZE_WORDS.has(word)) return undefined;
  }
  return undefined;
}

function objectSites(w: Words, scene: Scene | null): Site[] {
  const present = new Set(scene?.objects.map((o) => o.shape) ?? []);
  const sites: Site[] = [];
  w.words.forEach((_, i) => {
    const word = w.lower(i);
    const shape = SHAPE_WORDS.get(word);
    if (!shape) return;
    const others = SHAPES.filter((s) => s !== shape && !present.has(s));
    if (others.length === 0) return;
    const many = isPlural(word);
    sites.push({ op: "object", start: i, length: 1, options: others.map((s) => [many ? plural(s) : s]), fix: (x) => fixArticle(x, i) });
  });
  return sites;
}

function colorSites(w: Words, scene: Scene | null): Site[] {
  const sites: Site[] = [];
  w.words.forEach((_, i) => {
    const color = COLOR_WORDS.get(w.lower(i));
    if (!color) return;
    const shape = describedShape(w, i);
    const taken = new Set<Color>([color]);
    if (shape && scene) for (const o of scene.objects) if (o.shape === shape) taken.add(o.color);
    const others = COLORS.filter((c) => !taken.has(c));
    if (others.length === 0) return;
    sites.push({ op: "color", start: i, length: 1, options: others.map((c) => [c]), fix: (x) => fixArticle(x, i) });
  });
  return sites;
}

function countSites(w: Words): Site[] {
  const sites: Site[] = [];
  w.words.forEach((word, i) => {
    const lower = w.lower(i);
    const digits = /^\d+$/.test(word);
    const n = digits ? Number(word) : NUMBER_VALUE.get(lower);
    if (n === undefined || n > 20) return;
    const values = [n - 2, n - 1, n + 1, n + 2].filter((v) => v >= 0 && v <= 20);
    sites.push({
      op: "count",
      start: i,
      length: 1,
      options: values.map((v) => [digits ? String(v) : (NUMBER_WORDS[v] as string)]),
      fix: (x, k) => {
        const v = values[k] as number;
        let j = i + 1;
        while (j < x.words.length && x.sameSentence(i, j) && (COLOR_WORDS.has(x.lower(j)) || SIZE_WORDS.has(x.lower(j)))) j++;
        const forms = j < x.words.length && x.sameSentence(i, j) ? NOUN_FORMS.get(x.lower(j)) : undefined;
        if (forms) x.set(j, v === 1 ? forms[0] : forms[1]);
        const verb = x.lower(i - 1);
        if ((verb === "is" || verb === "are") && i > 0 && x.sameSentence(i - 1, i)) x.set(i - 1, v === 1 ? "is" : "are");
      },
    });
  });
  return sites;
}

function positionSites(w: Words, scene: Scene | null): Site[] {
  const sites: Site[] = [];
  for (let i = 0; i < w.words.length; i++) {
    const found = PHRASES.find((p) => p.words.every((word, k) => w.lower(i + k) === word && (k === 0 || w.sameSentence(i, i + k))));
    if (!found) continue;
    // The shape the sentence is about, when it names exactly one (with the colour right before it, if any).
    const named: { shape: Shape; color?: Color }[] = [];
    for (let j = 0; j < w.words.length; j++) {
      if (j >= i && j < i + found.words.length) continue;
      if (!(j < i ? w.sameSentence(j, i) : w.sameSentence(i, j))) continue;
      const shape = SHAPE_WORDS.get(w.lower(j));
      if (shape) named.push({ shape, color: COLOR_WORDS.get(w.lower(j - 1)) });
    }
    const taken = new Set<Position>([found.position]);
    if (scene && named.length === 1) {
      const m = named[0] as { shape: Shape; color?: Color };
      for (const o of scene.objects) if (o.shape === m.shape && (!m.color || o.color === m.color)) taken.add(o.position);
    }
    const others = PHRASES.filter((p) => !taken.has(p.position));
    if (others.length > 0) sites.push({ op: "position", start: i, length: found.words.length, options: others.map((p) => p.words) });
    i += found.words.length - 1;
  }
  return sites;
}

function sizeSites(w: Words, scene: Scene | null): Site[] {
  const sites: Site[] = [];
  w.words.forEach((_, i) => {
    const size = SIZE_WORDS.get(w.lower(i));
    if (!size) return;
    const other = size === "small" ? "large" : "small";
    // "a small red circle" → "a large red circle" only when the scene has no large red circle.
    const shape = describedShape(w, i);
    const color = COLOR_WORDS.get(w.lower(i + 1));
    if (shape && scene?.objects.some((o) => o.shape === shape && o.size === other && (!color || o.color === color))) return;
    sites.push({ op: "size", start: i, length: 1, options: [[other]], fix: (x) => fixArticle(x, i) });
  });
  return sites;
}

function sitesOf(op: CorruptOp, w: Words, scene: Scene | null): Site[] {
  switch (op) {
    case "object":
      return objectSites(w, scene);
    case "color":
      return colorSites(w, scene);
    case "count":
      return countSites(w);
    case "position":
      return positionSites(w, scene);
    case "size":
      return sizeSites(w, scene);
  }
}

export interface CorruptOptions {
  ops: readonly CorruptOp[];
  edits: number;
  seed: number;
}

/** The corrupted answer of one item and its edits, or null when the chosen ops find nothing to edit. */
export function corruptAnswer(
  item: WorldItem,
  o: CorruptOptions,
  rng: Rng = new Rng(o.seed).fork(`corrupt/${item.id}`),
): { text: string; edits: Edit[] } | null {
  const w = new Words(item.answer);
  const edits: Edit[] = [];
  /** Word ranges already edited: [start, end). */
  let locked: [number, number][] = [];
  const free = (s: Site) => locked.every(([a, b]) => s.start + s.length <= a || s.start >= b);
  const yesNo = parseYesNo(item.answer);
  if (yesNo) {
    const i = w.words.findIndex((word) => word.toLowerCase() === yesNo);
    const from = w.words[i] as string;
    w.set(i, yesNo === "yes" ? "no" : "yes");
    edits.push({ op: "yes_no", from, to: w.words[i] as string });
    locked.push([i, i + 1]);
  }
  while (edits.length < o.edits) {
    const byOp = o.ops.map((op) => sitesOf(op, w, item.scene).filter(free)).filter((sites) => sites.length > 0);
    if (byOp.length === 0) break;
    const sites = byOp[Math.floor(rng.uniform() * byOp.length)] as Site[];
    const site = sites[Math.floor(rng.uniform() * sites.length)] as Site;
    const k = Math.floor(rng.uniform() * site.options.length);
    const next = site.options[k] as string[];
    const from = w.phrase(site.start, site.length);
    w.replace(site.start, site.length, next);
    site.fix?.(w, k);
    edits.push({ op: site.op, from, to: w.phrase(site.start, next.length) });
    const shift = next.length - site.length;
    locked = locked.map(([a, b]) => (a >= site.start + site.length ? [a + shift, b + shift] : [a, b]));
    locked.push([site.start, site.start + next.length]);
  }
  const text = w.text();
  return edits.length === 0 || text === item.answer ? null : { text, edits };
}

function emptyStats(prompts: number): CorruptStats {
  return { prompts, pairs: 0, skipped: 0, no_answer: 0, short: 0, edits: {} };
}

/** Pairs (ground truth, corrupted ground truth) for every item the rules can edit. */
export function corruptItems(items: readonly WorldItem[], o: CorruptOptions): { pairs: PairRecord[]; stats: CorruptStats } {
  const base = new Rng(o.seed);
  const stats = emptyStats(items.length);
  const pairs: PairRecord[] = [];
  for (const item of items) {
    if (item.answer.trim() === "") {
      stats.no_answer++;
      continue;
    }
    const result = corruptAnswer(item, o, base.fork(`corrupt/${item.id}`));
    if (!result) {
      stats.skipped++;
      continue;
    }
    if (result.edits.length < o.edits) stats.short++;
    for (const e of result.edits) stats.edits[e.op] = (stats.edits[e.op] ?? 0) + 1;
    pairs.push({
      id: corruptPairId(item.id),
      item,
      chosen: item.answer,
      rejected: result.text,
      source: { kind: "corrupt", edits: result.edits, command: null },
    });
  }
  stats.pairs = pairs.length;
  return { pairs, stats };
}

// ── the command hook ────────────────────────────────────────────────────────
// Protocol (JSON Lines): alignc writes one request per line to the program's stdin,
//   {"id": "<item id>", "prompt": "...", "answer": "<ground truth>", "image": "<absolute path>" | null}
// and waits for one reply line on its stdout before sending the next:
//   {"id": "<the same id>", "rejected": "<the corrupted answer>"}   or   {"id": ..., "rejected": null} to skip the item.
// A reply may add "edits": [{"op", "from", "to"}, …] (strings) to record what was changed; other fields are
// ignored. The rejected answer must be a non-empty string that differs from the answer. One process serves all
// items; it gets EOF on stdin at the end. Anything else — a line that is not such a reply, another id, an exit or no
// reply within the timeout — stops the stage with an error naming the item and the tail of the program's stderr.

export class CorruptCommandError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7016";
  override name = "CorruptCommandError";
  constructor(
    message: string,
    readonly itemId: string | undefined,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface CommandOptions {
  /** The program and its arguments, run directly (never through a shell). */
  argv: readonly string[];
  /** Its working directory: the .align file's directory. */
  cwd: string;
  /** How long one reply may take. Default 60 s. */
  timeoutMs?: number;
  /** Called after each item with the number done. */
  onItem?: (done: number) => void;
}

const STDERR_TAIL = 2000;
const quote = (text: string, max = 200): string => printableJson(JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text));
/** A value from a reply, as JSON, cut for a message. */
const brief = (value: unknown, max = 200): string => {
  const json = JSON.stringify(value) ?? String(value);
  return printableJson(json.length > max ? `${json.slice(0, max)}…` : json);
};
const KILL_GRACE_MS = 2000;
/** The longest stdout line taken from the editor; more without a newline stops it. */
const MAX_LINE = 16 * 1024 * 1024;

/** What is wrong with a reply line for item `id` (whose answer is `answer`), or the reply. */
export function parseEditorReply(line: string, id: string, answer: string): { rejected: string | null; edits: Edit[] } | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return `printed a line that is not JSON: ${quote(line)}`;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `printed ${quote(line)}, not a JSON object {"id", "rejected"}`;
  const r = v as Record<string, unknown>;
  if (r.id !== id) return `replied with id ${brief(r.id)} while item ${brief(id)} was waiting`;
  if (r.rejected === null) return { rejected: null, edits: [] };
  if (typeof r.rejected !== "string" || r.rejected.trim() === "")
    return `"rejected" must be a non-empty string (or null to skip the item), got ${brief(r.rejected)}`;
  if (r.rejected === answer) return `"rejected" is the answer unchanged (${quote(answer)}); return null to skip an item`;
  const edits: Edit[] = [];
  if (r.edits !== undefined) {
    if (!Array.isArray(r.edits)) return `"edits" must be a list of {"op", "from", "to"}, got ${brief(r.edits)}`;
    for (const e of r.edits as unknown[]) {
      const x = e as Record<string, unknown> | null;
      if (typeof x !== "object" || x === null || typeof x.op !== "string" || typeof x.from !== "string" || typeof x.to !== "string")
        return `each of "edits" must be {"op", "from", "to"} with string values, got ${brief(e)}`;
      edits.push({ op: x.op, from: x.from, to: x.to });
    }
  }
  return { rejected: r.rejected, edits };
}

/**
 * One long-lived editor process answering one request at a time. It runs in its own process group, ended as a whole
 * when the editor exits or is stopped, and when alignc exits or is interrupted (process-groups.ts).
 */
class Editor {
  private readonly process: JsonlProcess;
  private lines: string[] = [];
  private waiter: ((line: string | Error) => void) | undefined;
  private exit: Error | undefined;

  constructor(
    private readonly argv: readonly string[],
    cwd: string,
  ) {
    this.process = new JsonlProcess({
      argv,
      cwd,
      killGraceMs: KILL_GRACE_MS,
      maxLineChars: MAX_LINE,
      stderrTailChars: STDERR_TAIL,
      onLine: (line) => this.push(line),
      // Memory stays bounded: an editor that never ends its line is stopped, and what it printed is not kept.
      onOverflow: () => this.ended(new Error(`printed more than ${MAX_LINE / 1024 / 1024} MB without a newline`)),
      onExit: (exit) =>
        this.ended(
          !exit.started
            ? new Error(`could not be started in ${cwd}: ${exit.reason}; check that it is installed (or give its path)`)
            : new Error(exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`),
        ),
    });
  }

  /** The first reason it can answer no more; whoever waits for a line gets it. */
  private ended(reason: Error): void {
    this.exit ??= reason;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(this.exit);
  }

  private push(line: string): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(line);
    else this.lines.push(line);
  }

  /** Sends one request line and waits for the next line of output. */
  ask(request: object, timeoutMs: number): Promise<string> {
    if (this.lines.length > 0) return Promise.reject(new Error(`printed a line before it was asked: ${quote(this.lines[0] as string)}`));
    if (this.exit) return Promise.reject(this.exit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`did not reply within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        if (line instanceof Error) reject(line);
        else resolve(line);
      };
      this.process.send(request);
    });
  }

  /** EOF on stdin, a moment to exit, then SIGTERM to its group (and SIGKILL after the grace period). */
  close(): Promise<void> {
    return this.process.close();
  }

  /** Its stderr's tail, control characters escaped. */
  stderr(): string {
    return this.process.stderrTail() ?? "";
  }

  describe(): string {
    return quote(this.argv.join(" "), 120);
  }
}

/** Pairs whose rejected answers an external editor program wrote. */
export async function corruptWithCommand(items: readonly WorldItem[], o: CommandOptions): Promise<{ pairs: PairRecord[]; stats: CorruptStats }> {
  if (o.argv.length === 0) throw new CorruptCommandError("corrupt: command is empty; give the program and its arguments", undefined, "");
  const stats = emptyStats(items.length);
  const pairs: PairRecord[] = [];
  const editor = new Editor(o.argv, o.cwd);
  const timeoutMs = o.timeoutMs ?? 60_000;
  try {
    let done = 0;
    for (const item of items) {
      done++;
      if (item.answer.trim() === "") {
        stats.no_answer++;
        o.onItem?.(done);
        continue;
      }
      let reply: ReturnType<typeof parseEditorReply>;
      try {
        const line = await editor.ask({ id: item.id, prompt: item.prompt, answer: item.answer, image: item.image }, timeoutMs);
        reply = parseEditorReply(line, item.id, item.answer);
      } catch (e) {
        reply = (e as Error).message;
      }
      if (typeof reply === "string") {
        const tail = editor.stderr().trim();
        const lastLines = tail.split("\n").slice(-5).join("\n    ");
        throw new CorruptCommandError(
          `corrupt: the editor program ${editor.describe()} failed on item ${printableLine(item.id)}: it ${reply}${tail ? `\n  its stderr ends:\n    ${lastLines}` : " (nothing on stderr)"}`,
          item.id,
          editor.stderr(),
        );
      }
      o.onItem?.(done);
      if (reply.rejected === null) {
        stats.skipped++;
        continue;
      }
      for (const e of reply.edits) stats.edits[e.op] = (stats.edits[e.op] ?? 0) + 1;
      pairs.push({
        id: corruptPairId(item.id),
        item,
        chosen: item.answer,
        rejected: reply.rejected,
        source: { kind: "corrupt", edits: reply.edits, command: [...o.argv] },
      });
    }
  } finally {
    await editor.close();
  }
  stats.pairs = pairs.length;
  return { pairs, stats };
}
