// The runtime's node executors by kind. A graph with a kind missing here is refused before anything runs.

import type { NodeExecutor } from "../node-executor.ts";
import { dataFile } from "./data-file.ts";
import { dataShapes } from "./data-shapes.ts";
import { evalAnswers } from "./eval-answers.ts";
import { evalMetrics } from "./eval-metrics.ts";
import { modelCheckpoint } from "./model-checkpoint.ts";
import { modelHf } from "./model-hf.ts";
import { modelInit } from "./model-init.ts";
import { raterJudge } from "./rater-judge.ts";
import { raterCommand, raterGrounded, raterTypeScript } from "./rater-node.ts";
import { referenceLogprobs } from "./reference-logprobs.ts";
import { similarityCosine, similarityLexical } from "./similarity.ts";
import { stageBdhs } from "./stage-bdhs.ts";
import { stageBest } from "./stage-best.ts";
import { stageCorrupt } from "./stage-corrupt.ts";
import { stageExport } from "./stage-export.ts";
import { stageFlip } from "./stage-flip.ts";
import { stagePair } from "./stage-pair.ts";
import { stageRate } from "./stage-rate.ts";
import { stageConcat, stageFilter, stageMix, stageShuffle, stageSplit, stageTake } from "./stage-reshape.ts";
import { stageSample } from "./stage-sample.ts";
import { trainDpoExecutor } from "./train-dpo.ts";
import { trainMixedExecutor } from "./train-mixed.ts";
import { trainOnlineExecutor } from "./train-online.ts";
import { trainSftExecutor } from "./train-sft.ts";

export const EXECUTORS: ReadonlyMap<string, NodeExecutor> = new Map(
  [
    modelInit,
    modelCheckpoint,
    modelHf,
    dataShapes,
    dataFile,
    trainSftExecutor,
    referenceLogprobs,
    trainDpoExecutor,
    trainOnlineExecutor,
    trainMixedExecutor,
    evalAnswers,
    evalMetrics,
    raterGrounded,
    raterCommand,
    raterTypeScript,
    raterJudge,
    similarityLexical,
    similarityCosine,
    stageSample,
    stageRate,
    stagePair,
    stageBest,
    stageBdhs,
    stageCorrupt,
    stageFlip,
    stageMix,
    stageConcat,
    stageFilter,
    stageTake,
    stageShuffle,
    stageSplit,
    stageExport,
  ].map((e) => [e.kind, e]),
);

export { NodeError, type NodeExecutor } from "../node-executor.ts";
