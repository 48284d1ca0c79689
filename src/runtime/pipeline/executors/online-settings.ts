// An online or mixed phase's params (src/graph/params.ts: checked and defaulted) as what its rounds run with: the
// settings every training phase has, the objective, the annotator (a rater's input with its score and margin, or
// online BDHS with its similarity's input), the sampling and the rounds; and, once the annotator is built, the
// options of online-rounds.ts, with the step budget a schedule is laid out over.
import type { Params } from "../../../graph/params.ts";
import type { PreferenceObjective } from "../../../models/layers/preference.ts";
import type { BdhsOptions } from "../../data/prefdata/bdhs.ts";
import type { ScoreExpr } from "../../data/prefdata/score.ts";
import { NodeError } from "../node-executor.ts";
import { type OnlineAnnotator, type OnlineOptions, type OnlineSampling, onlineStepBudget, pairsPerRoundAtMost } from "./online-options.ts";
import { objectiveOf } from "./train-dpo.ts";
import { loopOf, scheduleOf, type TrainingSettings, trainingSettings } from "./training-settings.ts";

/** The params online and mixed phases share (their `reference` differs: mixed names a model "model", online an input). */
export type OnlineParams = Omit<Params<"train.online">, "reference">;

/** Who makes the online pairs, as the params say; train-online.ts builds it (annotatorOf) once there is a runtime. */
export type AnnotatorSettings =
  | { kind: "rater"; input: string; score: ScoreExpr | undefined; margin: number }
  | { kind: "bdhs"; input: string; options: Omit<BdhsOptions, "seed"> };

export interface OnlineSettings {
  training: TrainingSettings;
  objective: PreferenceObjective;
  annotator: AnnotatorSettings;
  rounds: number;
  promptsPerRound: number;
  samples: number;
  refresh: number;
  sampling: OnlineSampling;
}

export function onlineSettings(p: OnlineParams): OnlineSettings {
  return {
    training: trainingSettings(p),
    objective: objectiveOf(p.objective),
    annotator: annotatorSettings(p),
    rounds: p.rounds,
    promptsPerRound: p.prompts_per_round,
    samples: p.samples,
    refresh: p.refresh,
    sampling: { temperature: p.temperature, topP: p.top_p, topK: p.top_k, maxTokens: p.max_tokens },
  };
}

function annotatorSettings(p: OnlineParams): AnnotatorSettings {
  const b = p.bdhs;
  if (b) {
    const options = {
      rho: b.rho,
      epsilon: b.epsilon,
      tries: b.tries,
      yesNoFlip: b.yes_no_flip,
      cut: b.cut,
      noise: b.noise,
      temperature: b.temperature,
      maxTokens: b.max_tokens,
    };
    return { kind: "bdhs", input: b.similarity.input, options };
  }
  // Without bdhs the decoder has let the phase through only with an annotator.
  return { kind: "rater", input: p.annotator!.input, score: p.score, margin: p.margin };
}

/**
 * The options every online phase shares (everything but `reference` and `mixed`): a batch larger than the pairs a
 * round can make is an error before anything runs.
 */
export function onlineOptionsOf(
  id: string,
  s: OnlineSettings,
  annotator: OnlineAnnotator,
): Omit<OnlineOptions, "reference" | "mixed"> & { budget: { perRound: number; total: number } } {
  const { training } = s;
  const { rounds, promptsPerRound } = s;
  const { batch, accumulation, epochs } = training;
  const most = pairsPerRoundAtMost({ promptsPerRound });
  if (batch * accumulation > most)
    throw new NodeError(
      `batch ${batch}${accumulation > 1 ? ` × accumulation ${accumulation}` : ""} is larger than the ${most} pairs a round of ${id} can make ` +
        `(prompts_per_round ${promptsPerRound}, at most one pair per prompt); lower batch or raise prompts_per_round`,
    );
  const loop = loopOf(training, most, `a round of ${id}`);
  const stepsPerRound = training.steps;
  const budget = onlineStepBudget({ batch, accumulation, stepsPerRound, epochs, rounds, promptsPerRound });
  return {
    rounds,
    promptsPerRound,
    samples: s.samples,
    refresh: s.refresh,
    sampling: s.sampling,
    annotator,
    objective: s.objective,
    batch,
    accumulation,
    ...(stepsPerRound !== undefined ? { stepsPerRound } : {}),
    epochs,
    stepsPerRun: loop.stepsPerRun,
    optimizer: training.optimizer,
    schedule: scheduleOf(training.schedule, budget.total),
    clipNorm: loop.clipNorm,
    seed: loop.seed,
    ...(loop.mixedPrecision ? { mixedPrecision: loop.mixedPrecision } : {}),
    budget,
  };
}
