// Preference files in and out (docs/formats.md): hand-written files of every format, row errors with file and row,
// images that may not leave their root, field renames, round trips through export and import, and the data.file
// and stage.export executors on temporary directories.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { GraphNode } from "../src/graph/graph.ts";
import {
  badRowsMessage,
  datasetInfoEntry,
  exportFile,
  type FileFormat,
  fileDigest,
  type ImportOptions,
  importFile,
  llava,
  renderErrors,
  rlaifV,
  stripPlaceholders,
  trl,
} from "../src/runtime/data/formats/index.ts";
import { type Dataset, type PairRecord, type RatedRecord, readDataset, type SampleRecord } from "../src/runtime/data/prefdata/records.ts";
import { dataFile } from "../src/runtime/pipeline/executors/data-file.ts";
import { EXPORT_DIR, publishExport, stageExport } from "../src/runtime/pipeline/executors/stage-export.ts";
import { externalDigest, NodeError, type StoredInput } from "../src/runtime/pipeline/node-executor.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { encodePng } from "../src/runtime/world/png.ts";
import { repoRoot } from "./support/align-files.ts";
import { fakeContext, graphNode, runExecutor, storedInput } from "./support/exec-context.ts";

const FIX = path.join(repoRoot, "test", "fixtures", "formats");
const RED = path.join(FIX, "images", "red.png");
const BLUE = path.join(FIX, "images", "blue.png");
/** How alignc-rated.jsonl reads (its scores fit these aspects and this scale): import options and data.file params. */
const RATED = { kind: "rated", format: "alignc", aspects: ["helpfulness", "correctness"], scale: { min: 0, max: 4 } } as const;
const dir = mkdtempSync(path.join(tmpdir(), "alignc-formats-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
/** A fresh folder under the test's temporary directory. */
function fresh(name: string): string {
  const d = path.join(dir, `${name}-${counter++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function write(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const jsonl = (...rows: unknown[]): string => rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n";

function png(file: string, rgb: [number, number, number] = [10, 200, 10]): string {
  const px = new Uint8Array(4 * 4 * 3);
  for (let i = 0; i < 16; i++) px.set(rgb, i * 3);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, encodePng(px, 4, 4));
  return file;
}

function imported(opts: ImportOptions): Dataset {
  const r = importFile(opts);
  assert.deepEqual(r.problems, []);
  return r.dataset;
}

const pairsOf = (file: string, format: FileFormat, more: Partial<ImportOptions> = {}) =>
  imported({ file, kind: "pairs", format, ...more }).records as PairRecord[];
const promptsOf = (file: string, format: FileFormat) => imported({ file, kind: "prompts", format }).records as WorldItem[];

/** What a pair says, images as their bytes. */
const gist = (p: PairRecord) => ({
  prompt: p.item.prompt,
  image: p.item.image ? readFileSync(p.item.image).toString("base64") : null,
  chosen: p.chosen,
  rejected: p.rejected,
});

/** The problems of importing `file`. */
const problemsOf = (opts: ImportOptions): string[] => importFile(opts).problems;

describe("hand-written files of each format", () => {
  test("TRL standard rows become imported pairs: ids, items, images under the file's directory, provenance", () => {
    const file = path.join(FIX, "trl.jsonl");
    const pairs = pairsOf(file, "trl");
    assert.deepEqual(
      pairs.map((p) => p.id),
      ["q1", "trl.jsonl:2", "trl.jsonl:3"],
    );
    const [first, second, third] = pairs as [PairRecord, PairRecord, PairRecord];
    assert.deepEqual(first, {
      id: "q1",
      item: {
        id: "q1",
        split: "train",
        task: "describe",
        kind: "imported",
        prompt: "What colour is the square?",
        answer: "It is red.",
        image: RED,
        scene: null,
        negative: null,
      },
      chosen: "It is red.",
      rejected: "It is blue.",
      source: { kind: "file", file, row: 1, format: "trl" },
    });
    assert.equal(second.item.task, "text");
    assert.equal(second.item.image, null);
    assert.equal(third.item.prompt, "What is shown?", "the <image> placeholder is removed");
    assert.equal(third.item.image, BLUE, "a single `image` field is read too");
  });

  test("the TRL conversational variant, sharegpt (.json array) and ms-swift say the same pairs", () => {
    const expected = pairsOf(path.join(FIX, "trl.jsonl"), "trl").slice(0, 2).map(gist);
    assert.deepEqual(pairsOf(path.join(FIX, "trl-conversational.jsonl"), "trl").map(gist), expected);
    assert.deepEqual(pairsOf(path.join(FIX, "sharegpt.json"), "sharegpt").map(gist), expected);
    assert.deepEqual(pairsOf(path.join(FIX, "ms-swift.jsonl"), "ms_swift").map(gist), expected);
    assert.deepEqual(
      pairsOf(path.join(FIX, "sharegpt.json"), "sharegpt").map((p) => p.id),
      ["sharegpt.json:1", "sharegpt.json:2"],
    );
  });

  test("prompt rows of every format: prompt, optional answer, image, ids (integers read as strings)", () => {
    const want = [
      { prompt: "What colour is the square?", answer: "It is red.", image: RED, task: "describe" },
      { prompt: "Name a colour.", answer: "", image: null, task: "text" },
    ];
    const gistOf = (items: WorldItem[]) => items.map(({ prompt, answer, image, task }) => ({ prompt, answer, image, task }));
    const trlItems = promptsOf(path.join(FIX, "trl-prompts.jsonl"), "trl");
    assert.deepEqual(gistOf(trlItems), want);
    assert.deepEqual(
      trlItems.map((i) => i.id),
      ["trl-prompts.jsonl:1", "7"],
    );
    const sharegptItems = promptsOf(path.join(FIX, "sharegpt-prompts.json"), "sharegpt");
    assert.deepEqual(gistOf(sharegptItems), want);
    assert.equal(sharegptItems[1]?.id, "c2");
    assert.deepEqual(gistOf(promptsOf(path.join(FIX, "ms-swift-prompts.jsonl"), "ms_swift")), want);
    assert.ok(trlItems.every((i) => i.kind === "imported" && i.split === "train" && i.scene === null && i.negative === null));
  });

  test("alignc pairs keep their own source; a pair without one gets the file's", () => {
    const file = path.join(FIX, "alignc-pairs.jsonl");
    const [p1, p2] = pairsOf(file, "alignc") as [PairRecord, PairRecord];
    assert.deepEqual(p1.source, { kind: "corrupt", edits: [{ op: "color", from: "red", to: "blue" }], command: null });
    assert.equal(p1.item.id, "w1");
    assert.equal(p1.item.image, RED);
    assert.equal(p1.item.scene?.objects[0]?.shape, "square");
    assert.deepEqual(p2.source, { kind: "file", file, row: 2, format: "alignc" });
  });

  test("alignc rated and samples records: the node's aspects and scale give the rating; optional fields default", () => {
    const rated = imported({ file: path.join(FIX, "alignc-rated.jsonl"), ...RATED });
    assert.equal(rated.kind, "rated");
    if (rated.kind !== "rated") return;
    assert.deepEqual(rated.rating, { rater: "file", kind: "file", aspects: ["helpfulness", "correctness"], scale: { min: 0, max: 4 } });
    const [r] = rated.records as [RatedRecord];
    assert.deepEqual(
      r.responses.map((x) => x.logprob),
      [null, -3.5],
    );
    assert.equal(r.sampler, null);
    assert.equal(r.rationale, "the second names the wrong colour");
    assert.equal(r.item.image, BLUE);
    const samples = imported({ file: path.join(FIX, "alignc-samples.jsonl"), kind: "samples", format: "alignc" });
    assert.equal((samples.records[0] as SampleRecord).responses.length, 2);
  });

  test("<image> placeholders and the whitespace around them become one space; the prompt is trimmed", () => {
    assert.equal(stripPlaceholders("<image>\nWhat is red?"), "What is red?");
    assert.equal(stripPlaceholders("Look: <image> what is it?"), "Look: what is it?");
  });
});

describe("bad rows are reported with file and row", () => {
  test("several kinds of error in one TRL file, each on its own row, all at once", () => {
    const d = fresh("bad");
    png(path.join(d, "a.png"));
    png(path.join(d, "b.png"));
    const file = write(
      path.join(d, "bad.jsonl"),
      jsonl(
        "{not json",
        { prompt: "p", chosen: "c" },
        { prompt: 3, chosen: "c", rejected: "r" },
        { prompt: "p", chosen: "c", rejected: "r", images: ["a.png", "b.png"] },
        { prompt: "p", chosen: "c", rejected: "r", images: ["nosuch.png"] },
        { id: "x", prompt: "p", chosen: "c", rejected: "r" },
        { id: "x", prompt: "p", chosen: "c", rejected: "r" },
        "",
        { prompt: "<image>p", chosen: "c", rejected: "r" },
        {
          prompt: [
            { role: "user", content: "a" },
            { role: "assistant", content: "b" },
          ],
          chosen: "c",
          rejected: "r",
        },
        { prompt: "ok", chosen: "c", rejected: "r", image: "a.png" },
      ),
    );
    const problems = problemsOf({ file, kind: "pairs", format: "trl" });
    const at = (row: number) => problems.find((p) => p.startsWith(`${file}:${row}: `)) ?? `(nothing for row ${row})`;
    assert.equal(problems.length, 9);
    assert.match(at(1), /not valid JSON/);
    assert.match(at(2), /field 'rejected' is missing/);
    assert.match(at(3), /'prompt' must be string or array, got an integer/);
    assert.match(at(4), /'images' names 2 images; alignc's items hold one image \(TinyVLM takes one image per prompt\)/);
    assert.match(at(5), /image nosuch\.png does not exist/);
    assert.match(at(7), /id 'x' was already used in row 6; ids must be unique/);
    assert.match(at(8), /blank line/);
    assert.match(at(9), /image placeholder, but the row names no image/);
    assert.match(at(10), /'prompt' must end with the user's message \(the answers continue it\); got user, assistant/);
  });

  test("TRL conversations keep a system message and earlier turns; rows without 'prompt' have TRL's implicit prompt", () => {
    const d = fresh("trl-turns");
    const user = (content: string) => ({ role: "user", content });
    const assistant = (content: string) => ({ role: "assistant", content });
    const file = write(
      path.join(d, "turns.jsonl"),
      jsonl(
        { id: "sys", prompt: [{ role: "system", content: "Be brief." }, user("Hi?")], chosen: [assistant("Hello.")], rejected: [assistant("Go.")] },
        { id: "multi", prompt: [user("2+2?"), assistant("4."), user("And 3+3?")], chosen: [assistant("6.")], rejected: [assistant("7.")] },
        // Anthropic HH in TRL's implicit-prompt layout: the shared turns are the prompt.
        {
          id: "hh",
          chosen: [user("Hi?"), assistant("Hey."), user("Name a fruit.")].concat([assistant("A pear.")]),
          rejected: [user("Hi?"), assistant("Hey."), user("Name a fruit.")].concat([assistant("No.")]),
        },
        { id: "str", chosen: "Human: Name a colour. Assistant: Red.", rejected: "Human: Name a colour. Assistant: I will not." },
      ),
    );
    const [sys, multi, hh, str] = pairsOf(file, "trl");
    assert.equal(sys?.item.prompt, "Hi?");
    assert.deepEqual(sys?.item.messages, [{ role: "system", content: "Be brief." }, user("Hi?")]);
    assert.equal(multi?.item.prompt, "And 3+3?");
    assert.deepEqual(multi?.item.messages, [user("2+2?"), assistant("4."), user("And 3+3?")]);
    assert.deepEqual([hh?.item.messages, hh?.chosen, hh?.rejected], [[user("Hi?"), assistant("Hey."), user("Name a fruit.")], "A pear.", "No."]);
    // Strings split at the first difference, the space before it going with the answers (trl.data_utils.extract_prompt).
    assert.deepEqual(
      [str?.item.prompt, str?.item.messages, str?.chosen, str?.rejected],
      ["Human: Name a colour. Assistant:", undefined, " Red.", " I will not."],
    );

    const bad = write(
      path.join(d, "bad-turns.jsonl"),
      jsonl(
        { prompt: [user("a"), { role: "system", content: "late" }, user("b")], chosen: "c", rejected: "r" },
        { chosen: "Same.", rejected: "Same. And more." },
        { chosen: "Yes.", rejected: "No." },
        { chosen: [user("q"), assistant("a"), user("more"), assistant("b")], rejected: [user("q"), assistant("x")] },
      ),
    );
    const problems = problemsOf({ file: bad, kind: "pairs", format: "trl" });
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(problems[0] ?? "", /:1: .*'prompt\[1\]' is a system message; a system message may only open the conversation/);
    assert.match(problems[1] ?? "", /:2: .*one of 'chosen' and 'rejected' is the start of the other/);
    assert.match(problems[2] ?? "", /:3: .*share no start to take as the prompt/);
    assert.match(problems[3] ?? "", /:4: .*'chosen' must hold one assistant message \(the answer\); got assistant, user, assistant/);
  });

  test("sharegpt, ms-swift and alignc rows: schema errors with their path, single-turn and one-image rules", () => {
    const d = fresh("bad-formats");
    const sg = write(
      path.join(d, "sg.jsonl"),
      jsonl(
        { conversations: [{ from: "bot", value: "hi" }], chosen: { from: "gpt", value: "c" }, rejected: { from: "gpt" } },
        { conversations: [{ from: "human", value: "q" }], chosen: { from: "human", value: "c" }, rejected: { from: "gpt", value: "r" } },
        { system: "be nice", conversations: [{ from: "human", value: "q" }], chosen: { from: "gpt", value: "c" }, rejected: { from: "gpt", value: "r" } },
      ),
    );
    const sgProblems = problemsOf({ file: sg, kind: "pairs", format: "sharegpt" });
    assert.match(
      sgProblems[0] ?? "",
      /sg\.jsonl:1: error\[ALN\d+\]: 'conversations\[0\]\.from' must be one of "human", .*; got "bot"; field 'rejected\.value' is missing/,
    );
    assert.match(sgProblems[1] ?? "", /sg\.jsonl:2: error\[ALN\d+\]: 'chosen\.from' must be "gpt"/);
    // A system prompt opens the conversation, which is kept as the item's messages.
    assert.equal(sgProblems.length, 2);
    const [withSystem] = importFile({ file: sg, kind: "pairs", format: "sharegpt" }).dataset.records as PairRecord[];
    assert.deepEqual(withSystem?.item.messages, [
      { role: "system", content: "be nice" },
      { role: "user", content: "q" },
    ]);

    const swift = write(
      path.join(d, "swift.jsonl"),
      jsonl(
        { messages: [{ role: "user", content: "q" }], rejected_response: "r" },
        {
          messages: [
            { role: "user", content: "q" },
            { role: "assistant", content: "c" },
          ],
        },
        {
          messages: [
            { role: "user", content: "<image>q" },
            { role: "assistant", content: "c" },
          ],
          rejected_response: "r",
          images: ["a.png"],
          rejected_images: ["b.png"],
        },
      ),
    );
    const swiftProblems = problemsOf({ file: swift, kind: "pairs", format: "ms_swift" });
    assert.match(
      swiftProblems[0] ?? "",
      /swift\.jsonl:1: error\[ALN\d+\]: 'messages' must end with the user's turn and then one assistant turn \(the chosen answer\)/,
    );
    assert.match(swiftProblems[1] ?? "", /swift\.jsonl:2: error\[ALN\d+\]: field 'rejected_response' is missing/);
    assert.match(swiftProblems[2] ?? "", /swift\.jsonl:3: error\[ALN\d+\]: 'rejected_images' differs from 'images'/);

    const rated = write(
      path.join(d, "rated.jsonl"),
      readFileSync(path.join(FIX, "alignc-rated.jsonl"), "utf8").replace('"images/blue.png"', "null").replace('"task": "describe"', '"task": "text"') +
        jsonl(
          {
            id: "r2",
            item: { id: "r2", split: "train", task: "text", kind: "k", prompt: "p", answer: "", image: null, scene: null, negative: null },
            responses: [{ text: "a", tokens: 1 }],
            scores: [{ helpfulness: 9, correctness: 1 }],
          },
          { id: "r3", item: { id: "r3", split: "dev", task: "text" }, responses: [], scores: [] },
        ),
    );
    const ratedProblems = problemsOf({ file: rated, ...RATED });
    assert.equal(ratedProblems.length, 2);
    assert.match(ratedProblems[0] ?? "", /rated\.jsonl:2: error\[ALN\d+\]: 'scores\[0\]\.helpfulness' is 9, outside the scale 0\.\.4/);
    assert.match(
      ratedProblems[1] ?? "",
      /rated\.jsonl:3: error\[ALN\d+\]: fields 'item\.kind', .* are missing; 'item\.split' must be one of "train", "val", "test"; got "dev"/,
    );
    const narrower = problemsOf({ file: rated, kind: "rated", format: "alignc", aspects: ["helpfulness"], scale: { min: 0, max: 10 } });
    assert.match(narrower[0] ?? "", /rated\.jsonl:1: error\[ALN\d+\]: 'scores\[0\]' scores 'correctness', which is not among the aspects helpfulness/);
  });

  test("twenty problems are listed, then how many more", () => {
    const d = fresh("many");
    const file = write(path.join(d, "many.jsonl"), jsonl(...Array.from({ length: 25 }, () => ({ prompt: "p" }))));
    const message = badRowsMessage(file, problemsOf({ file, kind: "pairs", format: "trl" }));
    assert.match(message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 25 bad records; fix them and run again:\n`));
    assert.equal(message.split("\n").length, 22);
    assert.match(message, /\n {2}… and 5 more$/);
  });

  test("ajv errors render as path and message", () => {
    assert.equal(
      renderErrors([
        { keyword: "type", instancePath: "/conversations/0/value", schemaPath: "", params: { type: "string" }, data: 3 },
        { keyword: "required", instancePath: "", schemaPath: "", params: { missingProperty: "chosen" } },
      ]),
      "'conversations[0].value' must be string, got an integer; field 'chosen' is missing",
    );
  });
});

describe("image paths stay inside the images root", () => {
  const d = fresh("escape");
  const root = path.join(d, "data");
  const outside = png(path.join(d, "outside.png"));
  png(path.join(root, "in.png"));
  symlinkSync(outside, path.join(root, "link.png"));
  symlinkSync(path.join(root, "in.png"), path.join(root, "inner-link.png"));
  const row = (image: string) => ({ prompt: "p", chosen: "c", rejected: "r", images: [image] });

  test("../x.png, an absolute path outside and a symbolic link pointing outside are refused", () => {
    const file = write(path.join(root, "pairs.jsonl"), jsonl(row("../outside.png"), row(outside), row("link.png"), row("sub/../../outside.png")));
    const problems = problemsOf({ file, kind: "pairs", format: "trl" });
    assert.equal(problems.length, 4);
    assert.match(
      problems[0] ?? "",
      /pairs\.jsonl:1: error\[ALN\d+\]: image path "\.\.\/outside\.png" leads outside the images root \S+; set `images` to a directory that holds every image/,
    );
    assert.match(problems[1] ?? "", /pairs\.jsonl:2: error\[ALN\d+\]: image path ".*outside\.png" leads outside the images root/);
    assert.match(
      problems[2] ?? "",
      /pairs\.jsonl:3: error\[ALN\d+\]: image "link\.png" leads through a symbolic link to .*outside\.png, outside the images root/,
    );
    assert.match(problems[3] ?? "", /pairs\.jsonl:4: error\[ALN\d+\]: .* leads outside the images root/);
  });

  test("an absolute path inside the root and a link within it are fine; `images` moves the root", () => {
    const file = write(path.join(root, "ok.jsonl"), jsonl(row(path.join(root, "in.png")), row("inner-link.png")));
    assert.equal(pairsOf(file, "trl").length, 2);
    const elsewhere = write(path.join(d, "lists", "ok.jsonl"), jsonl(row("in.png")));
    assert.match(problemsOf({ file: elsewhere, kind: "pairs", format: "trl" })[0] ?? "", /image in\.png does not exist/);
    assert.equal(pairsOf(elsewhere, "trl", { images: root })[0]?.item.image, path.join(root, "in.png"));
  });

  test("alignc prompts refuse a symbolic link out of the root too", () => {
    const item = { id: "a", split: "train", task: "text", kind: "k", prompt: "p", answer: "", image: null, scene: null, negative: null };
    const scene = { objects: [{ shape: "circle", color: "red", size: "small", position: "center", x: 0.5, y: 0.5, r: 0.1 }] };
    const file = write(path.join(root, "items.jsonl"), jsonl(item, { ...item, id: "b", task: "describe", image: "link.png", scene }));
    assert.match(
      problemsOf({ file, kind: "prompts", format: "alignc" })[0] ?? "",
      /items\.jsonl:2: error\[ALN\d+\]: image "link\.png" leads through a symbolic link/,
    );
  });
});

test("fields renames are applied before validation, in every format", () => {
  const d = fresh("renames");
  png(path.join(d, "a.png"));
  const file = write(path.join(d, "r.jsonl"), jsonl({ question: "<image>What?", good: "yes", bad: "no", pics: ["a.png"], prompt: "ignored" }));
  const fields = { prompt: "question", chosen: "good", rejected: "bad", images: "pics" };
  const [p] = pairsOf(file, "trl", { fields });
  assert.deepEqual(p && gist(p), { prompt: "What?", image: readFileSync(path.join(d, "a.png")).toString("base64"), chosen: "yes", rejected: "no" });
  const swift = write(
    path.join(d, "s.jsonl"),
    jsonl({
      msgs: [
        { role: "user", content: "q" },
        { role: "assistant", content: "c" },
      ],
      worse: "r",
    }),
  );
  assert.equal(pairsOf(swift, "ms_swift", { fields: { messages: "msgs", rejected_response: "worse" } })[0]?.rejected, "r");
  // the key counts images named through renamed fields
  const before = fileDigest({ file, format: "trl", fields });
  png(path.join(d, "a.png"), [1, 2, 3]);
  assert.notEqual(fileDigest({ file, format: "trl", fields }), before);
});

describe("round trips: alignc pairs → export → import", () => {
  const source = pairsOf(path.join(FIX, "alignc-pairs.jsonl"), "alignc");
  const dataset: Dataset = { kind: "pairs", records: source };

  for (const [format, name] of [
    ["trl", "out.jsonl"],
    ["sharegpt", "out.json"],
    ["sharegpt", "out.jsonl"],
    ["ms_swift", "out.jsonl"],
    ["llava", "out.json"],
    ["rlaif_v", "out.jsonl"],
    ["alignc", "out.jsonl"],
  ] as const) {
    test(`${format} (${path.extname(name)}) keeps prompt, image bytes, chosen and rejected`, () => {
      const out = path.join(fresh(`rt-${format}`), name);
      const result = exportFile(dataset, format, out);
      assert.deepEqual(result, { rows: 2, images: 1 });
      const back = pairsOf(out, format);
      assert.deepEqual(back.map(gist), source.map(gist));
      assert.deepEqual(
        back.map((p) => p.id),
        ["p1", "p2"],
      );
      if (format === "alignc") assert.deepEqual(back[0]?.source, source[0]?.source);
    });
  }

  test("the exported files look as their trainers expect, images relative to the file", () => {
    const d = fresh("layouts");
    const rows = (format: FileFormat) => {
      const out = path.join(d, `${format}.jsonl`);
      exportFile(dataset, format, out);
      return readFileSync(out, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
    };
    const [trlRow, trlText] = rows("trl");
    assert.match(trlRow.images[0], /^images\/[0-9a-f]{16}\.png$/);
    assert.deepEqual(readFileSync(path.join(d, trlRow.images[0])), readFileSync(RED));
    // TRL's vision layout: the prompt a conversation whose user message starts with the image, the answers assistant messages.
    assert.deepEqual(trlRow, {
      id: "p1",
      prompt: [{ role: "user", content: [{ type: "image" }, { type: "text", text: "Describe the image." }] }],
      chosen: [{ role: "assistant", content: [{ type: "text", text: "A red square." }] }],
      rejected: [{ role: "assistant", content: [{ type: "text", text: "A blue circle." }] }],
      images: [trlRow.images[0]],
    });
    assert.deepEqual(trlText, { id: "p2", prompt: "Name a colour.", chosen: "Green.", rejected: "A square." });
    const [sg] = rows("sharegpt");
    assert.deepEqual(sg, {
      id: "p1",
      conversations: [{ from: "human", value: "<image>Describe the image." }],
      chosen: { from: "gpt", value: "A red square." },
      rejected: { from: "gpt", value: "A blue circle." },
      images: [trlRow.images[0]],
    });
    const [swift] = rows("ms_swift");
    assert.deepEqual(swift, {
      id: "p1",
      messages: [
        { role: "user", content: "<image>Describe the image." },
        { role: "assistant", content: "A red square." },
      ],
      rejected_response: "A blue circle.",
      images: [trlRow.images[0]],
    });
    const [lv] = rows("llava");
    assert.deepEqual(lv, {
      id: "p1",
      image: trlRow.images[0],
      conversations: [{ from: "human", value: "<image>\nDescribe the image." }],
      chosen: "A red square.",
      rejected: "A blue circle.",
    });
    const [rl] = rows("rlaif_v");
    assert.deepEqual(rl, { id: "p1", image: trlRow.images[0], question: "Describe the image.", chosen: "A red square.", rejected: "A blue circle." });
    assert.deepEqual(trl.writePrompt({ ...(source[1] as PairRecord).item, answer: "" }), { id: "w2", prompt: "Name a colour." });
  });

  test("prompts round-trip through every format", () => {
    const items = promptsOf(path.join(FIX, "trl-prompts.jsonl"), "trl");
    // alignc's format too: imported items (kind "imported") have an image but no scene graph.
    assert.ok(items.some((i) => i.image !== null && i.scene === null));
    for (const format of ["trl", "sharegpt", "ms_swift", "llava", "rlaif_v", "alignc"] as const) {
      const out = path.join(fresh(`prompts-${format}`), "p.jsonl");
      exportFile({ kind: "prompts", records: items }, format, out);
      const back = promptsOf(out, format);
      const bytes = (i: WorldItem) => ({ ...i, image: i.image && readFileSync(i.image).toString("base64") });
      assert.deepEqual(back.map(bytes), items.map(bytes), format);
    }
  });
});

// ── the executors ─────────────────────────────────────────────────────────────

const context = (n: GraphNode, entryDir: string, inputs: StoredInput[] = []) => fakeContext({ node: n, out: fresh("entry"), inputs, entryDir });
const stored = (n: GraphNode, entry: string) => storedInput("data", n, entry);

describe("the data.file executor", () => {
  test("imports TRL pairs into a dataset entry with its own copies of the images", async () => {
    const n = graphNode("data.file", { path: "trl.jsonl", kind: "pairs", format: "trl", fields: {} });
    const ctx = context(n, FIX);
    const summary = await runExecutor(dataFile, ctx);
    assert.deepEqual(summary, { source: path.join(FIX, "trl.jsonl"), format: "trl", kind: "pairs", records: 3, images: 2 });
    assert.deepEqual(readdirSync(ctx.out).sort(), ["dataset.json", "images", "records.jsonl"]);
    const data = readDataset(ctx.out);
    assert.equal(data.kind, "pairs");
    const [first] = data.records as PairRecord[];
    assert.ok(first?.item.image?.startsWith(ctx.out));
    assert.deepEqual(readFileSync(first?.item.image ?? ""), readFileSync(RED));
    assert.notEqual(statSync(first?.item.image ?? "").ino, statSync(RED).ino, "the user's file is copied, not linked");
    assert.deepEqual(first?.source, { kind: "file", file: path.join(FIX, "trl.jsonl"), row: 1, format: "trl" });
  });

  test("rated records get the node's rating; bad rows fail the node with file:row lines", async () => {
    const n = graphNode("data.file", { path: "alignc-rated.jsonl", ...RATED });
    const ctx = context(n, FIX);
    await runExecutor(dataFile, ctx);
    const manifest = JSON.parse(readFileSync(path.join(ctx.out, "dataset.json"), "utf8"));
    assert.deepEqual(manifest.rating, { rater: "file", kind: "file", aspects: ["helpfulness", "correctness"], scale: { min: 0, max: 4 } });

    const tight = graphNode("data.file", { path: "alignc-rated.jsonl", ...RATED, scale: { min: 0, max: 3 } });
    await assert.rejects(runExecutor(dataFile, context(tight, FIX)), (e: Error) => {
      assert.ok(e instanceof NodeError);
      assert.match(
        e.message,
        /alignc-rated\.jsonl: 1 bad record; fix them and run again:\n {2}\S+alignc-rated\.jsonl:1: error\[ALN\d+\]: 'scores\[0\]\.helpfulness' is 4, outside the scale 0\.\.3/,
      );
      return true;
    });
  });

  test("prompts in another format become imported world items; a missing file is named", async () => {
    const ctx = context(graphNode("data.file", { path: "sharegpt-prompts.json", kind: "prompts", format: "sharegpt" }), FIX);
    const summary = await runExecutor(dataFile, ctx);
    assert.deepEqual(summary.tasks, { describe: 1, text: 1 });
    assert.equal(existsSync(path.join(ctx.out, "items.jsonl")), true);
    assert.equal(existsSync(path.join(ctx.out, ".incoming")), false);
    await assert.rejects(
      runExecutor(dataFile, context(graphNode("data.file", { path: "nosuch.jsonl", kind: "pairs", format: "trl" }), FIX)),
      /error\[ALN6001\]: data file \S*nosuch\.jsonl does not exist/,
    );
  });

  test("external() hashes the file and the images its rows name, in every format", () => {
    const d = fresh("digest");
    png(path.join(d, "a.png"));
    write(
      path.join(d, "s.jsonl"),
      jsonl({
        messages: [
          { role: "user", content: "<image>q" },
          { role: "assistant", content: "c" },
        ],
        rejected_response: "r",
        images: ["a.png"],
      }),
    );
    const n = graphNode("data.file", { path: "s.jsonl", kind: "pairs", format: "ms_swift" });
    const before = externalDigest(dataFile, n, d);
    assert.match(before ?? "", /^[0-9a-f]{64}$/);
    png(path.join(d, "a.png"), [9, 9, 9]);
    assert.notEqual(externalDigest(dataFile, n, d), before);
  });
});

describe("the stage.export executor", () => {
  test("writes export/<name> with export/images/ and passes the dataset through unchanged", async () => {
    const src = graphNode("data.file", { path: "alignc-pairs.jsonl", kind: "pairs", format: "alignc" }, "prefs");
    const srcCtx = context(src, FIX);
    await runExecutor(dataFile, srcCtx);
    const exp = graphNode("stage.export", { path: "out/pairs.trl.jsonl", format: "trl" }, "exported");
    const ctx = context(exp, FIX, [stored(src, srcCtx.out)]);
    const summary = await runExecutor(stageExport, ctx);
    assert.deepEqual(summary, { path: "out/pairs.trl.jsonl", format: "trl", kind: "pairs", file: `${EXPORT_DIR}/pairs.trl.jsonl`, rows: 2, images: 1 });
    const exported = path.join(ctx.out, EXPORT_DIR, "pairs.trl.jsonl");
    const [row] = readFileSync(exported, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(readFileSync(path.join(ctx.out, EXPORT_DIR, row.images[0])), readFileSync(RED));
    assert.deepEqual(readdirSync(path.join(ctx.out, EXPORT_DIR)).sort(), ["images", "pairs.trl.jsonl"]);
    const through = readDataset(ctx.out);
    const input = readDataset(srcCtx.out);
    assert.deepEqual(
      (through.records as PairRecord[]).map((r) => ({ ...r, item: { ...r.item, image: null } })),
      (input.records as PairRecord[]).map((r) => ({ ...r, item: { ...r.item, image: null } })),
    );
    assert.deepEqual((through.records as PairRecord[]).map(gist), (input.records as PairRecord[]).map(gist));
    // and the exported file reads back as the same pairs
    assert.deepEqual(pairsOf(exported, "trl").map(gist), (input.records as PairRecord[]).map(gist));
  });

  test("samples and rated records export only in alignc's format", async () => {
    const src = graphNode("data.file", { path: "alignc-rated.jsonl", ...RATED });
    const srcCtx = context(src, FIX);
    await runExecutor(dataFile, srcCtx);
    const bad = context(graphNode("stage.export", { path: "r.jsonl", format: "sharegpt" }, "e"), FIX, [stored(src, srcCtx.out)]);
    await assert.rejects(runExecutor(stageExport, bad), /sharegpt files hold prompts or pairs, not rated records; export them with format: alignc/);
    const ok = context(graphNode("stage.export", { path: "r.jsonl", format: "alignc" }, "e"), FIX, [stored(src, srcCtx.out)]);
    await runExecutor(stageExport, ok);
    const back = imported({ file: path.join(ok.out, EXPORT_DIR, "r.jsonl"), ...RATED });
    assert.deepEqual((back.records[0] as RatedRecord).scores, (readDataset(srcCtx.out).records[0] as RatedRecord).scores);
  });
});

describe("LLaMA-Factory's dataset_info.json", () => {
  test("a sharegpt export registers its file in its folder's dataset_info.json, keeping the entries there; a registry alignc cannot extend stops the export", async () => {
    const src = graphNode("data.file", { path: "alignc-pairs.jsonl", kind: "pairs", format: "alignc" }, "prefs");
    const srcCtx = context(src, FIX);
    await runExecutor(dataFile, srcCtx);
    const exp = graphNode("stage.export", { path: "lf/pairs.json", format: "sharegpt" }, "exported");
    const ctx = context(exp, FIX, [stored(src, srcCtx.out)]);
    await runExecutor(stageExport, ctx);
    const run = fresh("lf-run");
    mkdirSync(path.join(run, "lf"));
    writeFileSync(path.join(run, "lf", "dataset_info.json"), JSON.stringify({ mine: { file_name: "mine.json" } }));
    publishExport(ctx.out, run, "lf/pairs.json");
    const registry = JSON.parse(readFileSync(path.join(run, "lf", "dataset_info.json"), "utf8"));
    assert.deepEqual(registry, {
      mine: { file_name: "mine.json" },
      pairs: {
        file_name: "pairs.json",
        formatting: "sharegpt",
        ranking: true,
        columns: { messages: "conversations", chosen: "chosen", rejected: "rejected", images: "images" },
        tags: { role_tag: "from", content_tag: "value", user_tag: "human", assistant_tag: "gpt" },
      },
    });
    writeFileSync(path.join(run, "lf", "dataset_info.json"), "[1, 2]");
    rmSync(path.join(run, "lf", "pairs.json"));
    assert.throws(() => publishExport(ctx.out, run, "lf/pairs.json"), /dataset_info\.json is not a JSON object of LLaMA-Factory datasets/);
    assert.equal(existsSync(path.join(run, "lf", "pairs.json")), false, "nothing copied");
    assert.equal(readFileSync(path.join(run, "lf", "dataset_info.json"), "utf8"), "[1, 2]", "the user's file untouched");
    // Other formats register nothing.
    assert.equal(datasetInfoEntry("trl", "pairs", "p.jsonl"), undefined);
    assert.deepEqual(datasetInfoEntry("sharegpt", "prompts", "sft.jsonl")?.entry.columns, { messages: "conversations", images: "images" });
  });
});

describe("LLaVA JSON and RLAIF-V rows", () => {
  test("a LLaVA conversation becomes one item: its turns up to the last human turn, the gpt answer after it", () => {
    const d = fresh("llava");
    png(path.join(d, "a.png"));
    const file = write(
      path.join(d, "llava.json"),
      JSON.stringify([
        {
          id: "000000033471",
          image: "a.png",
          conversations: [
            { from: "human", value: "<image>\nWhat are the colors of the bus?" },
            { from: "gpt", value: "White and red." },
            { from: "human", value: "What is on its back?" },
            { from: "gpt", value: "An advertisement." },
          ],
        },
        {
          id: "t1",
          conversations: [
            { from: "human", value: "Name a colour." },
            { from: "gpt", value: "Green." },
          ],
        },
        { id: "one", image: "a.png", conversations: [{ from: "human", value: "<image>\nWhat is this?" }] },
      ]),
    );
    const [multi, text, single] = promptsOf(file, "llava");
    assert.equal(multi?.prompt, "What is on its back?");
    assert.equal(multi?.answer, "An advertisement.");
    assert.deepEqual(multi?.messages, [
      { role: "user", content: "What are the colors of the bus?" },
      { role: "assistant", content: "White and red." },
      { role: "user", content: "What is on its back?" },
    ]);
    assert.ok(multi?.image?.endsWith(".png"));
    assert.deepEqual([text?.image, text?.messages, text?.answer], [null, undefined, "Green."]);
    assert.deepEqual([single?.prompt, single?.messages, single?.answer], ["What is this?", undefined, ""]);
    // Written back, the image's placeholder opens the first human turn and the conversation is whole.
    const row = llava.writePrompt(multi as WorldItem) as { conversations: { from: string; value: string }[] };
    assert.deepEqual(
      row.conversations.map((t) => t.from),
      ["human", "gpt", "human", "gpt"],
    );
    assert.equal(row.conversations[0]?.value, "<image>\nWhat are the colors of the bus?");
  });

  test("LLaVA and RLAIF-V rows that do not fit say why, naming the row", () => {
    const d = fresh("llava-bad");
    png(path.join(d, "a.png"));
    const lv = write(
      path.join(d, "bad.jsonl"),
      jsonl(
        { conversations: [{ from: "gpt", value: "Hi." }] },
        { image: "a.png", conversations: [{ from: "human", value: "<image> and <image>?" }] },
        {
          conversations: [
            { from: "human", value: "Q?" },
            { from: "human", value: "Q2?" },
            { from: "system", value: "late" },
          ],
        },
        { conversations: [{ from: "human", value: "<image>\nQ?" }] },
      ),
    );
    const problems = problemsOf({ file: lv, kind: "prompts", format: "llava" });
    assert.match(problems[0] ?? "", /bad\.jsonl:1: .*no user turn/);
    assert.match(problems[1] ?? "", /bad\.jsonl:2: .*2 image placeholders/);
    assert.match(problems[2] ?? "", /bad\.jsonl:3: .*'conversations\[2\]' is a system turn/);
    assert.match(problems[3] ?? "", /bad\.jsonl:4: .*names no image/);
    const pairs = write(
      path.join(d, "p.jsonl"),
      jsonl({
        image: "a.png",
        conversations: [
          { from: "human", value: "Q?" },
          { from: "gpt", value: "A" },
        ],
        chosen: "x",
        rejected: "y",
      }),
    );
    assert.match(problemsOf({ file: pairs, kind: "pairs", format: "llava" })[0] ?? "", /must end with the user's turn \(the answers are given apart\)/);
    const rl = write(
      path.join(d, "r.jsonl"),
      jsonl({ question: "Q?", chosen: "a" }, { image_path: "a.png", question: "What?", chosen: "a", rejected: "b", idx: 3 }),
    );
    const rlProblems = problemsOf({ file: rl, kind: "pairs", format: "rlaif_v" });
    assert.deepEqual(rlProblems.length, 1);
    assert.match(rlProblems[0] ?? "", /r\.jsonl:1: .*'rejected' is missing/);
    const [p] = importFile({ file: rl, kind: "pairs", format: "rlaif_v" }).dataset.records as PairRecord[];
    assert.deepEqual([p?.id, p?.item.prompt, p?.chosen, p?.item.image?.endsWith("a.png")], ["3", "What?", "a", true]);
  });

  test("export to rlaif_v refuses a conversation of several messages instead of dropping its turns", () => {
    const item = {
      ...promptsOf(path.join(FIX, "trl-prompts.jsonl"), "trl")[1]!,
      messages: [
        { role: "user" as const, content: "Hi" },
        { role: "assistant" as const, content: "Hello" },
        { role: "user" as const, content: "Name a colour." },
      ],
    };
    assert.throws(() => rlaifV.writePrompt(item), /conversation of 3 messages.*format: trl or llava/);
    // The conversational formats write it whole, and read it back whole (a system prompt too).
    const system = { ...item, messages: [{ role: "system" as const, content: "Be brief." }, ...item.messages] };
    for (const format of ["trl", "sharegpt", "ms_swift", "llava"] as const) {
      const out = path.join(fresh(`chat-${format}`), "c.jsonl");
      exportFile({ kind: "prompts", records: [system] }, format, out);
      assert.deepEqual(promptsOf(out, format)[0]?.messages, system.messages, format);
    }
  });
});
