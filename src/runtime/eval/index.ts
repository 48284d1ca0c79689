// Metrics over predictions and ground-truth items: POPE, CHAIR, exact match (docs/world.md, "Metrics").
export { normalizeAnswer, parseYesNo } from "../world/answers.ts";
export { type ChairRecord, type ChairScores, chairMetrics } from "./chair.ts";
export { evaluateWorld, type WorldReport } from "./evaluate.ts";
export { type ExactRecord, type ExactScores, exactMatch } from "./exact.ts";
export { type PopeRecord, type PopeReport, type PopeScores, popeMetrics, popeScores } from "./pope.ts";
