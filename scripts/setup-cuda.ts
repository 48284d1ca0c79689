// `npm run setup:cuda [-- --from FILE.tgz] [--force]`: installs ONNX Runtime's CUDA 13 provider libraries next to
// onnxruntime-node's binding (src/runtime/engine/cuda-setup.ts), then says how to check them (`alignc doctor`).
import { parseArgs } from "node:util";
import { CUDA_PACKAGE, CudaSetupError, installCudaProviders } from "../src/runtime/engine/cuda-setup.ts";
import { bindingDir } from "../src/runtime/engine/providers.ts";

const { values } = parseArgs({ options: { from: { type: "string" }, force: { type: "boolean" } } });
if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(`setup:cuda: ${CUDA_PACKAGE} has Linux x64 libraries only; this is ${process.platform} ${process.arch}`);
  process.exit(1);
}
const dir = bindingDir();
if (!dir) {
  console.error("setup:cuda: onnxruntime-node's binding folder was not found; run npm ci first");
  process.exit(1);
}
try {
  const r = await installCudaProviders({ bindingDir: dir, tarball: values.from, force: values.force === true });
  if (r.installed.length === 0) console.log(`setup:cuda: the CUDA provider libraries are already in ${r.bindingDir} (--force to replace them)`);
  else console.log(`setup:cuda: installed ${r.installed.join(", ")} from ${r.source} into ${r.bindingDir}`);
  console.log("Check with `npx alignc doctor` (it loads the CUDA provider and runs the gradient checks on it).");
} catch (e) {
  if (!(e instanceof CudaSetupError)) throw e;
  console.error(`setup:cuda: ${e.message}`);
  process.exit(1);
}
