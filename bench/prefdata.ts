// `npm run bench -- prefdata`: preference-data throughput of a nano TinyVLM on CPU, stage by stage, through the
// code paths the run stages use:
//   sample  n responses per prompt: sampleResponses with a Generator, rounds of 16 tokens (stage.sample)
//   rate    the grounded rater's rate() over one request per samples record (stage.rate, requestOf)
//   pair    pairRated with Li et al.'s settings (stage.pair)
//   bdhs    runBdhs with a Generator and a similarity (stage.bdhs)
// on a world of N prompts written with writeWorld into a temporary directory, images at the model's size.
// One-time costs (program build + ONNX Runtime session creation, a warm-up pass) are reported apart from the
// steady-state figures. Prints a table, writes bench/results/prefdata.json.
//
// The model: a trained checkpoint when one of CHECKPOINTS (bench/support.ts) exists (a model that writes
// sentence-like text, so the rater, the pairing and BDHS see realistic answers), else a randomly initialised nano
// TinyVLM with a tokenizer trained on the world's text (what model.init makes), so the benchmark runs on a fresh clone.
//
// Options: --prompts N (256)  --n K (4)  --runs R (3, for rate and pair)  --model DIR | --random-init
//          --no-cosine (skip BDHS with cosine similarity)  --cosine-epsilon E (0.97)  --no-bdhs
//          --provider cpu|cuda (cpu)  --seed S (0)  --out FILE
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExprTree } from "../src/compiler/values/types.ts";
import { type BdhsItem, type BdhsOptions, type BdhsStats, runBdhs } from "../src/runtime/data/prefdata/bdhs.ts";
import { tinyVlmCompleter } from "../src/runtime/data/prefdata/bdhs-completers.ts";
import { type PairOptions, type PairStats, pairRated } from "../src/runtime/data/prefdata/pairing.ts";
import { type Dataset, type RatedRecord, readDataset, type SampleRecord, writeDataset } from "../src/runtime/data/prefdata/records.ts";
import { ROUND_TOKENS, sampleResponses } from "../src/runtime/data/prefdata/sample.ts";
import { CosineSimilarity, lexicalSimilarity, type Similarity } from "../src/runtime/data/prefdata/similarity.ts";
import type { Provider } from "../src/runtime/engine/providers.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { examplesOf } from "../src/runtime/models/tinyvlm/examples.ts";
import { Generator, type GeneratorStats } from "../src/runtime/models/tinyvlm/generate-rows.ts";
import { requestOf } from "../src/runtime/pipeline/executors/stage-rate.ts";
import { createGroundedRater } from "../src/runtime/raters/grounded.ts";
import type { RaterReply, RaterRequest } from "../src/runtime/raters/types.ts";
import { fmt as f, GROUNDED, intOption, loadAverageText, median, printTable, repoRoot, round, setUp, timed, vlmReport, writeResults } from "./support.ts";

const SAMPLE = { temperature: 1, maxTokens: 48, batch: 64 };
const BDHS = { rho: 0.99, epsilon: 0.5, tries: 5, maxTokens: 32, yesNoFlip: 0.5, cut: "words", noise: "latent", batch: 64, roundTokens: 16 } as const;

function parse(args: string[]) {
  const o = {
    prompts: 256,
    n: 4,
    runs: 3,
    model: null as string | null,
    randomInit: false,
    cosine: true,
    cosineEpsilon: 0.97,
    bdhs: true,
    provider: "cpu" as Provider,
    seed: 0,
    out: path.join(repoRoot, "bench/results/prefdata.json"),
  };
  const int = (flag: string, v: string | undefined, min: number) => intOption("prefdata", flag, v, min);
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    if (flag === "--random-init") o.randomInit = true;
    else if (flag === "--no-cosine") o.cosine = false;
    else if (flag === "--no-bdhs") o.bdhs = false;
    else {
      i++;
      if (flag === "--prompts") o.prompts = int(flag, value, 1);
      else if (flag === "--n") o.n = int(flag, value, 1);
      else if (flag === "--runs") o.runs = int(flag, value, 1);
      else if (flag === "--seed") o.seed = int(flag, value, 0);
      else if (flag === "--model" && value) o.model = path.resolve(value);
      else if (flag === "--cosine-epsilon" && Number.isFinite(Number(value))) o.cosineEpsilon = Number(value);
      else if (flag === "--provider" && (value === "cpu" || value === "cuda")) o.provider = value;
      else if (flag === "--out" && value) o.out = path.resolve(value);
      else throw new Error(`prefdata: unknown or incomplete option ${flag}`);
    }
  }
  return o;
}

/** The score expression `helpfulness + correctness + coherence` as the compiler lowers it. */
function scoreExpr(): PairOptions["score"] {
  const name = (n: string): ExprTree => ({ op: "name", name: n });
  return {
    text: "helpfulness + correctness + coherence",
    tree: { op: "+", left: { op: "+", left: name("helpfulness"), right: name("correctness") }, right: name("coherence") },
  };
}

interface BdhsFigures {
  similarity: string;
  epsilon: number;
  warmup: { seconds: number; programs: number; generation_seconds: number };
  seconds: number;
  programs_compiled: number;
  generator_runs: number;
  stats: BdhsStats;
  items_per_second: number;
  completions_per_second: number;
  completions_per_second_generation_only: number;
  tokens_per_second: number;
}

async function benchBdhs(generator: Generator, similarity: Similarity, entries: BdhsItem[], o: BdhsOptions): Promise<BdhsFigures> {
  const before = { ...generator.stats };
  const warm = await timed(() => runBdhs(tinyVlmCompleter(generator), similarity, entries, o));
  const mid = { ...generator.stats };
  const run = await timed(() => runBdhs(tinyVlmCompleter(generator), similarity, entries, o));
  const s = run.value.stats;
  return {
    similarity: similarity.name,
    epsilon: o.epsilon,
    warmup: { seconds: round(warm.s), programs: mid.programs - before.programs, generation_seconds: round(warm.value.stats.generation_seconds) },
    seconds: round(run.s),
    programs_compiled: generator.stats.programs - mid.programs,
    generator_runs: generator.stats.runs - mid.runs,
    stats: s,
    items_per_second: round(s.items / run.s, 2),
    completions_per_second: round(s.completions / run.s, 1),
    completions_per_second_generation_only: round(s.completions_per_second, 1),
    tokens_per_second: round(s.completion_tokens / run.s, 1),
  };
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const load0 = os.loadavg();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "alignc-bench-prefdata-"));
  try {
    // ── setup ──
    const setup = await setUp("prefdata", o, tmp, (it) => it.answer.trim() !== "");
    const { model, description, items } = setup;
    const c = model.config;
    const examples = await examplesOf("", items, c.imageSize);
    const runtime = new Runtime({ provider: o.provider });

    // ── sample: stage.sample's code (sampleResponses), one Generator warmed up on a subset first ──
    const sampler = { model: description, temperature: SAMPLE.temperature, top_p: 1, top_k: 0, max_tokens: SAMPLE.maxTokens, seed: o.seed };
    const sampleGenerator = new Generator(runtime, model);
    const warmCount = Math.min(items.length, Math.max(1, Math.ceil(SAMPLE.batch / o.n)));
    let warm: Awaited<ReturnType<typeof timed<unknown>>>;
    let sampled: Awaited<ReturnType<typeof timed<Awaited<ReturnType<typeof sampleResponses>>>>>;
    let warmPrograms = 0;
    let generation: GeneratorStats;
    try {
      warm = await timed(() => sampleResponses(sampleGenerator, items.slice(0, warmCount), examples.slice(0, warmCount), o.n, sampler));
      warmPrograms = sampleGenerator.stats.programs;
      const before = { ...sampleGenerator.stats };
      sampled = await timed(() => sampleResponses(sampleGenerator, items, examples, o.n, sampler));
      generation = {
        rows: sampleGenerator.stats.rows - before.rows,
        tokens: sampleGenerator.stats.tokens - before.tokens,
        runs: sampleGenerator.stats.runs - before.runs,
        programs: sampleGenerator.stats.programs - before.programs,
        seconds: sampleGenerator.stats.seconds - before.seconds,
      };
    } finally {
      await sampleGenerator.close();
    }
    const samples: SampleRecord[] = sampled.value.records;
    const tokens = sampled.value.stats.tokens;
    const responses = sampled.value.stats.responses;
    const empty = sampled.value.stats.empty_responses;

    // ── rate: the grounded rater on one request per record ──
    const info = GROUNDED;
    const rater = createGroundedRater(info);
    const requests: RaterRequest[] = samples.map((r) => requestOf(r, info.aspects, info.scale));
    const rateOnce = async (journal?: string) => {
      const replies = new Map<string, RaterReply>();
      const failures = await rater.rate(requests, {
        onReply(itemId, reply) {
          if (journal) appendFileSync(journal, `${JSON.stringify({ itemId, reply })}\n`); // what stage.rate does per reply
          replies.set(itemId, reply);
        },
      });
      if (failures.length > 0) throw new Error(`grounded rater failed on ${failures.length} items, e.g. ${failures[0]?.itemId}: ${failures[0]?.message}`);
      return replies;
    };
    const rateWarm = await timed(() => rateOnce());
    const rateMs: number[] = [];
    const journalMs: number[] = [];
    let replies = rateWarm.value;
    for (let r = 0; r < o.runs; r++) {
      const t = await timed(() => rateOnce());
      rateMs.push(t.s * 1000);
      replies = t.value;
      const journal = path.join(tmp, `replies-${r}.jsonl`);
      journalMs.push((await timed(() => rateOnce(journal))).s * 1000);
    }
    const rated: RatedRecord[] = samples.map((r) => {
      const reply = replies.get(r.id) as RaterReply;
      return { ...r, scores: reply.scores, rationale: reply.rationale ?? null };
    });

    // ── pair: Li et al.'s rule ──
    const pairOptions: PairOptions = {
      score: scoreExpr(),
      margin: 2,
      chosen: "best",
      rejected: "random_below_margin",
      ties: "first",
      per_prompt: 1,
      balance_length: false,
      seed: 7,
    };
    const pairMs: number[] = [];
    let paired: { pairs: ReturnType<typeof pairRated>["pairs"]; stats: PairStats } = pairRated(rated, info, pairOptions); // warm-up
    for (let r = 0; r < o.runs; r++) {
      const t = await timed(() => pairRated(rated, info, pairOptions));
      pairMs.push(t.s * 1000);
      paired = t.value;
    }

    // ── dataset I/O the three stages add around the computation (write samples, read+write rated, read+write pairs) ──
    const io = await timed(() => {
      const dirs = ["samples", "rated", "pairs"].map((d) => path.join(tmp, "io", d));
      const datasets: Dataset[] = [
        { kind: "samples", records: samples },
        { kind: "rated", records: rated, rating: info },
        { kind: "pairs", records: paired.pairs },
      ];
      datasets.forEach((d, i) => {
        if (i > 0) readDataset(dirs[i - 1] as string);
        writeDataset(dirs[i] as string, d);
      });
    });

    const sampleS = sampled.s;
    const rateS = median(rateMs) / 1000;
    const pairS = median(pairMs) / 1000;
    const pipelineS = sampleS + rateS + pairS;
    const pipelineWithIoS = sampleS + median(journalMs) / 1000 + pairS + io.s;

    // ── BDHS ──
    const bdhsFigures: BdhsFigures[] = [];
    let bdhsItems = 0;
    if (o.bdhs) {
      const entries: BdhsItem[] = items.map((item, i) => ({ item, rgb: examples[i]?.rgb ?? null }));
      bdhsItems = entries.length;
      const bdhsOptions: BdhsOptions = {
        rho: BDHS.rho,
        epsilon: BDHS.epsilon,
        tries: BDHS.tries,
        yesNoFlip: BDHS.yesNoFlip,
        cut: BDHS.cut,
        noise: BDHS.noise,
        temperature: 1,
        topP: 1,
        maxTokens: BDHS.maxTokens,
        seed: o.seed,
        batch: BDHS.batch,
        roundTokens: BDHS.roundTokens,
      };
      const generator = new Generator(runtime, model);
      try {
        bdhsFigures.push(await benchBdhs(generator, lexicalSimilarity("rouge_l"), entries, bdhsOptions));
        if (o.cosine)
          bdhsFigures.push(await benchBdhs(generator, new CosineSimilarity(runtime, model, "mean"), entries, { ...bdhsOptions, epsilon: o.cosineEpsilon }));
      } finally {
        await generator.close();
      }
    }
    const load1 = os.loadavg();

    // ── report ──
    const table: string[][] = [
      ...setup.stages,
      ["sample: warm-up", `${warmCount * o.n} responses (${warmPrograms} generation programs compiled)`, `${f(warm.s, 2)} s`, ""],
      [
        "sample",
        `${responses} responses (${o.n}/prompt), ${f(tokens)} tokens`,
        `${f(sampleS, 2)} s`,
        `${f(responses / sampleS, 1)} samples/s, ${f(tokens / sampleS)} tokens/s`,
      ],
      [
        "  generation",
        `${generation.runs} runs in rounds of ${ROUND_TOKENS} tokens, ${generation.programs} more programs`,
        `${f(generation.seconds, 2)} s in ORT`,
        `${f(generation.tokens / Math.max(generation.seconds, 1e-9))} tokens/s computed (incl. tokens past a stop)`,
      ],
      ["rate (grounded)", `${responses} responses × ${info.aspects.length} aspects`, `${f(rateS * 1000, 1)} ms`, `${f(responses / rateS)} responses/s`],
      [
        "rate + journal",
        "as stage.rate: one appendFileSync per item",
        `${f(median(journalMs), 1)} ms`,
        `${f(responses / (median(journalMs) / 1000))} responses/s`,
      ],
      [
        "pair (Li et al.)",
        `${items.length} prompts → ${paired.stats.pairs} pairs (${paired.stats.dropped_margin} dropped)`,
        `${f(pairS * 1000, 2)} ms`,
        `${f(paired.stats.pairs / pairS)} pairs/s`,
      ],
      ["dataset I/O", "write samples, read+write rated, read+write pairs", `${f(io.s * 1000, 1)} ms`, ""],
      [
        "pipeline sample+rate+pair",
        `${responses} samples → ${paired.stats.pairs} pairs`,
        `${f(pipelineS, 2)} s`,
        `${f(paired.stats.pairs / pipelineS, 2)} pairs/s, ${f(responses / pipelineS, 1)} samples/s`,
      ],
      ["  with journal + I/O", "", `${f(pipelineWithIoS, 2)} s`, `${f(paired.stats.pairs / pipelineWithIoS, 2)} pairs/s`],
    ];
    for (const b of bdhsFigures) {
      const s = b.stats;
      table.push(
        [`bdhs ${b.similarity}: warm-up`, `${bdhsItems} items, ${b.warmup.programs} programs compiled`, `${f(b.warmup.seconds, 2)} s`, ""],
        [
          `bdhs ${b.similarity}, ε ${b.epsilon}`,
          `${s.items} items, ${s.completions} completions, ${f(s.completion_tokens)} tokens`,
          `${f(b.seconds, 2)} s`,
          `${f(b.completions_per_second, 1)} completions/s (${f(b.completions_per_second_generation_only, 1)} in ORT), ${f(b.items_per_second, 2)} items/s`,
        ],
        [
          "  accepted share per try",
          s.accepted_share.map((x) => x.toFixed(2)).join(" / "),
          "",
          `${f(100 * (s.accepted_share_cumulative.at(-1) ?? 0), 1)}% within ${s.tries}, ${f(b.tokens_per_second)} tokens/s`,
        ],
      );
    }
    console.log(
      `prefdata: ${items.length} prompts, n = ${o.n}, temperature ${SAMPLE.temperature}, max_tokens ${SAMPLE.maxTokens}; provider ${o.provider}; ` +
        loadAverageText(load0, load1),
    );
    printTable(table, (col) => col === 2);

    const settings = {
      provider: o.provider,
      prompts: items.length,
      world: setup.world,
      sample: { n: o.n, temperature: SAMPLE.temperature, max_tokens: SAMPLE.maxTokens, batch: SAMPLE.batch, seed: o.seed },
      rate: { rater: "grounded", aspects: info.aspects, scale: info.scale, runs: o.runs },
      pair: { score: pairOptions.score.text, margin: 2, rejected: "random_below_margin", ties: "first", per_prompt: 1, seed: 7, runs: o.runs },
      bdhs: o.bdhs ? { ...BDHS, temperature: 1, cosine: o.cosine, cosine_epsilon: o.cosine ? o.cosineEpsilon : undefined } : null,
    };
    const figures = {
      setup: { model_load_seconds: round(setup.loadSeconds), world_seconds: round(setup.worldSeconds) },
      sample: {
        warmup: { responses: warmCount * o.n, seconds: round(warm.s), programs: warmPrograms },
        round_tokens: ROUND_TOKENS,
        responses,
        tokens,
        empty_responses: empty,
        unfinished_responses: sampled.value.stats.unfinished_responses,
        mean_tokens_per_response: round(tokens / responses, 2),
        generation: { runs: generation.runs, programs: generation.programs, ort_seconds: round(generation.seconds), tokens_computed: generation.tokens },
        seconds: round(sampleS),
        samples_per_second: round(responses / sampleS, 1),
        tokens_per_second: round(tokens / sampleS, 1),
      },
      rate: {
        responses,
        warmup_ms: round(rateWarm.s * 1000, 2),
        ms: round(rateS * 1000, 2),
        responses_per_second: round(responses / rateS, 1),
        with_journal_ms: round(median(journalMs), 2),
        with_journal_responses_per_second: round(responses / (median(journalMs) / 1000), 1),
        mean_scores: Object.fromEntries(
          info.aspects.map((a) => [a, round(rated.reduce((s, r) => s + r.scores.reduce((t, x) => t + (x[a] ?? 0), 0), 0) / responses)]),
        ),
      },
      pair: { ms: round(pairS * 1000, 3), pairs_per_second: round(paired.stats.pairs / pairS, 1), stats: paired.stats },
      dataset_io_ms: round(io.s * 1000, 1),
      pipeline: {
        seconds: round(pipelineS),
        pairs_per_second: round(paired.stats.pairs / pipelineS, 2),
        samples_per_second: round(responses / pipelineS, 1),
        with_journal_and_io: { seconds: round(pipelineWithIoS), pairs_per_second: round(paired.stats.pairs / pipelineWithIoS, 2) },
      },
      bdhs: bdhsFigures,
    };
    const examplesOut = samples.slice(0, 3).map((r) => ({ prompt: r.item.prompt, answer: r.item.answer, responses: r.responses.map((x) => x.text) }));
    writeResults(o.out, { ...vlmReport("prefdata", { start: load0, end: load1 }, description, c), settings, figures, examples: examplesOut });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
