// Where a subprocess's stderr goes: the interfaces between the programs alignc starts (raters, editors; their
// client is jsonl-process.ts) and whoever logs what they write (the run log, src/runtime/pipeline/log.ts), with the
// caps on how much of it is kept. Declared here, below both, so that a rater does not import the pipeline.

/** At most this many bytes of logs/run.log (whole lines, timestamps included) per request, per process, from a program's stderr. */
export const STDERR_LOG_CAP = 64 * 1024;
/** Characters of one stderr line that are logged; the rest of the line is counted and noted at its end. */
export const STDERR_LINE_CAP = 4096;

/** One process's stderr on its way to logs/run.log. */
export interface StderrStream {
  /** What the process wrote, as it comes (any chunking: lines are put together here). */
  write(chunk: string): void;
  /** A new request starts (`label` names it in the note): what the last one cut is noted, and the cap starts over. */
  next(label?: string): void;
  /** The process is gone: its unfinished line is logged and what was cut is noted. */
  end(): void;
}

/**
 * What receives a program's stderr. Called with text, it logs it as one stream whose cap is never reset (a program
 * without requests: once full, a note says the rest is not logged); `open()` gives a stream per process, capped per
 * request (a rater's processes).
 */
export interface StderrSink {
  (text: string): void;
  open?(): StderrStream;
}
