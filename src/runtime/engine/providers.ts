// Execution providers: which ones alignc can ask ONNX Runtime for, and whether they work on this machine.
//
// CPU is always there. CUDA needs two things onnxruntime-node does not ship by default: the provider
// libraries `libonnxruntime_providers_{cuda,shared}.so` next to the native binding (the npm package is a
// CPU build), and a working CUDA stack (driver, CUDA 13 runtime, cuBLAS, cuDNN 9 on the library path).
// `providerStatus` checks the files first (cheap, and it keeps ONNX Runtime from logging a load failure),
// then creates and runs a one-node session with the CUDA provider. Nothing here throws on a machine
// without CUDA; `requireProvider` turns an unavailable provider into a `ProviderUnavailableError`.
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { serializeModel } from "../../tensor/onnx/serialize.ts";
import { add } from "../../tensor/ops/binary.ts";
import { Builder } from "../../tensor/ops/builder.ts";

export type Provider = "cpu" | "cuda";

export const PROVIDERS: readonly Provider[] = ["cpu", "cuda"];

/**
 * Whether CUDA's float32 matrix products may use TF32 tensor cores in this process: yes unless
 * `NVIDIA_TF32_OVERRIDE=0` is in the environment (CUDA's libraries read it when they start; `alignc run --tf32 off`
 * sets it before any session). It changes CUDA's float32 results, so it is part of a GPU node's store key.
 */
export function tf32Enabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NVIDIA_TF32_OVERRIDE !== "0";
}

export function isProvider(name: string): name is Provider {
  return (PROVIDERS as readonly string[]).includes(name);
}

/** The CUDA provider libraries ONNX Runtime loads from the binding's folder (Linux names). */
export const CUDA_PROVIDER_LIBRARIES = ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"] as const;

/** How the CUDA provider is installed (docs/gpu.md); {dir} is the binding folder. */
const CUDA_INSTALL =
  "run `npm run setup:cuda` (docs/gpu.md), or copy ONNX Runtime 1.29.0's CUDA 13 provider libraries (libonnxruntime_providers_cuda.so and " +
  "libonnxruntime_providers_shared.so, from the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, folder " +
  "Plugins/Linux/x64/) next to libonnxruntime.so.1 in {dir}; on a machine without registry access, `npm run setup:cuda -- --from FILE.tgz` " +
  "installs them from that package's tarball fetched elsewhere.";

const NO_GPU = "No NVIDIA GPU is visible here, so CUDA is not available on this machine; the CPU provider works (use provider cpu).";

const CUDA_STACK_HINT =
  "The provider libraries are present, but ONNX Runtime could not start CUDA. It needs an NVIDIA GPU and driver, and the " +
  "CUDA 13 runtime, cuBLAS and cuDNN 9 on LD_LIBRARY_PATH (typically add /usr/local/cuda/lib64: " +
  "`export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH`). The CPU provider works: use provider cpu.";

/** A provider that was asked for and cannot be used here; the message says what is missing and how to get it. */
export class ProviderUnavailableError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7009";
  override name = "ProviderUnavailableError";
  constructor(
    readonly provider: Provider,
    /** What is missing (a file, a GPU, a library ONNX Runtime failed to load). */
    readonly reason: string,
    /** How to install or enable it, or what to use instead. */
    readonly hint: string,
  ) {
    super(`the ${provider} execution provider is not available: ${reason}\n${hint}`);
  }
}

export interface ProviderStatus {
  provider: Provider;
  available: boolean;
  /** Why it is unavailable (absent when available). */
  reason?: string;
  /** How to make it available (absent when available). */
  hint?: string;
}

export interface CudaLibraryCheck {
  /** The folder holding onnxruntime_binding.node for this platform, or null if it was not found. */
  bindingDir: string | null;
  present: string[];
  missing: string[];
}

/** The installed onnxruntime-node package folder (null if it cannot be resolved). */
export function onnxruntimePackageDir(): string | null {
  try {
    return path.dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  } catch {
    return null;
  }
}

/** The folder the native binding is loaded from: bin/napi-v*\/<platform>/<arch>/ inside the package. */
export function bindingDir(): string | null {
  const pkg = onnxruntimePackageDir();
  if (!pkg) return null;
  const bin = path.join(pkg, "bin");
  let napis: string[];
  try {
    napis = readdirSync(bin).filter((d) => d.startsWith("napi-v"));
  } catch {
    return null;
  }
  // Newest N-API folder first (binding.js loads napi-v6 in 1.29; a later release may add another).
  napis.sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)));
  for (const napi of napis) {
    const dir = path.join(bin, napi, process.platform, process.arch);
    if (existsSync(path.join(dir, "onnxruntime_binding.node"))) return dir;
  }
  return null;
}

/** Whether the CUDA provider libraries sit next to the native binding. */
export function cudaLibraryCheck(): CudaLibraryCheck {
  const dir = bindingDir();
  const present: string[] = [];
  const missing: string[] = [];
  for (const lib of CUDA_PROVIDER_LIBRARIES) (dir && existsSync(path.join(dir, lib)) ? present : missing).push(lib);
  return { bindingDir: dir, present, missing };
}

/** A cheap hint whether an NVIDIA GPU is visible (device nodes exist); `environment.ts` asks nvidia-smi. */
export function nvidiaDevicePresent(): boolean {
  return process.platform === "linux" && (existsSync("/dev/nvidiactl") || existsSync("/dev/nvidia0"));
}

const statusCache = new Map<Provider, Promise<ProviderStatus>>();

/** Whether `provider` works here. Cached per process; creating the probe session costs a few ms (CPU) to ~1 s (CUDA). */
export function providerStatus(provider: Provider): Promise<ProviderStatus> {
  let status = statusCache.get(provider);
  if (!status) {
    status = computeStatus(provider);
    statusCache.set(provider, status);
  }
  return status;
}

/** Throws `ProviderUnavailableError` unless `provider` works here. */
export async function requireProvider(provider: Provider): Promise<void> {
  const s = await providerStatus(provider);
  if (!s.available) throw new ProviderUnavailableError(provider, s.reason ?? "unknown reason", s.hint ?? "");
}

async function computeStatus(provider: Provider): Promise<ProviderStatus> {
  if (provider === "cuda") {
    if (process.platform !== "linux" || process.arch !== "x64")
      return {
        provider,
        available: false,
        reason: `alignc's CUDA setup is for linux x64, this is ${process.platform} ${process.arch}`,
        hint: "The CPU provider works (use provider cpu).",
      };
    const libs = cudaLibraryCheck();
    if (!libs.bindingDir)
      return { provider, available: false, reason: "onnxruntime-node's native binding was not found", hint: "Reinstall dependencies (npm ci)." };
    if (libs.missing.length > 0) {
      const reason = `onnxruntime-node has no CUDA provider library (${libs.missing.join(", ")} missing in ${libs.bindingDir})`;
      const install = CUDA_INSTALL.replace("{dir}", libs.bindingDir);
      const hint = nvidiaDevicePresent()
        ? `To enable CUDA, ${install} Until then the CPU provider works (use provider cpu).`
        : `${NO_GPU} To enable CUDA on a machine with a GPU, ${install}`;
      return { provider, available: false, reason, hint };
    }
  }
  try {
    await probe(provider);
    return { provider, available: true };
  } catch (error) {
    const first = String((error as Error).message ?? error).split("\n")[0]!;
    return {
      provider,
      available: false,
      reason: `a test session failed: ${first}`,
      hint: provider === "cuda" ? CUDA_STACK_HINT : "Reinstall dependencies (npm ci).",
    };
  }
}

/** Creates and runs a one-node model (y = x + x) with only `provider`; throws what ONNX Runtime throws. */
async function probe(provider: Provider): Promise<void> {
  const b = new Builder("probe");
  const x = b.input("x", "float32", [2]);
  b.output(add(x, x), "y");
  const session = await ort.InferenceSession.create(serializeModel(b.root), { executionProviders: [provider], logSeverityLevel: 3 });
  try {
    const out = await session.run({ x: new ort.Tensor("float32", new Float32Array([1, 2]), [2]) });
    const y = out.y?.data as Float32Array | undefined;
    const [a, b] = y ?? [];
    if (a !== 2 || b !== 4) throw new Error(`the probe model computed ${y ? Array.from(y).join(", ") : "nothing"} instead of 2, 4`);
  } finally {
    await session.release();
  }
}
