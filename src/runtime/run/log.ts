// The run's log: every line goes to logs/run.log (with a timestamp) and to the terminal. Progress of long stages
// is a single status line that redraws itself on a terminal, and a plain log line every few seconds otherwise.
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";

export interface LogSink {
  write(text: string): void;
  /** Whether `write` goes to a terminal that can redraw a status line. */
  isTTY: boolean;
}

export class RunLog {
  private status = "";

  constructor(
    private readonly file: string | undefined,
    private readonly sink: LogSink = { write: (t) => process.stderr.write(t), isTTY: Boolean(process.stderr.isTTY) },
  ) {
    if (file) mkdirSync(path.dirname(file), { recursive: true });
  }

  get isTTY(): boolean {
    return this.sink.isTTY;
  }

  line(text: string): void {
    this.clearStatus();
    this.sink.write(`${text}\n`);
    if (this.file) appendFileSync(this.file, `${new Date().toISOString()} ${text}\n`);
  }

  /** A line for logs/run.log only (what external programs print, kept for later reading, not shown). */
  detail(text: string): void {
    if (this.file) appendFileSync(this.file, `${new Date().toISOString()} ${text}\n`);
  }

  /** A receiver for what program `id` writes to stderr: each line goes to logs/run.log, marked with the id. */
  stderrOf(id: string): (text: string) => void {
    return (text) => {
      for (const line of text.split("\n")) if (line.trim() !== "") this.detail(`${id} (stderr): ${line}`);
    };
  }

  /** Redraws the status line (terminal only; nothing is written to the log file). */
  setStatus(text: string): void {
    if (!this.sink.isTTY) return;
    const cols = process.stderr.columns || 120;
    const shown = text.length > cols - 1 ? `${text.slice(0, cols - 2)}…` : text;
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

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds - 60 * m)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function formatRate(r: number): string {
  return r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r >= 10 ? r.toFixed(0) : r.toFixed(1);
}
