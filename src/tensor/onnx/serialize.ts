// Graph IR → ONNX ModelProto bytes (IR version 10, opset 21), through @bufbuild/protobuf and the generated
// ONNX schema of onnx-buf. Names are already unique model-wide (the builder guarantees it).
import { create, toBinary } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType as AT,
  type AttributeProto,
  AttributeProtoSchema,
  type GraphProto,
  GraphProtoSchema,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  type TensorProto,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from "onnx-buf";
import { ONNX_DTYPE } from "../ir/dtype.ts";
import type { Attr, ExternalTensorData, Graph, Tensor, TensorData } from "../ir/graph.ts";

export const IR_VERSION = 10;
export const OPSET = 21;

export interface ModelOptions {
  producerVersion?: string;
  /** Free-form key/value metadata stored in the model (e.g. the graph hash, parameter names). */
  metadata?: Record<string, string>;
}

export function serializeModel(graph: Graph, options: ModelOptions = {}): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(IR_VERSION),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(OPSET) })],
    producerName: "alignc",
    producerVersion: options.producerVersion ?? "",
    graph: graphProto(graph),
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  return toBinary(ModelProtoSchema, model);
}

function graphProto(g: Graph): GraphProto {
  return create(GraphProtoSchema, {
    name: g.name,
    node: g.nodes.map(nodeProto),
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
    initializer: [
      ...[...g.initializers].map(([t, data]) => tensorProto(t.name, data)),
      ...[...g.externalInitializers].map(([t, ref]) => externalTensorProto(t.name, ref)),
    ],
  });
}

/** The files a graph's external initializers read (their `location`s, each once, in first-use order). */
export function externalDataFiles(g: Graph): string[] {
  return [...new Set([...g.externalInitializers.values()].map((r) => r.location))];
}

/** A graph's external initializers, each with its name in this graph (names differ between programs, the data not). */
export function externalTensors(g: Graph): (ExternalTensorData & { name: string })[] {
  return [...g.externalInitializers].map(([t, ref]) => ({ name: t.name, ...ref }));
}

/** What `Runtime.load` needs to open a graph with external initializers read from `folder`. */
export function externalDataOf(g: Graph, folder: string): { folder: string; files: string[]; tensors: (ExternalTensorData & { name: string })[] } {
  return { folder, files: externalDataFiles(g), tensors: externalTensors(g) };
}

/** A TensorProto whose data is external: data_location EXTERNAL and the location, offset and length entries. */
export function externalTensorProto(name: string, ref: ExternalTensorData): TensorProto {
  const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
  return create(TensorProtoSchema, {
    name,
    dims: ref.shape.map(BigInt),
    dataType: ONNX_DTYPE[ref.dtype],
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [entry("location", ref.location), entry("offset", String(ref.offset)), entry("length", String(ref.length))],
  });
}

function valueInfo(t: Tensor): ValueInfoProto {
  const dim = t.shape.map((d) =>
    create(TensorShapeProto_DimensionSchema, { value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d } }),
  );
  const tensorType = create(TypeProto_TensorSchema, { elemType: ONNX_DTYPE[t.dtype], shape: create(TensorShapeProtoSchema, { dim }) });
  return create(ValueInfoProtoSchema, { name: t.name, type: create(TypeProtoSchema, { value: { case: "tensorType", value: tensorType } }) });
}

function nodeProto(n: Graph["nodes"][number]): NodeProto {
  return create(NodeProtoSchema, {
    name: n.name,
    opType: n.op,
    domain: n.domain,
    input: n.inputs.map((t) => t?.name ?? ""),
    output: n.outputs.map((t) => t.name),
    attribute: Object.entries(n.attrs).map(([name, a]) => attributeProto(name, a)),
  });
}

/** Little-endian raw bytes (every platform Node runs on is little-endian; the typed array's bytes are used as-is). */
export function tensorProto(name: string, data: TensorData): TensorProto {
  const view = data.data;
  const raw = new Uint8Array(view.byteLength);
  raw.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return create(TensorProtoSchema, { name, dims: data.shape.map(BigInt), dataType: ONNX_DTYPE[data.dtype], rawData: raw });
}

function attributeProto(name: string, a: Attr): AttributeProto {
  const base = { name };
  switch (a.type) {
    case "int":
      return create(AttributeProtoSchema, { ...base, type: AT.INT, i: BigInt(a.value) });
    case "float":
      return create(AttributeProtoSchema, { ...base, type: AT.FLOAT, f: a.value });
    case "string":
      return create(AttributeProtoSchema, { ...base, type: AT.STRING, s: new TextEncoder().encode(a.value) });
    case "ints":
      return create(AttributeProtoSchema, { ...base, type: AT.INTS, ints: a.value.map(BigInt) });
    case "floats":
      return create(AttributeProtoSchema, { ...base, type: AT.FLOATS, floats: a.value });
    case "tensor":
      return create(AttributeProtoSchema, { ...base, type: AT.TENSOR, t: tensorProto("", a.value) });
    case "graph":
      return create(AttributeProtoSchema, { ...base, type: AT.GRAPH, g: graphProto(a.value) });
  }
}
