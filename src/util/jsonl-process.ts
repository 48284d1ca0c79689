// One program alignc talks to in JSON lines over stdin and stdout (a command rater, corrupt's editor). This is the
// part both share, so that they cannot drift apart:
//   - the program runs in its own process group (process-groups.ts): stopping it ends everything it started, and so
//     does its own exit (a grandchild holding its stdout open would otherwise keep it from settling);
//   - its stdout is split into lines (blank lines skipped, a trailing \r dropped); a line longer than `maxLineChars`
//     stops the program, so memory stays bounded whatever it prints;
//   - its stderr's tail is kept for messages (escaped when shown), and every chunk is passed on as it comes;
//   - its end is reported once: it could not be started, it exited, or it was killed.
// After stop() nothing more it prints is delivered: its stream can no longer be trusted.
import { execa, type ResultPromise } from "execa";
import { printable } from "./printable.ts";
import { ProcessGroup } from "./process-groups.ts";

/** How the program ended: `started` false when it never ran (not found, not executable, no such working directory). */
export interface ProcessExit {
  started: boolean;
  exitCode?: number;
  signal?: string;
  /** Why it could not be started. */
  reason?: string;
}

export interface JsonlProcessOptions {
  /** Program and arguments, run directly (never through a shell). */
  argv: readonly string[];
  cwd: string;
  /** Added to alignc's own environment. */
  env?: Readonly<Record<string, string>>;
  /** Between SIGTERM and SIGKILL when it is stopped, and for it to exit after EOF on close(). */
  killGraceMs: number;
  /** A stdout line longer than this stops the program (onOverflow is called first). */
  maxLineChars: number;
  /** Characters of stderr kept for messages. */
  stderrTailChars: number;
  /** Each non-blank line of stdout. */
  onLine(line: string): void;
  /** The program printed more than maxLineChars without a newline; it is stopped right after. */
  onOverflow(pending: string): void;
  /** Each chunk of stderr, as it comes. */
  onStderr?(chunk: string): void;
  /** Once, when it has ended (before its group is waited for). */
  onExit(exit: ProcessExit): void;
}

export class JsonlProcess {
  /** Settles when the program has exited and its group has been ended. */
  readonly done: Promise<void>;
  private readonly proc: ResultPromise;
  /** Its process group; undefined when it did not start (or on a platform without groups). */
  private readonly group: ProcessGroup | undefined;
  private pending = "";
  private tail = "";
  private stopped = false;
  private ended = false;

  constructor(private readonly o: JsonlProcessOptions) {
    this.proc = execa(o.argv[0] as string, o.argv.slice(1), {
      cwd: o.cwd,
      env: { ...o.env },
      extendEnv: true,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      buffer: false,
      reject: false,
      // Its own process group, ended as a whole (execa's cleanup does not apply to detached processes: the groups
      // module ends them when alignc exits). forceKillAfterDelay is for proc.kill() where there is no group.
      detached: true,
      forceKillAfterDelay: o.killGraceMs,
    });
    this.group = ProcessGroup.adopt(this.proc.pid);
    // A program that exits early makes writes fail with EPIPE; its exit is what gets reported.
    this.proc.stdin?.on("error", () => {});
    this.proc.stdout?.setEncoding("utf8");
    this.proc.stdout?.on("data", (chunk: string) => this.onStdout(chunk));
    this.proc.stderr?.setEncoding("utf8");
    this.proc.stderr?.on("data", (chunk: string) => {
      this.tail = (this.tail + chunk.slice(-o.stderrTailChars)).slice(-o.stderrTailChars);
      o.onStderr?.(chunk);
    });
    this.proc.once("exit", () => void this.group?.end(o.killGraceMs));
    this.done = this.proc.then(async (result) => {
      const r = result as { exitCode?: number; signal?: string; code?: string; originalMessage?: string };
      this.ended = true;
      const started = r.exitCode !== undefined || r.signal !== undefined;
      const exit: ProcessExit = started ? { started } : { started, reason: r.originalMessage ?? r.code ?? "unknown error" };
      if (r.exitCode !== undefined) exit.exitCode = r.exitCode;
      if (r.signal !== undefined) exit.signal = r.signal;
      o.onExit(exit);
      await this.group?.end(o.killGraceMs);
    });
  }

  /** Whether the program has ended. */
  get exited(): boolean {
    return this.ended;
  }

  /** Writes one JSON line to its stdin. */
  send(message: unknown): void {
    this.proc.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  /** Stops it and everything it started: SIGTERM to its group now, SIGKILL after the grace period. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.pending = "";
    if (this.ended) return;
    if (this.group) void this.group.end(this.o.killGraceMs);
    else this.proc.kill();
  }

  /** EOF on stdin, the grace period to exit, then stop(); resolves when it has ended and its group is gone. */
  async close(): Promise<void> {
    if (!this.ended) {
      this.proc.stdin?.end();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.o.killGraceMs);
      });
      await Promise.race([this.done, grace]);
      clearTimeout(timer);
      if (!this.ended) this.stop();
    }
    await this.done;
  }

  /** The tail of its stderr, control characters escaped; undefined when it wrote nothing. */
  stderrTail(): string | undefined {
    return this.tail === "" ? undefined : printable(this.tail);
  }

  /** The last non-blank line of its stderr (raw: escape before showing it). */
  lastStderrLine(): string | undefined {
    return this.tail
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "")
      .pop();
  }

  private onStdout(chunk: string): void {
    if (this.stopped) return;
    this.pending += chunk;
    for (let nl = this.pending.indexOf("\n"); nl >= 0 && !this.stopped; nl = this.pending.indexOf("\n")) {
      const line = this.pending.slice(0, nl).replace(/\r$/, "");
      this.pending = this.pending.slice(nl + 1);
      if (line.trim() !== "") this.o.onLine(line);
    }
    if (!this.stopped && this.pending.length > this.o.maxLineChars) {
      const pending = this.pending;
      this.pending = "";
      this.o.onOverflow(pending);
      this.stop();
    }
  }
}
