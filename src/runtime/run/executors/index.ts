// The runtime's node executors by kind. A graph with a kind missing here is refused before anything runs.
import { dataFile } from "./data-file.ts";
import { dataShapes } from "./data-shapes.ts";
import { evalMetrics } from "./eval-metrics.ts";
import { modelCheckpoint } from "./model-checkpoint.ts";
import { modelInit } from "./model-init.ts";
import { trainSftExecutor } from "./train-sft.ts";
import type { NodeExecutor } from "./types.ts";

export const EXECUTORS: ReadonlyMap<string, NodeExecutor> = new Map(
  [modelInit, modelCheckpoint, dataShapes, dataFile, trainSftExecutor, evalMetrics].map((e) => [e.kind, e]),
);

export { NodeError, type NodeExecutor } from "./types.ts";
