// The run's log: every line goes to logs/run.log (with a timestamp) and to the terminal. Progress of long stages
// is a single status line that redraws itself on a terminal, and a plain log line every few seconds otherwise.
//
// Text given to the log may come from data or programs (a rater's error reply, a dataset's ids, a program's stderr),
// so everything written is passed through `printable`: control characters and bidi overrides are shown as escapes
// and cannot move the cursor, clear the screen or reorder the line. Only the log's own status-line redraw writes
// terminal escapes. What a program writes to stderr is capped per request (STDERR_LOG_CAP, STDERR_LINE_CAP;
// docs/raters.md): a program that writes megabytes per request cannot fill the disk with run.log.
import path from "node:path";
import { printable, printableLine } from "../../util/printable.ts";
import { appendFileInside, mkdirInside } from "../../util/safe-write.ts";
import { STDERR_LINE_CAP, STDERR_LOG_CAP, type StderrSink, type StderrStream } from "../../util/stderr-sink.ts";

export interface LogSink {
  write(text: string): void;
  /** Whether `write` goes to a terminal that can redraw a status line. */
  isTTY: boolean;
}

export class RunLog {
  private status = "";

  /**
   * `file` is appended to below `root` (the run directory; default the file's folder): a `logs/` folder or a
   * `run.log` that is a link leading elsewhere is refused (src/util/safe-write.ts), never written through.
   */
  constructor(
    private readonly file: string | undefined,
    private readonly sink: LogSink = { write: (t) => process.stderr.write(t), isTTY: Boolean(process.stderr.isTTY) },
    private readonly root: string | undefined = file ? path.dirname(file) : undefined,
  ) {
    if (file && root) mkdirInside(root, path.dirname(file));
  }

  private append(text: string): void {
    if (this.file && this.root) appendFileInside(this.root, this.file, text);
  }

  get isTTY(): boolean {
    return this.sink.isTTY;
  }

  /** A line for the terminal and logs/run.log (control characters in `text` are escaped). */
  line(text: string): void {
    this.clearStatus();
    const shown = printable(text);
    this.sink.write(`${shown}\n`);
    this.append(`${new Date().toISOString()} ${shown}\n`);
  }

  /** A line for logs/run.log only (what external programs print, kept for later reading, not shown). */
  detail(text: string): void {
    this.append(`${new Date().toISOString()} ${printable(text)}\n`);
  }

  /**
   * A receiver for what program `id` writes to stderr: each line goes to logs/run.log, marked with the id, at most
   * STDERR_LOG_CAP bytes of it per request and process (and STDERR_LINE_CAP characters per line), with a note of
   * what was cut.
   */
  stderrOf(id: string): StderrSink {
    const whole = new StderrLines(this, id, true);
    const sink: StderrSink = (text: string) => whole.write(text);
    sink.open = () => new StderrLines(this, id);
    return sink;
  }

  /** Redraws the status line (terminal only; nothing is written to the log file). */
  setStatus(text: string): void {
    if (!this.sink.isTTY) return;
    const cols = process.stderr.columns || 120;
    // Only the redraw below writes escapes: the text itself is shown with its control characters escaped.
    const line = printableLine(text);
    const shown = line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line;
    this.sink.write(`\r\x1b[2K${shown}`);
    this.status = shown;
  }

  clearStatus(): void {
    if (this.status === "") return;
    this.sink.write("\r\x1b[2K");
    this.status = "";
  }

  progress(label: string, total: number, unit: string): Progress {
    return new Progress(this, label, total, unit);
  }
}

/** One process's stderr for logs/run.log: whole lines, capped per line and per request (STDERR_LOG_CAP). */
class StderrLines implements StderrStream {
  /** The line being put together: at most STDERR_LINE_CAP characters are kept, the rest is only counted. */
  private partial = "";
  private partialCut = 0;
  /** This request's bytes written to run.log, and the stderr bytes it did not log (once full, nothing more is). */
  private logged = 0;
  private dropped = 0;
  private full = false;
  private label: string | undefined;

  constructor(
    private readonly log: RunLog,
    private readonly id: string,
    /** Notes at once when the cap is reached (a stream that may never be ended or told of requests). */
    private readonly noteWhenFull = false,
  ) {}

  write(chunk: string): void {
    if (this.full) {
      this.dropped += Buffer.byteLength(chunk);
      return;
    }
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf("\n", start);
      this.append(chunk, start, newline < 0 ? chunk.length : newline);
      if (newline < 0) break;
      this.flushLine();
      start = newline + 1;
      if (this.full) {
        this.dropped += Buffer.byteLength(chunk.slice(start));
        return;
      }
    }
  }

  next(label?: string): void {
    this.note();
    this.label = label;
  }

  end(): void {
    if (this.partial !== "" || this.partialCut > 0) this.flushLine(false);
    this.note();
  }

  private append(chunk: string, start: number, end: number): void {
    let room = STDERR_LINE_CAP - this.partial.length;
    if (end - start <= room) {
      this.partial += chunk.slice(start, end);
      return;
    }
    // Not between the halves of a surrogate pair.
    if (room > 0 && /[\ud800-\udbff]/.test(chunk.charAt(start + room - 1))) room--;
    this.partial += chunk.slice(start, start + Math.max(0, room));
    this.partialCut += Buffer.byteLength(chunk.slice(start + Math.max(0, room), end));
  }

  /** Logs the line put together so far (if the cap allows); `newline` says whether it ended with one. */
  private flushLine(newline = true): void {
    const line = this.partialCut > 0 ? this.partial : this.partial.replace(/\r$/, "");
    const cut = this.partialCut;
    this.partial = "";
    this.partialCut = 0;
    const raw = Buffer.byteLength(line) + cut + (newline ? 1 : 0);
    if (this.full) {
      this.dropped += raw;
      return;
    }
    if (line.trim() === "" && cut === 0) return;
    const text = printable(`${this.id} (stderr): ${line}${cut > 0 ? ` … (${formatBytes(cut)} more of this line not logged)` : ""}`);
    // What detail() appends: an ISO timestamp, a space, the text (escaping it again changes nothing) and a newline.
    const bytes = 25 + Buffer.byteLength(text) + 1;
    if (this.logged + bytes > STDERR_LOG_CAP) {
      this.full = true;
      this.dropped += raw;
      if (this.noteWhenFull)
        this.log.detail(`${this.id} (stderr): … the rest of the stderr from ${this.id} is not logged (cap ${formatBytes(STDERR_LOG_CAP)})`);
      return;
    }
    this.logged += bytes;
    this.log.detail(text);
  }

  /** Notes what this request's stderr did not log, and starts the next request's count. */
  private note(): void {
    if (this.dropped > 0) {
      const during = this.label === undefined ? "" : ` during request ${JSON.stringify(this.label)}`;
      this.log.detail(
        `${this.id} (stderr): … ${formatBytes(this.dropped)} of stderr from ${this.id}${during} not logged (cap ${formatBytes(STDERR_LOG_CAP)} per request)`,
      );
    }
    this.logged = 0;
    this.dropped = 0;
    this.full = false;
  }
}

/** 512 B, 64 KiB, 126.3 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1).replace(/\.0$/, "")} ${units[unit]}`;
}

/** Count, rate and ETA of a stage with a known amount of work. */
export class Progress {
  private readonly start = performance.now();
  private lastLine = this.start;
  private done = 0;

  constructor(
    private readonly log: RunLog,
    private readonly label: string,
    private readonly total: number,
    private readonly unit: string,
  ) {}

  /** `done` units finished so far; `detail` is shown after the count (e.g. the current loss). */
  update(done: number, detail = ""): void {
    this.done = done;
    const now = performance.now();
    const seconds = (now - this.start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Number.NaN;
    const text = `${this.label} ${done}/${this.total} ${this.unit} · ${formatRate(rate)} ${this.unit}/s · ETA ${formatDuration(eta)}${detail ? ` · ${detail}` : ""}`;
    this.log.setStatus(text);
    // Without a terminal, a line every 10 s keeps logs readable and shows the run is alive.
    if (!this.log.isTTY && now - this.lastLine >= 10_000 && done < this.total) {
      this.lastLine = now;
      this.log.line(text);
    }
  }

  finish(detail = ""): void {
    const seconds = (performance.now() - this.start) / 1000;
    this.log.line(`${this.label} ${this.done}/${this.total} ${this.unit} in ${formatDuration(seconds)}${detail ? ` · ${detail}` : ""}`);
  }
}

/**
 * A duration for the log: "4.2s" under 10 s, "42s", "1m05s", "2h03m". Rounded once, to the unit shown last, before it
 * is split into units — so 59.6 s is "1m00s" and 119.6 s "2m00s", never "60s" or "1m60s".
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 9.95) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  const m = Math.round(seconds / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function formatRate(r: number): string {
  return r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r >= 10 ? r.toFixed(0) : r.toFixed(1);
}
