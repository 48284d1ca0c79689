// Tuning runs behind docs/results.md (not part of alignc): the phases of experiments/vit.align — a text-only
// base LLM, then VIT on the shapes world, then evaluation — with every setting a command-line key=value, e.g.
//   npx tsx scripts/tune-vit.ts device=cuda img=48 patch=8 batch=128 lr=1e-3 vitsteps=2500 weighting=example theads=6 seed=2
// Prints per-run training lines and one JSON line of metrics per model. Keys and defaults: see num(...) below.

import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { evaluateWorld } from "../src/runtime/eval/evaluate.ts";
import { answerAll } from "../src/runtime/models/tinyvlm/answer.ts";
import type { Example } from "../src/runtime/models/tinyvlm/feeds.ts";
import { type SftStepMetrics, trainSft } from "../src/runtime/models/tinyvlm/sft.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { ASCII_ALPHABET, worldCorpus } from "../src/runtime/world/corpus.ts";
import { generateItems } from "../src/runtime/world/generate.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { decodePng } from "../src/runtime/world/png.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { Rng } from "../src/util/random.ts";

const A = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=")));
const num = (k: string, d: number) => (A[k] ? Number(A[k]) : d);
const t0 = performance.now();
const el = () => ((performance.now() - t0) / 1000).toFixed(0) + "s";
const tok = Tokenizer.train(worldCorpus(), { vocabSize: 512, initialAlphabet: ASCII_ALPHABET });
const c0 = tinyVlmConfig("nano", tok.vocabSize);
const c = {
  ...c0,
  imageSize: num("img", 32),
  patch: num("patch", 8),
  text: { ...c0.text, heads: num("theads", c0.text.heads), layers: num("tlayers", c0.text.layers) },
  vision: { ...c0.vision, heads: num("vheads", c0.vision.heads) },
};
const world = (o: Record<string, unknown>) => {
  const items = [],
    ex: Example[] = [];
  for (const { item, png } of generateItems(worldOptions(o))) {
    items.push(item);
    ex.push({ id: item.id, prompt: item.prompt, answer: item.answer, rgb: png ? decodePng(png).rgb : null });
  }
  return { items, ex };
};
const textTrain = world({ image_size: c.imageSize, split: "train", count: num("text", 3000), seed: 1, tasks: ["text"] });
const vitTrain = world({
  image_size: c.imageSize,
  split: "train",
  count: num("vit", 6000),
  seed: 1,
  bias: 0.8,
  max_objects: num("maxobj", 4),
  tasks: (A.tasks ?? "describe,pope,attribute,count,text").split(","),
});
const test = world({ image_size: c.imageSize, split: "test", count: num("testn", 500), seed: 2, tasks: ["describe", "pope", "attribute", "count"] });
console.log("data", el());
const rt = new Runtime({ provider: (A.device ?? "cpu") as "cpu" | "cuda" });
let model = { config: c, tokenizer: tok, params: new Map(initTinyVlm(c, new Rng(1)).map((p) => [p.name, p.data])) };
const log = (tag: string) => (rows: SftStepMetrics[]) => {
  const r = rows.at(-1) as SftStepMetrics;
  console.log(tag, r.step, "loss", r.loss.toFixed(3), "acc", r.token_accuracy.toFixed(3), "tok/s", r.tokens_per_second.toFixed(0), el());
};
const opt = (lr: number) => adamw({ lr, weightDecay: 0, beta2: num("b2", 0.999) });
const evalIt = async (tag: string) => {
  const r = await answerAll(rt, model, test.ex, { maxTokens: 64, temperature: 0, seed: 0 });
  const rep = evaluateWorld(test.items, new Map([...r.answers].map(([k, v]) => [k, v.text])));
  console.log(tag, JSON.stringify({ pope: rep.pope, chair: rep.describe, text: rep.text, attr: rep.attribute?.accuracy, count: rep.count?.accuracy }), el());
  console.log([...r.answers].slice(0, 6).map(([k, v]) => k + ": " + v.text));
};
const base = num("basesteps", 300);
if (base > 0)
  model = (
    await trainSft(
      rt,
      model,
      textTrain.ex,
      {
        batch: 32,
        accumulation: 1,
        steps: base,
        stepsPerRun: 25,
        optimizer: opt(num("baselr", 3e-3)),
        schedule: { kind: "cosine", warmupSteps: 20, totalSteps: base },
        clipNorm: 1,
        seed: 1,
      },
      log("base"),
    )
  ).model;
await evalIt("base");
const vs = num("vitsteps", 1000);
model = (
  await trainSft(
    rt,
    model,
    vitTrain.ex,
    {
      batch: num("batch", 32),
      accumulation: 1,
      steps: vs,
      stepsPerRun: num("k", 25),
      optimizer: opt(num("lr", 2e-3)),
      schedule: { kind: "cosine", warmupSteps: 30, totalSteps: vs },
      clipNorm: 1,
      seed: num("seed", 1),
      lossAverage: (A.weighting ?? "token") as "token" | "example",
      lengthBuckets: num("buckets", 1),
    },
    log("vit"),
  )
).model;
await evalIt("vit");
