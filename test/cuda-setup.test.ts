// npm run setup:cuda's installer, on package tarballs made here (no registry, no GPU needed): the two provider
// libraries land next to the binding, atomically; a wrong tarball or folder is a clear error.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { CudaSetupError, installCudaProviders } from "../src/runtime/engine/cuda-setup.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-cuda-setup-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A .tgz laid out like the npm package, holding `files` (name → content) in package/Plugins/Linux/x64/. */
function tarball(name: string, files: Record<string, string>): string {
  const root = path.join(dir, `${name}-src`);
  const plugins = path.join(root, "package", "Plugins", "Linux", "x64");
  mkdirSync(plugins, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(plugins, f), text);
  const out = path.join(dir, `${name}.tgz`);
  const r = spawnSync("tar", ["czf", out, "-C", root, "package"]);
  assert.equal(r.status, 0, String(r.stderr));
  return out;
}

const both = { "libonnxruntime_providers_cuda.so": "cuda v1", "libonnxruntime_providers_shared.so": "shared v1" };

test("installs both libraries next to the binding, then leaves them unless forced", async () => {
  const binding = path.join(dir, "binding");
  mkdirSync(binding);
  writeFileSync(path.join(binding, "libonnxruntime.so.1"), "core");
  const first = await installCudaProviders({ bindingDir: binding, tarball: tarball("good", both) });
  assert.deepEqual(first.installed, ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"]);
  assert.equal(readFileSync(path.join(binding, "libonnxruntime_providers_cuda.so"), "utf8"), "cuda v1");
  assert.deepEqual(readdirSync(binding).sort(), ["libonnxruntime.so.1", "libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"]);
  const v2 = tarball("v2", { "libonnxruntime_providers_cuda.so": "cuda v2", "libonnxruntime_providers_shared.so": "shared v2" });
  const again = await installCudaProviders({ bindingDir: binding, tarball: v2 });
  assert.deepEqual(again.installed, []);
  assert.equal(readFileSync(path.join(binding, "libonnxruntime_providers_cuda.so"), "utf8"), "cuda v1");
  await installCudaProviders({ bindingDir: binding, tarball: v2, force: true });
  assert.equal(readFileSync(path.join(binding, "libonnxruntime_providers_cuda.so"), "utf8"), "cuda v2");
});

test("a tarball without the libraries, a missing file, a missing binding folder: clear errors, nothing copied", async () => {
  const binding = path.join(dir, "binding2");
  mkdirSync(binding);
  await assert.rejects(
    installCudaProviders({ bindingDir: binding, tarball: tarball("half", { "libonnxruntime_providers_shared.so": "x" }) }),
    (e: Error) => e instanceof CudaSetupError && /has no libonnxruntime_providers_cuda\.so in Plugins\/Linux\/x64\//.test(e.message),
  );
  assert.deepEqual(readdirSync(binding), []);
  await assert.rejects(installCudaProviders({ bindingDir: binding, tarball: path.join(dir, "nope.tgz") }), /nope\.tgz: no such file/);
  writeFileSync(path.join(dir, "junk.tgz"), "not a tarball");
  await assert.rejects(installCudaProviders({ bindingDir: binding, tarball: path.join(dir, "junk.tgz") }), /is not a readable \.tgz/);
  await assert.rejects(installCudaProviders({ bindingDir: path.join(dir, "absent"), tarball: tarball("ok", both) }), /no such folder; run npm ci first/);
});
