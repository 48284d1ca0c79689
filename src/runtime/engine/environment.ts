// Facts about the machine and the ONNX Runtime install, for `alignc doctor` and for run records.
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import * as ort from "onnxruntime-node";
import type { EngineName } from "./engine.ts";
import { ORT_API_VERSION, ortApi } from "./ort-capi.ts";
import {
  type CudaLibraryCheck,
  cudaLibraryCheck,
  onnxruntimePackageDir,
  PROVIDERS,
  type Provider,
  type ProviderStatus,
  providerStatus,
  tf32Enabled,
} from "./providers.ts";
import { defaultEngine } from "./session.ts";

export interface GpuInfo {
  name: string;
  memory: string;
  driver: string;
}

export interface EnvironmentFacts {
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  onnxruntime: {
    /** onnxruntime-node's package.json version (null if the package cannot be found). */
    version: string | null;
    /** The folder the native binding loads from. */
    bindingDir: string | null;
    /** What the binding reports (`ort.listSupportedBackends()`); `bundled: false` means it needs extra libraries. */
    backends: { name: string; bundled: boolean }[];
  };
  cudaLibraries: CudaLibraryCheck;
  /** The engine a Runtime uses by default here, and whether the C-API engine loads (ONNX Runtime's C API through koffi). */
  engines: { default: EngineName; capi: { available: boolean; detail: string } };
  /** Whether CUDA's float32 matrix products may use TF32 in this process (NVIDIA_TF32_OVERRIDE, `alignc run --tf32`). */
  tf32: boolean;
  /** Whether each checked provider works here, with what is missing if not. */
  providers: ProviderStatus[];
  /** GPUs nvidia-smi lists; empty when there is none or nvidia-smi is absent (see `gpuNote`). */
  gpus: GpuInfo[];
  gpuNote: string;
}

function onnxruntimeVersion(): string | null {
  const dir = onnxruntimePackageDir();
  if (!dir) return null;
  try {
    return String((JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: unknown }).version ?? "") || null;
  } catch {
    return null;
  }
}

function backends(): { name: string; bundled: boolean }[] {
  const list = (ort as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends;
  if (typeof list !== "function") return [];
  try {
    return list().map((b) => ({ name: String(b.name), bundled: Boolean(b.bundled) }));
  } catch {
    return [];
  }
}

/** GPUs from nvidia-smi (5 s limit); absent nvidia-smi or a failing one is a note, not an error. */
export async function queryGpus(): Promise<{ gpus: GpuInfo[]; note: string }> {
  const r = await execa("nvidia-smi", ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], { timeout: 5000, reject: false });
  if (r.failed) {
    const code = (r as { code?: string }).code;
    if (code === "ENOENT") return { gpus: [], note: "no NVIDIA GPU found (nvidia-smi is not on PATH)" };
    const why = r.timedOut ? "timed out" : String(r.stderr || r.stdout || r.shortMessage).split("\n")[0];
    return { gpus: [], note: `nvidia-smi failed: ${why}` };
  }
  const gpus = String(r.stdout)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [name = "", memory = "", driver = ""] = l.split(",").map((s) => s.trim());
      return { name, memory, driver };
    });
  return { gpus, note: gpus.length === 0 ? "nvidia-smi lists no GPU" : `${gpus.length} GPU${gpus.length === 1 ? "" : "s"}` };
}

/** Collects the facts; `providers` limits which providers are probed (default: all). */
export async function collectEnvironment(options: { providers?: readonly Provider[] } = {}): Promise<EnvironmentFacts> {
  const wanted = options.providers ?? PROVIDERS;
  const [statuses, gpu] = await Promise.all([Promise.all(wanted.map((p) => providerStatus(p))), queryGpus()]);
  const libs = cudaLibraryCheck();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    onnxruntime: { version: onnxruntimeVersion(), bindingDir: libs.bindingDir, backends: backends() },
    cudaLibraries: libs,
    engines: { default: defaultEngineOrBinding(), capi: capiStatus() },
    tf32: tf32Enabled(),
    providers: statuses,
    gpus: gpu.gpus,
    gpuNote: gpu.note,
  };
}

/** Whether the C-API engine's library loads, with ONNX Runtime's version and the C API version alignc calls. */
function capiStatus(): { available: boolean; detail: string } {
  try {
    return { available: true, detail: `ONNX Runtime ${ortApi().version}, C API ${ORT_API_VERSION}, through koffi` };
  } catch (e) {
    return { available: false, detail: String((e as Error).message).split("\n")[0]! };
  }
}

/** ALIGNC_ENGINE's engine, or the binding when the variable is unset or wrong (doctor reports, it does not fail). */
function defaultEngineOrBinding(): EngineName {
  try {
    return defaultEngine();
  } catch {
    return "binding";
  }
}

/** The facts as label/value rows for a two-column table. */
export function environmentRows(env: EnvironmentFacts): [string, string][] {
  const rows: [string, string][] = [
    ["node", env.node],
    ["platform", `${env.platform} ${env.arch}`],
    ["cpus", `${env.cpus} × ${env.cpuModel}`],
    ["memory", `${env.memoryGiB} GiB`],
    ["onnxruntime-node", env.onnxruntime.version ?? "not installed"],
    ["backends", env.onnxruntime.backends.map((b) => (b.bundled ? b.name : `${b.name} (needs extra libraries)`)).join(", ") || "unknown"],
    [
      "cuda libraries",
      env.cudaLibraries.missing.length === 0 ? `present in ${env.cudaLibraries.bindingDir}` : `missing: ${env.cudaLibraries.missing.join(", ")}`,
    ],
  ];
  rows.push(["engine", `${env.engines.default} (ALIGNC_ENGINE; binding or capi)`]);
  rows.push(["engine capi", env.engines.capi.available ? `available: ${env.engines.capi.detail}` : `unavailable: ${env.engines.capi.detail}`]);
  rows.push([
    "tf32",
    env.tf32 ? "on for CUDA float32 products (alignc run --tf32 off, or NVIDIA_TF32_OVERRIDE=0, turns it off)" : "off (NVIDIA_TF32_OVERRIDE=0)",
  ]);
  for (const p of env.providers) rows.push([`provider ${p.provider}`, p.available ? "available" : `unavailable: ${p.reason}`]);
  rows.push(["gpu", env.gpus.length > 0 ? env.gpus.map((g) => `${g.name} (${g.memory}, driver ${g.driver})`).join("; ") : env.gpuNote]);
  return rows;
}
