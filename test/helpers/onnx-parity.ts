/**
 * Running a model before and after a graph rewrite on ONNX Runtime's CPU provider with the same
 * inputs, to compare what they compute.
 */
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

import { floatTensor, toFloat32 } from '../../src/diffusion/onnx-session.js';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/** Sizes for the symbolic dims the project's exports use; any other symbol gets 1. */
const SYMBOL_SIZES: Record<string, number> = { batch_size: 1, height: 8, width: 8, sequence_length: 77, steps: 1 };

/** Deterministic values in [-1, 1) (a small LCG: the same feeds on every run). */
function values(count: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/** One random tensor per graph input, shaped as the model declares (symbols sized by SYMBOL_SIZES or `sizes`). */
export function randomFeeds(model: Uint8Array, sizes: Record<string, number[]> = {}): Record<string, ort.Tensor> {
  const graph = onnx.ModelProto.decode(model).graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const feeds: Record<string, ort.Tensor> = {};
  (graph.input ?? []).filter((input) => !initializers.has(input.name)).forEach((input, i) => {
    const type = input.type!.tensorType!;
    const dims = sizes[input.name!] ?? (type.shape?.dim ?? []).map((d) => (d.dimParam ? (SYMBOL_SIZES[d.dimParam] ?? 1) : Number(d.dimValue)));
    const count = dims.reduce((a, b) => a * b, 1);
    const data = values(count, 7 + i);
    if (type.elemType === T.INT64) feeds[input.name!] = new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(Math.floor((v + 1) * 500))), dims);
    else if (type.elemType === T.INT32) feeds[input.name!] = new ort.Tensor('int32', Int32Array.from(data, (v) => Math.floor((v + 1) * 500)), dims);
    else if (/timestep/.test(input.name!)) feeds[input.name!] = floatTensor(type.elemType === T.FLOAT16 ? 'float16' : 'float32', data.map((v) => (v + 1) * 500), dims);
    else feeds[input.name!] = floatTensor(type.elemType === T.FLOAT16 ? 'float16' : 'float32', data, dims);
  });
  return feeds;
}

export interface OutputDifference {
  name: string;
  /** The largest |plain − optimized| over the output's elements. */
  maxAbsDifference: number;
  /** The largest |plain|, what the difference is measured against. */
  scale: number;
}

/**
 * Runs both models (bytes, or a path where external data must be found) and compares every
 * output: on the CPU, or each on its own device (bench/gpu runs the optimized graph on a GPU
 * against the plain one on the CPU).
 */
export async function compareRuns(plain: Uint8Array | string, optimized: Uint8Array | string, feeds: Record<string, ort.Tensor>, devices = { plain: 'cpu', optimized: 'cpu' }): Promise<OutputDifference[]> {
  const open = (model: Uint8Array | string, device: string) => {
    const options = { executionProviders: [device] };
    return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
  };
  const [a, b] = await Promise.all([open(plain, devices.plain), open(optimized, devices.optimized)]);
  try {
    const [outA, outB] = [await a.run(feeds), await b.run(feeds)];
    return a.outputNames.map((name) => {
      const [x, y] = [toFloat32(outA[name]!), toFloat32(outB[name]!)];
      let maxAbsDifference = x.length === y.length ? 0 : Infinity;
      let scale = 0;
      for (let i = 0; i < x.length; i++) {
        maxAbsDifference = Math.max(maxAbsDifference, Math.abs(x[i]! - y[i]!));
        scale = Math.max(scale, Math.abs(x[i]!));
      }
      return { name, maxAbsDifference, scale };
    });
  } finally {
    await Promise.all([a.release(), b.release()]);
  }
}

/** How many nodes of `opType` the model's main graph holds. */
export function countOps(model: Uint8Array, opType: string): number {
  return (onnx.ModelProto.decode(model).graph!.node ?? []).filter((node) => node.opType === opType).length;
}
