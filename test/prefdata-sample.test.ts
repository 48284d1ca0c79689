// The sample stage on nano (n responses per prompt, seeded, within max_tokens) and how dataset entries hold
// records: images linked into each entry, paths relative to it, read back absolute.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { readDataset, type SampleRecord, writeDataset } from "../src/runtime/data/prefdata/records.ts";
import { modelInit } from "../src/runtime/pipeline/executors/model-init.ts";
import { stageSample } from "../src/runtime/pipeline/executors/stage-sample.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import { testRuntime } from "./support/device.ts";
import { fakeContext, graphNode, runExecutor, storedInput } from "./support/exec-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-sample-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const runtime = testRuntime();

const world = path.join(dir, "world");
writeWorld(world, worldOptions({ split: "train", count: 6, seed: 4, tasks: ["describe", "pope", "text"] }));
const modelDir = path.join(dir, "model");
const ready = runExecutor(modelInit, fakeContext({ node: graphNode("model.init", { size: "nano", seed: 1 }), out: modelDir, entryDir: dir }));

async function sample(name: string, params: Record<string, unknown>): Promise<SampleRecord[]> {
  await ready;
  const out = path.join(dir, name);
  await runExecutor(
    stageSample,
    fakeContext({
      node: graphNode("stage.sample", params, "samples"),
      out,
      entryDir: dir,
      runtime,
      inputs: [storedInput("model", graphNode("model.init", {}, "base"), modelDir), storedInput("prompts", graphNode("data.shapes", {}, "pool"), world)],
    }),
  );
  const data = readDataset(out);
  assert.equal(data.kind, "samples");
  return data.records as SampleRecord[];
}

const settings = { n: 3, temperature: 1, top_p: 1, top_k: 0, max_tokens: 10, seed: 5 };

test("n responses per prompt, each within max_tokens, recorded with the sampler", async () => {
  const records = await sample("a", settings);
  assert.equal(records.length, 6);
  for (const r of records) {
    assert.equal(r.responses.length, 3);
    for (const resp of r.responses) {
      assert.ok(resp.tokens >= 1 && resp.tokens <= 10, `${resp.tokens} tokens`);
      assert.ok(resp.logprob !== null && resp.logprob < 0);
    }
    const { n: _n, ...sampler } = settings;
    assert.deepEqual(r.sampler, { model: "base", ...sampler });
  }
  // Independent draws: the responses of a prompt are not all one text.
  assert.ok(records.some((r) => new Set(r.responses.map((x) => x.text)).size > 1));
});

test("the same settings give the same responses; another seed gives others", async () => {
  const a = await sample("b1", settings);
  const b = await sample("b2", settings);
  assert.deepEqual(
    b.map((r) => r.responses),
    a.map((r) => r.responses),
  );
  assert.equal(readFileSync(path.join(dir, "b2", "records.jsonl"), "utf8"), readFileSync(path.join(dir, "b1", "records.jsonl"), "utf8"));
  const c = await sample("b3", { ...settings, seed: 6 });
  assert.notDeepEqual(
    c.map((r) => r.responses),
    a.map((r) => r.responses),
  );
});

test("greedy sampling gives n equal responses", async () => {
  const records = await sample("greedy", { ...settings, temperature: 0 });
  for (const r of records) assert.equal(new Set(r.responses.map((x) => x.text)).size, 1);
});

test("dataset entries link their images and store paths relative to the entry", async () => {
  const records = await sample("c", settings);
  const withImage = records.find((r) => r.item.image !== null) as SampleRecord;
  const stored = readFileSync(path.join(dir, "c", "records.jsonl"), "utf8");
  assert.match(stored, /"image":"images\/0\.png"/);
  // Copied on: a second entry made from the first links the same file again (one inode, no new bytes).
  const copy = path.join(dir, "copy");
  writeDataset(copy, { kind: "samples", records });
  const again = readDataset(copy).records as SampleRecord[];
  const image = again.find((r) => r.id === withImage.id)?.item.image as string;
  assert.ok(path.isAbsolute(image) && image.startsWith(copy));
  assert.equal(statSync(image).ino, statSync(withImage.item.image as string).ino);
  // Prompt datasets keep the world format: items.jsonl, read back as world items.
  const prompts = readDataset(world);
  assert.equal(prompts.kind, "prompts");
  assert.ok((prompts.records as WorldItem[]).every((it) => it.image === null || path.isAbsolute(it.image)));
});

test("a prompt that leaves no room to answer within the context is a coded failure (ALN7012)", async () => {
  const long = path.join(dir, "long-world");
  cpSync(world, long, { recursive: true });
  const items = readFileSync(path.join(long, "items.jsonl"), "utf8").trim().split("\n");
  const first = JSON.parse(items[0] as string) as WorldItem;
  items[0] = JSON.stringify({ ...first, prompt: "Which is larger, eleven or sixteen? ".repeat(200) });
  writeFileSync(path.join(long, "items.jsonl"), `${items.join("\n")}\n`);
  await ready;
  await assert.rejects(
    runExecutor(
      stageSample,
      fakeContext({
        node: graphNode("stage.sample", settings, "samples"),
        out: path.join(dir, "long"),
        entryDir: dir,
        runtime,
        inputs: [storedInput("model", graphNode("model.init", {}, "base"), modelDir), storedInput("prompts", graphNode("data.shapes", {}, "pool"), long)],
      }),
    ),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "ALN7012");
      assert.match(e.message, new RegExp(`item ${first.id}: its prompt of \\d+ tokens leaves no room to answer within the model's text context`));
      return true;
    },
  );
});
