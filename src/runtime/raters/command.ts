// The `command` rater: an external program speaking the JSONL rater protocol (protocol.ts, docs/raters.md).
//
// Processes: a pool of up to `concurrency` long-lived processes, each with at most one request in flight. A program
// is started when a request needs one and no started one is free, answers many requests over its life, and gets EOF
// on stdin when the rating is over. One request per process keeps every failure attributable: a garbage line, a
// timeout or a crash fails exactly the request that process was working on, and never the others in flight.
//
// Failures of one attempt (each retried after backoffBaseMs · 2^k while retries are left):
//   - a line that is not a valid reply, or a reply to another id: the process is stopped (its stream can no longer
//     be trusted); the next request starts a fresh one;
//   - a timeout: the process is stopped (SIGTERM, SIGKILL after killGraceMs);
//   - the process exits while a request is in flight: that request fails with the exit code and stderr's tail; the
//     remaining requests go to a fresh process. After maxConsecutiveCrashes such exits with no reply in between, the
//     program is considered broken and the stage stops (what was answered is kept);
//   - scores that break the rater's contract (checkReply): the process is kept;
//   - {"error": …}: the program refused the request; retried only when the reply says "retry": true.
// A program that cannot be started at all (not found, not executable) stops the stage at once.
//
// Each process runs in its own process group (util/jsonl-process.ts, util/process-groups.ts): stopping it — on timeout, garbage, at the end of
// the stage, when alignc is interrupted or exits — ends everything it started too. Its stderr goes to the run log
// through one StderrStream per process, capped per request (log.ts); what the program says (error replies, stderr
// tails) reaches messages with control characters escaped (util/printable.ts).
import { JsonlProcess, type ProcessExit } from "../../util/jsonl-process.ts";
import { printableLine } from "../../util/printable.ts";
import type { StderrSink, StderrStream } from "../../util/stderr-sink.ts";
import type { RatingInfo } from "../data/prefdata/records.ts";
import { AttemptFailure, type Part, parseReplyLine, quote, type RaterMode, RaterUnavailable, runPlan, wireRequest } from "./protocol.ts";
import type { ItemFailure, RateHooks, RaterReply, RaterRequest, RaterRuntime } from "./types.ts";

export interface CommandRaterOptions {
  info: RatingInfo;
  /** Program and arguments, run directly (never through a shell). */
  argv: readonly string[];
  /** Working directory of the program: the .align file's directory. */
  cwd: string;
  mode?: RaterMode;
  /** Per-request timeout in seconds (the `timeout` setting). Default 60. */
  timeoutSeconds?: number;
  /** Retries after a failed attempt (the `retries` setting). Default 2. */
  retries?: number;
  /** Requests in flight at once, i.e. processes running at once (the `concurrency` setting). Default 4. */
  concurrency?: number;
  /** Extra environment variables, added to alignc's own (the `env` setting). */
  env?: Readonly<Record<string, string>>;
  /** Wait before retry k is backoffBaseMs · 2^k. Default 500. */
  backoffBaseMs?: number;
  /** How long a stopped program gets between SIGTERM and SIGKILL, and to exit after EOF at the end. Default 2000. */
  killGraceMs?: number;
  /** Exits in a row, with requests in flight and no reply in between, after which the program is given up on. Default 10. */
  maxConsecutiveCrashes?: number;
  /**
   * Receives the programs' stderr as it comes (for the run log). A sink with `open` (RunLog.stderrOf) gets one stream
   * per process, told where each request starts, so that it can cap what it logs per request.
   */
  onStderr?: StderrSink;
}

/** Characters of a process's stderr kept for error messages (its tail). */
const STDERR_TAIL = 2048;
const MAX_LINE = 16 * 1024 * 1024;
/** Characters of an error reply's text kept in the failure's message. */
const MAX_ERROR_TEXT = 1000;

export function createCommandRater(options: CommandRaterOptions): RaterRuntime {
  if (options.argv.length === 0) throw new Error("a command rater needs a program to run: argv is empty");
  return {
    info: options.info,
    async rate(requests: readonly RaterRequest[], hooks: RateHooks): Promise<ItemFailure[]> {
      const pool = new ProgramPool(options);
      try {
        return await runPlan(requests, hooks, {
          mode: options.mode ?? "listwise",
          concurrency: options.concurrency ?? 4,
          retries: options.retries ?? 2,
          backoffBaseMs: options.backoffBaseMs ?? 500,
          attempt: pool.attempt,
        });
      } finally {
        await pool.close();
      }
    },
  };
}

class ProgramPool {
  readonly timeoutMs: number;
  readonly killGraceMs: number;
  private readonly idle: Program[] = [];
  /** Every process started, until it has exited: close() waits for all of them. */
  private readonly running = new Set<Program>();
  private crashesInARow = 0;
  private unavailable: RaterUnavailable | undefined;

  constructor(readonly options: CommandRaterOptions) {
    this.timeoutMs = (options.timeoutSeconds ?? 60) * 1000;
    this.killGraceMs = options.killGraceMs ?? 2000;
  }

  /**
   * One attempt of one request, on a free process (a new one if none is free). The driver runs at most `concurrency`
   * attempts at once, so at most that many processes are working (a stopped one may take killGraceMs to be gone).
   */
  readonly attempt = async (part: Part): Promise<RaterReply> => {
    if (this.unavailable) throw this.unavailable;
    const program = this.idle.pop() ?? new Program(this);
    return program.ask(part);
  };

  started(program: Program): void {
    this.running.add(program);
  }

  /** A program finished a request cleanly and can take another. */
  free(program: Program): void {
    this.crashesInARow = 0;
    if (program.usable) this.idle.push(program);
  }

  /** A program is stopping or has stopped: no more requests go to it. */
  forget(program: Program): void {
    const i = this.idle.indexOf(program);
    if (i >= 0) this.idle.splice(i, 1);
  }

  exited(program: Program): void {
    this.forget(program);
    this.running.delete(program);
  }

  crashed(description: string): void {
    this.crashesInARow++;
    const limit = this.options.maxConsecutiveCrashes ?? 10;
    if (this.crashesInARow >= limit && !this.unavailable) {
      this.unavailable = new RaterUnavailable(
        `the rater program ${quote(this.options.argv.join(" "), 120)} exited ${this.crashesInARow} times in a row without answering (last: ${description}); ` +
          "run it by hand with one request line on stdin to see what goes wrong",
      );
    }
  }

  cannotStart(message: string): void {
    this.unavailable ??= new RaterUnavailable(message);
  }

  /** Sends EOF to every process and waits for them to exit (killing those that do not within the grace period). */
  async close(): Promise<void> {
    this.idle.length = 0;
    await Promise.all([...this.running].map((p) => p.close()));
  }
}

interface InFlight {
  part: Part;
  resolve(reply: RaterReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One process of the rater program (the mechanics — group, lines, stderr, exit — are util/jsonl-process.ts's). */
class Program {
  private readonly process: JsonlProcess;
  private readonly stderrLog: StderrStream | undefined;
  private current: InFlight | undefined;
  /** Stopped by us (timeout, garbage) or exited: takes no more requests and its output is ignored. */
  private retired = false;
  private exited = false;

  constructor(private readonly pool: ProgramPool) {
    const { argv, cwd, env } = pool.options;
    const sink = pool.options.onStderr;
    this.stderrLog = sink?.open?.() ?? (sink ? { write: sink, next: () => {}, end: () => {} } : undefined);
    this.process = new JsonlProcess({
      argv,
      cwd,
      ...(env ? { env } : {}),
      killGraceMs: pool.killGraceMs,
      maxLineChars: MAX_LINE,
      stderrTailChars: STDERR_TAIL,
      onLine: (line) => this.onLine(line),
      onOverflow: (pending) => this.garbage(`printed more than ${MAX_LINE / 1024 / 1024} MB without a newline: ${quote(pending)}`),
      onStderr: (chunk) => this.stderrLog?.write(chunk),
      onExit: (exit) => {
        this.onExit(exit);
        this.stderrLog?.end();
      },
    });
    pool.started(this);
  }

  get usable(): boolean {
    return !this.retired && !this.exited;
  }

  ask(part: Part): Promise<RaterReply> {
    return new Promise<RaterReply>((resolve, reject) => {
      const seconds = this.pool.timeoutMs / 1000;
      const timer = setTimeout(() => {
        this.fail(new AttemptFailure(`timed out after ${seconds}s (raise the rater's timeout setting if the program needs longer)`, this.process.stderrTail()));
        this.stop();
      }, this.pool.timeoutMs);
      this.current = { part, resolve, reject, timer };
      this.stderrLog?.next(part.id);
      this.process.send(wireRequest(part));
    });
  }

  private onLine(line: string): void {
    if (this.retired) return;
    const current = this.current;
    if (!current) {
      this.garbage(`printed a line while no request was waiting: ${quote(line)}`);
      return;
    }
    const parsed = parseReplyLine(line);
    if (!parsed.ok) {
      this.garbage(parsed.problem);
      return;
    }
    if (parsed.reply.id !== current.part.id) {
      this.garbage(`replied to request ${quote(parsed.reply.id, 80)} while request ${quote(current.part.id, 80)} was waiting: ${quote(line)}`);
      return;
    }
    this.settle();
    this.pool.free(this);
    const reply = parsed.reply;
    if ("error" in reply) {
      // A polite refusal: the process is fine and takes the next request.
      const text = reply.error.length > MAX_ERROR_TEXT ? `${reply.error.slice(0, MAX_ERROR_TEXT)}…` : reply.error;
      current.reject(new AttemptFailure(`the rater refused it: ${printableLine(text)}`, undefined, reply.retry === true));
    } else {
      current.resolve(reply.rationale === undefined ? { scores: reply.scores } : { scores: reply.scores, rationale: reply.rationale });
    }
  }

  /** Unusable output: fails the request in flight (if any) and stops the process, whose stream can't be trusted any more. */
  private garbage(problem: string): void {
    this.fail(new AttemptFailure(`the rater ${problem}`, this.process.stderrTail()));
    this.stop();
  }

  private settle(): InFlight | undefined {
    const current = this.current;
    if (current) clearTimeout(current.timer);
    this.current = undefined;
    return current;
  }

  private fail(error: Error): void {
    this.settle()?.reject(error);
  }

  /** Stops the process and everything it started: SIGTERM to its group now, SIGKILL after the grace period. */
  private stop(): void {
    if (this.retired) return;
    this.retired = true;
    this.pool.forget(this);
    this.process.stop();
  }

  private onExit(exit: ProcessExit): void {
    this.exited = true;
    this.pool.exited(this);
    const wasRetired = this.retired;
    this.retired = true;
    const current = this.settle();
    if (!exit.started) {
      const { argv, cwd } = this.pool.options;
      const message =
        `could not start the rater program ${quote(argv[0] as string, 120)} in ${cwd}: ${exit.reason}; ` +
        "check that it is installed and on PATH (or give its path), and that argv is split into separate arguments";
      this.pool.cannotStart(message);
      current?.reject(new RaterUnavailable(message));
      return;
    }
    if (wasRetired || !current) return;
    const how = exit.signal !== undefined ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    const lastLine = this.process.lastStderrLine();
    this.pool.crashed(lastLine ? `${how}: ${printableLine(lastLine.length > 300 ? `${lastLine.slice(0, 300)}…` : lastLine)}` : how);
    const tail = lastLine ? `; its stderr ends: ${quote(lastLine, 300)}` : " (it wrote nothing to stderr)";
    current.reject(new AttemptFailure(`the rater program ${how} before answering${tail}`, this.process.stderrTail()));
  }

  /**
   * At the end: EOF on stdin, then a grace period to exit, then SIGTERM and SIGKILL — to its whole group, whose
   * other processes are ended when it exits in any case.
   */
  async close(): Promise<void> {
    this.retired = true;
    await this.process.close();
  }
}
