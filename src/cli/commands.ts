// The registry of CLI commands; each lives in its own module under commands/.
import type { Command } from "./command.ts";
import { checkCommand } from "./commands/check.ts";
import { compareCommand } from "./commands/compare.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { expandCommand } from "./commands/expand.ts";
import { explainCommand } from "./commands/explain.ts";
import { fmtCommand } from "./commands/fmt.ts";
import { graphCommand } from "./commands/graph.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { planCommand } from "./commands/plan.ts";
import { reportCommand } from "./commands/report.ts";
import { runCommand } from "./commands/run.ts";
import { sweepCommand } from "./commands/sweep.ts";
import { worldCommand } from "./commands/world.ts";

export type { Command } from "./command.ts";

export const commands: Command[] = [
  runCommand,
  sweepCommand,
  compareCommand,
  reportCommand,
  checkCommand,
  fmtCommand,
  planCommand,
  inspectCommand,
  graphCommand,
  expandCommand,
  explainCommand,
  doctorCommand,
  worldCommand,
];
