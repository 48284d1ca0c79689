// ONNX Runtime's profile (SessionOptions.enableProfiling) summed by operator type: benches profile and hf --profile.
// On CUDA a node's kernel_time is the host time of its Compute call (the kernels are launched asynchronously), so the
// sum against the run's wall time tells whether a step is host-bound.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string; provider?: string; mem_bytes_in_use?: string };
}

export interface OpTime {
  op: string;
  /** Kernel time per run, ms. */
  ms: number;
  calls: number;
  share: number;
}

/**
 * The arena's bytes in use as the profiled runs went (ONNX Runtime records them after each node): at the first node,
 * at the most, and the node at the most — where a step's memory peaks, and what runs there.
 */
export interface InUseTimeline {
  first_bytes: number;
  peak_bytes: number;
  peak_node: string;
  /** The peak node's position among the run's executed nodes, 0 to 1. */
  peak_at: number;
}

/**
 * Reads (and deletes) the newest profile written next to `prefix` and sums the node events of its last `runs` runs
 * (the session's `model_run` events; the first run, with the session's warm-up, is best left out); figures per run.
 */
export function kernelTimeByOp(bench: string, prefix: string, runs: number): { rows: OpTime[]; totalMs: number; runMs: number; inUse: InUseTimeline | null } {
  const traceFile = findTrace(bench, prefix);
  const events = JSON.parse(readFileSync(traceFile, "utf8")) as TraceEvent[];
  rmSync(traceFile, { force: true });
  const modelRuns = events.filter((e) => e.cat === "Session" && e.name === "model_run" && typeof e.ts === "number" && typeof e.dur === "number");
  if (modelRuns.length < runs) throw new Error(`${bench}: the profile holds ${modelRuns.length} runs, ${runs} were asked for`);
  const kept = modelRuns.sort((a, b) => (a.ts as number) - (b.ts as number)).slice(-runs);
  const within = (e: TraceEvent) => kept.some((r) => (e.ts as number) >= (r.ts as number) && (e.ts as number) <= (r.ts as number) + (r.dur as number));
  const byOp = new Map<string, { us: number; calls: number }>();
  let total = 0;
  let inUse: InUseTimeline | null = null;
  let first: number | undefined;
  let executed = 0;
  for (const e of events) {
    if (e.cat !== "Node" || !e.name?.endsWith("_kernel_time") || typeof e.dur !== "number" || typeof e.ts !== "number" || !within(e)) continue;
    const bytes = Number(e.args?.mem_bytes_in_use ?? Number.NaN);
    if (Number.isFinite(bytes)) {
      first ??= bytes;
      if (!inUse || bytes > inUse.peak_bytes)
        inUse = { first_bytes: first, peak_bytes: bytes, peak_node: e.name.replace(/_kernel_time$/, ""), peak_at: executed };
    }
    executed++;
    const opName = e.args?.op_name ?? "?";
    if (opName === "Loop") continue; // the Loop node's time contains its body's nodes, which are counted themselves
    const r = byOp.get(opName) ?? { us: 0, calls: 0 };
    r.us += e.dur;
    r.calls++;
    byOp.set(opName, r);
    total += e.dur;
  }
  const rows = [...byOp.entries()]
    .sort((a, b) => b[1].us - a[1].us)
    .map(([op, r]) => ({ op, ms: r.us / 1000 / runs, calls: r.calls / runs, share: r.us / total }));
  const runMs = kept.reduce((a, r) => a + (r.dur as number), 0) / 1000 / runs;
  // peak_at counted executed nodes; as a share of the run:
  const timeline = inUse && { ...inUse, peak_at: Math.round((1000 * inUse.peak_at) / Math.max(1, executed)) / 1000 };
  return { rows, totalMs: total / 1000 / runs, runMs, inUse: timeline };
}

function findTrace(bench: string, prefix: string): string {
  const dir = path.dirname(prefix);
  const base = path.basename(prefix);
  const found = readdirSync(dir)
    .filter((f) => f.startsWith(base) && f.endsWith(".json"))
    .map((f) => path.join(dir, f));
  if (found.length === 0) throw new Error(`${bench}: ONNX Runtime wrote no profile next to ${prefix}`);
  return found.sort().at(-1)!;
}
