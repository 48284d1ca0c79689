// The dataset-shaping stages: mix, concat, filter, take, shuffle, split (src/runtime/data/prefdata/reshape.ts does the
// work). Each reads its input datasets, writes one dataset of the same kind (split: one per part under
// parts/<name>/, which the runner hands to users of `name.part`), and reports counts.
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type Dataset, type DatasetRecord, readDataset, writeDataset } from "../../data/prefdata/records.ts";
import * as reshape from "../../data/prefdata/reshape.ts";
import { defineExecutor, NodeError, noSettings, type StoredInput } from "../node-executor.ts";

/** Where a split stores the part `port` inside its entry. */
export const partDir = (entry: string, port: string): string => path.join(entry, "parts", port);

/** The same kind (and rating) as `like`, holding `records`. */
function sameAs(like: Dataset, records: readonly DatasetRecord[]): Dataset {
  return { ...like, records } as Dataset;
}

function variadic(inputs: readonly StoredInput[]): Dataset[] {
  const datasets = inputs.filter((i) => i.name.startsWith("datasets[")).map((i) => readDataset(i.dir));
  const kinds = new Set(datasets.map((d) => d.kind));
  if (kinds.size > 1) throw new NodeError(`the inputs hold different kinds of records (${[...kinds].join(", ")}); combine datasets of one kind`);
  if (datasets.length === 0) throw new NodeError("no input datasets");
  const ratings = new Set(datasets.map((d) => (d.kind === "rated" ? JSON.stringify(d.rating) : "")));
  if (ratings.size > 1) throw new NodeError(`the inputs were rated by different raters (${[...ratings].join("; ")}); combine datasets rated by one rater`);
  return datasets;
}

export const stageConcat = defineExecutor({
  ...nodeKind("stage.concat"),
  settings: noSettings,
  async run(ctx) {
    const inputs = variadic(ctx.inputs);
    const records = reshape.concat(inputs.map((d) => d.records as DatasetRecord[]));
    writeDataset(ctx.out, sameAs(inputs[0] as Dataset, records));
    return { records: records.length, from: inputs.map((d) => d.records.length) };
  },
});

export const stageMix = defineExecutor({
  ...nodeKind("stage.mix"),
  settings: (p) => ({ weights: p.weights, count: p.count, seed: p.seed }),
  async run(ctx, options) {
    const inputs = variadic(ctx.inputs);
    let mixed: ReturnType<typeof reshape.mix<DatasetRecord>>;
    try {
      mixed = reshape.mix(
        inputs.map((d) => d.records as DatasetRecord[]),
        options,
      );
    } catch (e) {
      throw new NodeError((e as Error).message);
    }
    writeDataset(ctx.out, sameAs(inputs[0] as Dataset, mixed.records));
    if (mixed.repeated.some((r) => r > 0))
      ctx.log.line(`${ctx.node.id}: inputs repeated to fill their share: ${mixed.repeated.map((r, i) => `input ${i + 1} +${r}`).join(", ")}`);
    return { records: mixed.records.length, drawn: mixed.drawn, repeated: mixed.repeated };
  },
});

export const stageFilter = defineExecutor({
  ...nodeKind("stage.filter"),
  settings: (p) => ({ where: p.where }),
  async run(ctx, { where }) {
    const data = readDataset(ctx.input("data").dir);
    let kept: DatasetRecord[];
    try {
      kept = reshape.filter(data.kind, data.records as DatasetRecord[], where.tree);
    } catch (e) {
      throw new NodeError(`where: ${where.text}: ${(e as Error).message}`);
    }
    writeDataset(ctx.out, sameAs(data, kept));
    if (kept.length === 0) ctx.log.line(`${ctx.node.id}: no record satisfies ${where.text}; the dataset is empty`);
    return { records: kept.length, dropped: data.records.length - kept.length };
  },
});

export const stageTake = defineExecutor({
  ...nodeKind("stage.take"),
  settings: (p) => ({ count: p.count, fraction: p.fraction, shuffle: p.shuffle, seed: p.seed }),
  async run(ctx, options) {
    const data = readDataset(ctx.input("data").dir);
    const { count } = options;
    if (count !== undefined && count > data.records.length)
      throw new NodeError(`count ${count} is more than the ${data.records.length} records of ${ctx.input("data").node.id}; lower count or use fraction`);
    const taken = reshape.take(data.records as DatasetRecord[], options);
    writeDataset(ctx.out, sameAs(data, taken));
    return { records: taken.length, of: data.records.length };
  },
});

export const stageShuffle = defineExecutor({
  ...nodeKind("stage.shuffle"),
  settings: (p) => ({ seed: p.seed }),
  async run(ctx, { seed }) {
    const data = readDataset(ctx.input("data").dir);
    writeDataset(ctx.out, sameAs(data, reshape.shuffle(data.records as DatasetRecord[], seed)));
    return { records: data.records.length };
  },
});

export const stageSplit = defineExecutor({
  ...nodeKind("stage.split"),
  settings: (p) => ({ parts: p.parts, seed: p.seed }),
  async run(ctx, { parts: shares, seed }) {
    const data = readDataset(ctx.input("data").dir);
    const parts = reshape.split(data.records as DatasetRecord[], shares, seed);
    const counts: Record<string, number> = {};
    for (const [name, records] of Object.entries(parts)) {
      writeDataset(partDir(ctx.out, name), sameAs(data, records));
      counts[name] = records.length;
    }
    return { records: data.records.length, parts: counts };
  },
});
