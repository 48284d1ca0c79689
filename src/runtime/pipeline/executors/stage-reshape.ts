// The dataset-shaping stages: mix, concat, filter, take, shuffle, split (src/runtime/data/prefdata/reshape.ts does the
// work). Each reads its input datasets, writes one dataset of the same kind (split: one per part under
// parts/<name>/, which the runner hands to users of `name.part`), and reports counts.
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { ExprTree } from "../../data/prefdata/fields.ts";
import { type Dataset, type DatasetRecord, readDataset, writeDataset } from "../../data/prefdata/records.ts";
import * as reshape from "../../data/prefdata/reshape.ts";
import { NodeError, type NodeExecutor, type StoredInput } from "../node-executor.ts";

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

const seedOf = (p: Record<string, unknown>) => Number(p.seed ?? 0);

export const stageConcat: NodeExecutor = {
  ...nodeKind("stage.concat"),
  async run(ctx) {
    const inputs = variadic(ctx.inputs);
    const records = reshape.concat(inputs.map((d) => d.records as DatasetRecord[]));
    writeDataset(ctx.out, sameAs(inputs[0] as Dataset, records));
    return { records: records.length, from: inputs.map((d) => d.records.length) };
  },
};

export const stageMix: NodeExecutor = {
  ...nodeKind("stage.mix"),
  async run(ctx) {
    const inputs = variadic(ctx.inputs);
    const p = ctx.node.params;
    const weights = Array.isArray(p.weights) ? (p.weights as number[]) : undefined;
    let mixed: ReturnType<typeof reshape.mix<DatasetRecord>>;
    try {
      mixed = reshape.mix(
        inputs.map((d) => d.records as DatasetRecord[]),
        { weights, count: typeof p.count === "number" ? p.count : undefined, seed: seedOf(p) },
      );
    } catch (e) {
      throw new NodeError((e as Error).message);
    }
    writeDataset(ctx.out, sameAs(inputs[0] as Dataset, mixed.records));
    if (mixed.repeated.some((r) => r > 0))
      ctx.log.line(`${ctx.node.id}: inputs repeated to fill their share: ${mixed.repeated.map((r, i) => `input ${i + 1} +${r}`).join(", ")}`);
    return { records: mixed.records.length, drawn: mixed.drawn, repeated: mixed.repeated };
  },
};

export const stageFilter: NodeExecutor = {
  ...nodeKind("stage.filter"),
  async run(ctx) {
    const data = readDataset(ctx.input("data").dir);
    const where = ctx.node.params.where as { text: string; tree: ExprTree };
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
};

export const stageTake: NodeExecutor = {
  ...nodeKind("stage.take"),
  async run(ctx) {
    const data = readDataset(ctx.input("data").dir);
    const p = ctx.node.params;
    const count = typeof p.count === "number" ? p.count : undefined;
    if (count !== undefined && count > data.records.length)
      throw new NodeError(`count ${count} is more than the ${data.records.length} records of ${ctx.input("data").node.id}; lower count or use fraction`);
    const taken = reshape.take(data.records as DatasetRecord[], {
      count,
      fraction: typeof p.fraction === "number" ? p.fraction : undefined,
      shuffle: p.shuffle !== false,
      seed: seedOf(p),
    });
    writeDataset(ctx.out, sameAs(data, taken));
    return { records: taken.length, of: data.records.length };
  },
};

export const stageShuffle: NodeExecutor = {
  ...nodeKind("stage.shuffle"),
  async run(ctx) {
    const data = readDataset(ctx.input("data").dir);
    writeDataset(ctx.out, sameAs(data, reshape.shuffle(data.records as DatasetRecord[], seedOf(ctx.node.params))));
    return { records: data.records.length };
  },
};

export const stageSplit: NodeExecutor = {
  ...nodeKind("stage.split"),
  async run(ctx) {
    const data = readDataset(ctx.input("data").dir);
    const parts = reshape.split(data.records as DatasetRecord[], ctx.node.params.parts as Record<string, number>, seedOf(ctx.node.params));
    const counts: Record<string, number> = {};
    for (const [name, records] of Object.entries(parts)) {
      writeDataset(partDir(ctx.out, name), sameAs(data, records));
      counts[name] = records.length;
    }
    return { records: data.records.length, parts: counts };
  },
};
