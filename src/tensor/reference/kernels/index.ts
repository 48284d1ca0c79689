// The kernel table: op type → reference kernel (default ONNX domain only).
import type { Kernel } from "../kernel.ts";
import { controlKernels } from "./control.ts";
import { elementwiseKernels } from "./elementwise.ts";
import { gatherKernels } from "./gather.ts";
import { linalgKernels } from "./linalg.ts";
import { nnKernels } from "./nn.ts";
import { reduceKernels } from "./reduce.ts";
import { shapeKernels } from "./shape.ts";

export const kernels: ReadonlyMap<string, Kernel> = new Map(
  Object.entries({ ...elementwiseKernels, ...linalgKernels, ...shapeKernels, ...gatherKernels, ...reduceKernels, ...nnKernels, ...controlKernels }),
);
