// The ONNX Runtime for a node's `device` setting: cpu, cuda, cuda:N or auto (CUDA when its provider loads).
import type { ExecutionGraph } from "../../compiler/lower/graph.ts";
import { providerStatus } from "../providers.ts";
import { Runtime } from "../session.ts";
import type { DeviceKindOf } from "./keys.ts";

export class Devices {
  private readonly runtimes = new Map<string, Promise<Runtime>>();

  /** `fallback` is used for nodes without a device setting. */
  constructor(private readonly fallback = "cpu") {}

  /**
   * The device kind each node of the graph runs on (its setting, or the fallback), for store keys. `auto` is
   * resolved by loading the CUDA provider, once, and only when some node needs it.
   */
  async kinds(graph: ExecutionGraph): Promise<DeviceKindOf> {
    const nameOf = (device: unknown) => (typeof device === "string" ? device : this.fallback);
    const auto = graph.nodes.some((n) => nameOf(n.params.device) === "auto") ? (await providerStatus("cuda")).available : false;
    return (node) => {
      const name = nameOf(node.params.device);
      return name === "auto" ? (auto ? "cuda" : "cpu") : name.startsWith("cuda") ? "cuda" : "cpu";
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
    if (name === "cpu") return new Runtime({ provider: "cpu" });
    if (name === "auto") return new Runtime({ provider: (await providerStatus("cuda")).available ? "cuda" : "cpu" });
    const m = /^cuda(?::(\d+))?$/.exec(name);
    if (!m) throw new Error(`unknown device ${JSON.stringify(name)}; use cpu, cuda, cuda:N or auto`);
    // The provider check happens when the first session loads; its error says how to install the libraries.
    return new Runtime({ provider: "cuda", deviceId: Number(m[1] ?? 0) });
  }
}
