// The engine of onnxruntime-node's own binding: sessions from `ort.InferenceSession.create`, CPU tensors in and out.
// It reaches the CUDA provider with the device id only (docs/cuda-engine.md), so it refuses CUDA settings it cannot
// pass rather than ignore them.
import * as ort from "onnxruntime-node";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { type CudaSettings, type Engine, type EngineSession, isResident, type SessionSettings, type Value } from "./engine.ts";
import { fromOrtTensor, toOrtTensor } from "./tensors.ts";

/** CUDA settings the binding applies (ONNX Runtime's own defaults); anything else needs the C-API engine. */
export const BINDING_CUDA: Readonly<CudaSettings> = {
  arenaGrowth: "power-of-two",
  memoryLimit: 0,
  tf32: true,
  sharedArena: false,
  shrinkArena: false,
  arenaMaxDeadBytes: 0,
};

export const bindingEngine: Engine = {
  name: "binding",
  async create(model: Uint8Array, s: SessionSettings): Promise<EngineSession> {
    const differs = (Object.keys(BINDING_CUDA) as (keyof CudaSettings)[]).filter((k) => s.cuda[k] !== BINDING_CUDA[k]);
    if (s.provider === "cuda" && differs.length > 0)
      throw new RangeError(`onnxruntime-node's binding cannot set the CUDA provider's ${differs.join(", ")}; use the C-API engine (engine: "capi")`);
    if (s.shareWeights) throw new RangeError('onnxruntime-node\'s binding cannot share weights between sessions; use the C-API engine (engine: "capi")');
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: s.provider === "cuda" ? [{ name: "cuda", deviceId: s.deviceId }] : ["cpu"],
      graphOptimizationLevel: s.graphOptimizationLevel,
      logSeverityLevel: s.logSeverity,
      executionMode: s.interOpThreads > 1 ? "parallel" : "sequential",
    };
    if (s.intraOpThreads > 0) sessionOptions.intraOpNumThreads = s.intraOpThreads;
    if (s.interOpThreads > 0) sessionOptions.interOpNumThreads = s.interOpThreads;
    if (s.profilePrefix) {
      sessionOptions.enableProfiling = true;
      sessionOptions.profileFilePrefix = s.profilePrefix;
    }
    // Flattened by onnxruntime-node into "session.intra_op.allow_spinning" and so on, ONNX Runtime's config keys.
    const session: Record<string, unknown> = {};
    if (!s.spinning) Object.assign(session, { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } });
    if (s.externalFolder !== undefined) session.model_external_initializers_file_folder_path = s.externalFolder;
    if (Object.keys(session).length > 0) sessionOptions.extra = { session };
    const created = await ort.InferenceSession.create(model, sessionOptions);
    return {
      inputNames: [...created.inputNames],
      outputNames: [...created.outputNames],
      inputs: created.inputMetadata.map((m) =>
        m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] } : { name: m.name, isTensor: false, type: "", shape: [] },
      ),
      async run(feeds: Record<string, Value>, outputs: readonly string[]): Promise<Record<string, TensorData>> {
        const ortFeeds: Record<string, ort.Tensor> = {};
        for (const [name, feed] of Object.entries(feeds)) {
          // Resident tensors come from the C-API engine only; a caller that mixes engines has a bug.
          if (isResident(feed)) throw new Error(`feed "${name}" is resident in another engine's memory; onnxruntime-node's binding takes CPU tensors`);
          ortFeeds[name] = toOrtTensor(feed, `feed "${name}"`);
        }
        const result = await created.run(ortFeeds, [...outputs]);
        const out: Record<string, TensorData> = {};
        for (const name of outputs) {
          const value = result[name];
          if (!value) throw new Error(`ONNX Runtime returned no value for output "${name}"`);
          out[name] = fromOrtTensor(value as ort.Tensor, `output "${name}"`);
        }
        return out;
      },
      // onnxruntime-node does not expose ONNX Runtime's allocator counters.
      arenaStats: () => undefined,
      endProfiling: async () => {
        await created.endProfiling();
      },
      release: () => created.release(),
    };
  },
};
