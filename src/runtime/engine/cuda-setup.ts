// Installing ONNX Runtime 1.29.0's CUDA 13 provider libraries next to onnxruntime-node's binding (`npm run
// setup:cuda`): onnxruntime-node ships the CPU provider only; the CUDA one comes from the npm package below, whose
// Plugins/Linux/x64/ folder holds the two libraries ONNX Runtime loads from the binding's folder.
import { copyFileSync, existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { CUDA_PROVIDER_LIBRARIES } from "./providers.ts";

export const CUDA_PACKAGE = "com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9";
const IN_PACKAGE = ["package", "Plugins", "Linux", "x64"];

export class CudaSetupError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7010";
  override name = "CudaSetupError";
}

export interface CudaSetupResult {
  bindingDir: string;
  installed: string[];
  /** Already there (not replaced without `force`). */
  present: string[];
  source: string;
}

/**
 * Copies the provider libraries into `bindingDir` from `tarball` (the package's .tgz; fetched with `npm pack` when
 * not given). Each file is copied beside its target and renamed into place, so a failure leaves no half library.
 */
export async function installCudaProviders(o: { bindingDir: string; tarball?: string; force?: boolean }): Promise<CudaSetupResult> {
  const present = CUDA_PROVIDER_LIBRARIES.filter((f) => existsSync(path.join(o.bindingDir, f)));
  if (!o.force && present.length === CUDA_PROVIDER_LIBRARIES.length) return { bindingDir: o.bindingDir, installed: [], present, source: "already installed" };
  const work = mkdtempSync(path.join(tmpdir(), "alignc-cuda-"));
  try {
    let tarball = o.tarball ? path.resolve(o.tarball) : undefined;
    if (!tarball) {
      try {
        const { stdout } = await execa("npm", ["pack", CUDA_PACKAGE, "--silent"], { cwd: work });
        tarball = path.join(work, stdout.trim().split("\n").at(-1) ?? "");
      } catch (e) {
        throw new CudaSetupError(
          `could not download ${CUDA_PACKAGE} with npm pack (${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message}); ` +
            "on a machine without registry access, fetch the .tgz elsewhere and run `npm run setup:cuda -- --from FILE.tgz`",
        );
      }
    }
    if (!existsSync(tarball)) throw new CudaSetupError(`${tarball}: no such file; give the package's .tgz (npm pack ${CUDA_PACKAGE})`);
    try {
      await execa("tar", ["xzf", tarball, "-C", work]);
    } catch (e) {
      throw new CudaSetupError(`${tarball} is not a readable .tgz (${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message})`);
    }
    const from = path.join(work, ...IN_PACKAGE);
    const missing = CUDA_PROVIDER_LIBRARIES.filter((f) => !existsSync(path.join(from, f)));
    if (missing.length > 0) throw new CudaSetupError(`${tarball} has no ${missing.join(", ")} in ${IN_PACKAGE.slice(1).join("/")}/; is it ${CUDA_PACKAGE}?`);
    if (!existsSync(o.bindingDir)) throw new CudaSetupError(`${o.bindingDir}: no such folder; run npm ci first (onnxruntime-node is not installed)`);
    for (const f of CUDA_PROVIDER_LIBRARIES) {
      const partial = path.join(o.bindingDir, `.${f}.alignc-${process.pid}`);
      copyFileSync(path.join(from, f), partial);
      renameSync(partial, path.join(o.bindingDir, f));
    }
    return { bindingDir: o.bindingDir, installed: [...CUDA_PROVIDER_LIBRARIES], present, source: o.tarball ? tarball : `npm pack ${CUDA_PACKAGE}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
