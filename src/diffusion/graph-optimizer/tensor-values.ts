/**
 * The values of small constant tensors (shapes, scales, zero addends) as plain numbers. Weights
 * are never read: a tensor stored outside the model, or larger than the caller allows, reads as
 * undefined, and the pattern that needed it simply does not match.
 */
import { halfBitsToFloat } from '../float16.js';
import { onnx, type Tensor } from './model-proto.js';

const T = onnx.TensorProto.DataType;

export function tensorDims(tensor: Tensor): number[] {
  return (tensor.dims ?? []).map(Number);
}

function elementCount(tensor: Tensor): number {
  return tensorDims(tensor).reduce((a, b) => a * b, 1);
}

export function isExternal(tensor: Tensor): boolean {
  return tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** The tensor's values, or undefined when they are external, too many, or of a type this does not read. */
export function tensorValues(tensor: Tensor, maxElements: number): number[] | undefined {
  const count = elementCount(tensor);
  if (isExternal(tensor) || count > maxElements) return undefined;
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const read = (size: number, get: (offset: number) => number, field: ArrayLike<unknown> | null | undefined): number[] | undefined => {
    if (view) return view.byteLength === count * size ? Array.from({ length: count }, (_, i) => get(i * size)) : undefined;
    const values = Array.from(field ?? [], Number);
    return values.length === count ? values : undefined;
  };
  switch (tensor.dataType) {
    case T.FLOAT: return read(4, (o) => view!.getFloat32(o, true), tensor.floatData);
    case T.DOUBLE: return read(8, (o) => view!.getFloat64(o, true), tensor.doubleData);
    case T.FLOAT16: {
      const bits = read(2, (o) => view!.getUint16(o, true), tensor.int32Data);
      return bits?.map(halfBitsToFloat);
    }
    case T.INT64: return read(8, (o) => Number(view!.getBigInt64(o, true)), tensor.int64Data);
    case T.INT32: return read(4, (o) => view!.getInt32(o, true), tensor.int32Data);
    default: return undefined;
  }
}
