// The op constructors, one import for model code: `import * as op from ".../tensor/ops/index.ts"`. (The registry
// entries each family file exports beside its constructors are read through registry.ts.)

export * from "./binary.ts";
export { Builder, builderOf } from "./builder.ts";
export * from "./control.ts";
export * from "./gather.ts";
export * from "./linalg.ts";
export * from "./nn.ts";
export * from "./random.ts";
export * from "./reduce.ts";
export * from "./shape-ops.ts";
export * from "./slice.ts";
export * from "./unary.ts";
