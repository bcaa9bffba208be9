/**
 * Reading and writing ONNX ModelProto bytes with onnx-proto (protobufjs). Decoding keeps every
 * field the optimizer does not touch, external-data references among them, so a rewritten model
 * still finds its weights in the files beside it.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type Model = onnxProto.onnx.ModelProto;
export type Graph = onnxProto.onnx.IGraphProto;
export type Node = onnxProto.onnx.INodeProto;
export type Tensor = onnxProto.onnx.ITensorProto;

export function decodeModel(bytes: Uint8Array): Model {
  try {
    const model = onnx.ModelProto.decode(bytes);
    if (!model.graph) throw new Error('it has no graph');
    return model;
  } catch (error) {
    // protobufjs messages name offsets, not content, so they are safe to pass on.
    throw new Error(`not an ONNX model (${(error as Error).message}); re-export it as an ONNX ModelProto`);
  }
}

export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The opset version the model imports for `domain` ('' is the default ONNX domain). */
export function opsetVersion(model: Model, domain = ''): number | undefined {
  const entry = (model.opsetImport ?? []).find((o) => (o.domain ?? '') === domain || (domain === '' && o.domain === 'ai.onnx'));
  return entry ? Number(entry.version) : undefined;
}
