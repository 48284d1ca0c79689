// Peak memory of a benchmark's workload: on CUDA, nvidia-smi's memory.used polled every 50 ms (ONNX Runtime's
// allocations are not visible to the process otherwise), on CPU the process's RSS peak. Shared by bench/torch.ts and
// bench/hf.ts.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { execa } from "execa";

export interface Memory {
  kind: string;
  bytes: number | null;
}

/** The GPU's used memory through nvidia-smi: one reading, or a poller every 50 ms keeping the maximum. */
export class GpuMemory {
  private peak = -1;
  private child: ReturnType<typeof spawn> | null = null;
  private closed: Promise<void> = Promise.resolve();

  constructor(readonly index: string) {}

  async read(): Promise<number | null> {
    const r = await execa("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", this.index], { reject: false });
    const mib = Number.parseFloat(String(r.stdout).trim());
    return r.failed || !Number.isFinite(mib) ? null : mib;
  }

  start(): void {
    this.peak = -1;
    const child = spawn("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", this.index, "-lms", "50"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let rest = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        const mib = Number.parseFloat(line.trim());
        if (Number.isFinite(mib)) this.peak = Math.max(this.peak, mib);
      }
    });
    child.on("error", () => {});
    this.closed = new Promise((resolve) => child.on("close", () => resolve()));
    this.child = child;
  }

  /** Stops the poller (after one more sample interval) and returns the peak in MiB. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    await new Promise((r) => setTimeout(r, 120));
    child.kill("SIGTERM");
    await this.closed;
    this.child = null;
    return this.peak >= 0 ? this.peak : null;
  }
}

/** Linux: reset the process's peak RSS to its current RSS ("5" > /proc/self/clear_refs). */
function resetRssPeak(): void {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    // not Linux: the peak then covers the whole process
  }
}

function rssPeak(): Memory {
  try {
    const line = readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmHWM:"));
    if (line) return { kind: "process RSS peak (VmHWM)", bytes: Number.parseInt(line.split(/\s+/)[1]!, 10) * 1024 };
  } catch {
    // fall through
  }
  return { kind: "process RSS peak (maxRSS, whole run)", bytes: process.resourceUsage().maxRSS * 1024 };
}

/** Measures alignc's peak memory around `f`: on CUDA, nvidia-smi's memory.used during f minus the reading before it; on CPU the RSS peak. */
export async function measured<T>(gpu: GpuMemory | null, f: () => Promise<T>): Promise<{ value: T; memory: Memory }> {
  if (!gpu) {
    resetRssPeak();
    const value = await f();
    return { value, memory: rssPeak() };
  }
  const before = await gpu.read();
  gpu.start();
  let peak: number | null = null;
  try {
    const value = await f();
    peak = await gpu.stop();
    return {
      value,
      memory: {
        kind: "nvidia-smi memory.used peak − reading before the session loaded",
        bytes: peak !== null && before !== null ? (peak - before) * 2 ** 20 : null,
      },
    };
  } finally {
    if (peak === null) await gpu.stop();
  }
}
