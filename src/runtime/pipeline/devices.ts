// The ONNX Runtime for a node's `device` setting: cpu, cuda, cuda:N or auto (CUDA when its provider loads).
import type { ExecutionGraph } from "../../graph/graph.ts";
import { providerStatus, tf32Enabled } from "../engine/providers.ts";
import { Runtime } from "../engine/session.ts";
import type { DeviceKindOf } from "./keys.ts";

export class Devices {
  private readonly runtimes = new Map<string, Promise<Runtime>>();

  /** `fallback` is used for nodes without a device setting. */
  constructor(private readonly fallback = "cpu") {}

  /**
   * The device kind each node of the graph runs on (its setting, or the fallback), for store keys. `auto` is
   * resolved by loading the CUDA provider, once, and only when some node needs it. CUDA with TF32 off
   * (`NVIDIA_TF32_OVERRIDE=0`, `--tf32 off`) is a kind of its own.
   */
  async kinds(graph: ExecutionGraph): Promise<DeviceKindOf> {
    const nameOf = (device: unknown) => (typeof device === "string" ? device : this.fallback);
    const auto = graph.nodes.some((n) => nameOf(n.params.device) === "auto") ? (await providerStatus("cuda")).available : false;
    const gpu = tf32Enabled() ? "cuda" : "cuda-tf32-off";
    return (node) => {
      const name = nameOf(node.params.device);
      return name === "auto" ? (auto ? gpu : "cpu") : name.startsWith("cuda") ? gpu : "cpu";
    };
  }

  get(device: unknown): Promise<Runtime> {
    const name = typeof device === "string" ? device : this.fallback;
    let r = this.runtimes.get(name);
    if (!r) {
      r = this.create(name);
      this.runtimes.set(name, r);
    }
    return r;
  }

  /**
   * Releases every runtime's sessions. The executor calls it after each node: a run keeps one runtime per device,
   * and sessions a node loaded (each with its own memory arena) would otherwise stay until the process ends — on a
   * GPU, a study with many phases ran out of memory that way.
   */
  async releaseSessions(): Promise<void> {
    const runtimes = await Promise.allSettled([...this.runtimes.values()]);
    for (const r of runtimes) if (r.status === "fulfilled") await r.value.release();
  }

  private async create(name: string): Promise<Runtime> {
    const cpu = () => new Runtime({ provider: "cpu", intraOpThreads: cpuThreads() });
    if (name === "cpu") return cpu();
    if (name === "auto") return (await providerStatus("cuda")).available ? new Runtime({ provider: "cuda" }) : cpu();
    const m = /^cuda(?::(\d+))?$/.exec(name);
    if (!m) throw new Error(`unknown device ${JSON.stringify(name)}; use cpu, cuda, cuda:N or auto`);
    // The provider check happens when the first session loads; its error says how to install the libraries.
    return new Runtime({ provider: "cuda", deviceId: Number(m[1] ?? 0) });
  }
}

/**
 * ONNX Runtime's CPU threads per process: ALIGNC_CPU_THREADS when set (e.g. 1 for each of 16 sweep workers on 16
 * cores, so they do not all start a thread per core), else 0: ONNX Runtime's default, one per core.
 */
export function cpuThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ALIGNC_CPU_THREADS;
  if (raw === undefined || raw === "") return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new Error(`ALIGNC_CPU_THREADS must be a whole number from 1 to 1024, got '${raw}'`);
  return n;
}
