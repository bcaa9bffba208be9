import os from 'node:os';

import * as ort from 'onnxruntime-node';

import { deviceError } from './device.js';
import { fromHalfBits, toHalfBits } from './float16.js';

export type TensorType = 'float32' | 'float16' | 'int32' | 'int64';

/** Creates a session for a model file on one device. Tests stand in for a GPU with their own. */
export type SessionOpener = (file: string, device: string, gpu: number) => Promise<ort.InferenceSession>;

/** Settings of ONNX Runtime's WebGPU provider (layout, validation, buffer caches) that bench/gpu measures one by one. */
export type WebGpuSettings = Omit<ort.InferenceSession.WebGpuExecutionProviderOption, 'name'>;

/** Opens sessions with the project's settings; `webgpu` adds provider settings for WebGPU sessions. */
export function deviceOpener(webgpu: WebGpuSettings = {}): SessionOpener {
  return (file, device, gpu) =>
    ort.InferenceSession.create(file, {
      executionProviders: [device === 'cuda' ? { name: 'cuda', deviceId: gpu } : device === 'webgpu' ? { name: 'webgpu', ...webgpu } : device],
      graphOptimizationLevel: 'all',
      // ORT's default counts physical cores, which on these VMs' vCPUs can be half of what we
      // may use; measured on 2 vCPUs: 2 threads take 350 ms per UNet step where 1 takes 635.
      intraOpNumThreads: os.availableParallelism(),
      // ORT's worker threads spin between operators by default, holding every core even while
      // waiting; the server's event loop (Echo, health, uploads) then waits for a time slice.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
}

export const openOnDevice: SessionOpener = deviceOpener();

/** A session plus what the pipeline needs to know about it, read from its metadata. */
export interface ModelSession {
  session: ort.InferenceSession;
  device: string;
  inputs: Map<string, { type: TensorType; shape: readonly (number | string)[] }>;
  outputNames: readonly string[];
  /** Set by the first run that worked: from then on a failure is the request's, not the device's. */
  proven: boolean;
  /** What a fallback needs: the file, the devices after this one, where reasons go, how to open. */
  fallback: { file: string; devices: string[]; fallbacks: string[]; gpu: number; open: SessionOpener };
}

/** Accumulates the wall time spent inside ONNX Runtime's run() (the overhead benchmark divides by it). */
export class RunClock {
  totalMs = 0;
  async run(model: ModelSession, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    const started = performance.now();
    try {
      return model.proven ? await model.session.run(feeds) : await firstRun(model, feeds);
    } finally {
      this.totalMs += performance.now() - started;
    }
  }
}

/** How to fall back from a session opened from a rewritten graph (the graph optimizer's) to its source. */
export interface Rewrite {
  /** Opens the graph the rewrite was made from, on the same device. */
  reopenSource(): Promise<ort.InferenceSession>;
  /** Called once the source ran where the rewrite failed, with why the rewrite failed. */
  sourceRan(reason: string): void;
}

/** Sessions opened from a rewrite. Set by the opener that chose it; read by firstRun. */
const rewrites = new WeakMap<ort.InferenceSession, Rewrite>();

export function openedFromRewrite(session: ort.InferenceSession, rewrite: Rewrite): ort.InferenceSession {
  rewrites.set(session, rewrite);
  return session;
}

/**
 * A rewritten graph whose first run failed gets its source graph on the same device, with the
 * same feeds, before any other device is tried: a fused kernel can refuse at run time what the
 * plain operators run. Undefined when the session was not a rewrite or the source fails too.
 */
async function runSource(model: ModelSession, feeds: Record<string, ort.Tensor>, error: unknown): Promise<ort.InferenceSession.OnnxValueMapType | undefined> {
  const rewrite = rewrites.get(model.session);
  if (!rewrite) return undefined;
  let source: ort.InferenceSession;
  try {
    source = await rewrite.reopenSource();
  } catch {
    return undefined;
  }
  try {
    const out = await source.run(feeds);
    const failed = model.session;
    model.session = source;
    model.proven = true;
    const reason = deviceError(error);
    model.fallback.fallbacks.push(`${model.device}: the optimized graph failed its first run (${reason}); running the model's own graph`);
    rewrite.sourceRan(reason);
    await failed.release().catch(() => undefined);
    return out;
  } catch {
    await source.release().catch(() => undefined);
    return undefined;
  }
}

/**
 * A session's first run. A GPU can open a session and still fail its first run (a kernel its
 * driver lacks, out of memory): then the next device opens the same file and runs the same feeds.
 * The switch is kept, and its reason recorded, only if that run works; if it fails too, the
 * inputs were at fault rather than the device, so the session stays and the caller sees the
 * first error. The ModelSession changes in place, so whoever holds it uses the new device.
 */
async function firstRun(model: ModelSession, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  try {
    const out = await model.session.run(feeds);
    model.proven = true;
    return out;
  } catch (error) {
    const fromSource = await runSource(model, feeds, error);
    if (fromSource) return fromSource;
    const { file, devices, fallbacks, gpu, open } = model.fallback;
    if (devices.length === 0) throw error;
    const attempts: string[] = [];
    let next: ModelSession;
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      next = await openSession(file, devices, attempts, gpu, open);
    } catch {
      throw error;
    }
    try {
      out = await firstRun(next, feeds);
    } catch {
      await next.session.release().catch(() => undefined);
      throw error;
    }
    const failed = model.session;
    fallbacks.push(`${model.device}: first run failed: ${deviceError(error)}`, ...attempts);
    Object.assign(model, next, { fallback: { ...next.fallback, fallbacks } });
    await failed.release().catch(() => undefined);
    return out;
  }
}

/** Opens an ONNX file on the first device that accepts it; `fallbacks` says why others did not. */
export async function openSession(file: string, devices: string[], fallbacks: string[], gpu = 0, open: SessionOpener = openOnDevice): Promise<ModelSession> {
  let lastError: unknown;
  for (const [i, device] of devices.entries()) {
    try {
      const session = await open(file, device, gpu);
      const inputs = new Map<string, { type: TensorType; shape: readonly (number | string)[] }>();
      for (const meta of session.inputMetadata) {
        if (meta.isTensor) inputs.set(meta.name, { type: meta.type as TensorType, shape: meta.shape });
      }
      return { session, device, inputs, outputNames: session.outputNames, proven: false, fallback: { file, devices: devices.slice(i + 1), fallbacks, gpu, open } };
    } catch (error) {
      lastError = error;
      // Every part of a model fails the same way on a device that cannot start: say it once.
      const reason = `${device}: ${deviceError(error)}`;
      if (i < devices.length - 1 && !fallbacks.includes(reason)) fallbacks.push(reason);
    }
  }
  throw lastError;
}

/** The input whose name is one of `names` (exports differ), else the first input. */
export function inputNamed(model: ModelSession, names: string[]): { name: string; type: TensorType; shape: readonly (number | string)[] } {
  for (const name of names) {
    const meta = model.inputs.get(name);
    if (meta) return { name, ...meta };
  }
  throw new Error(`the model has none of the inputs ${names.join(', ')} (it has ${[...model.inputs.keys()].join(', ')})`);
}

/** A float tensor in whatever float type the model wants. */
export function floatTensor(type: TensorType, data: Float32Array, dims: number[]): ort.Tensor {
  if (type === 'float16') {
    const bits = toHalfBits(data);
    const tensor = new ort.Tensor('float16', bits, dims);
    // onnxruntime-common wraps the bits in a Float16Array where the runtime has one (Node 24),
    // and onnxruntime-node 1.30's native binding then finds no data ("not enough space"): give it
    // back the raw 16-bit words it reads. The generate-export-variants test covers this path.
    (tensor as unknown as { cpuData: Uint16Array }).cpuData = bits;
    return tensor;
  }
  return new ort.Tensor('float32', data, dims);
}

/** An integer tensor in whatever integer type the model wants. */
export function intTensor(type: TensorType, values: number[], dims: number[]): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(values), dims);
  return floatTensor(type, Float32Array.from(values), dims);
}

/** Output data as float32, whatever the model produced (float16 comes as Float16Array on Node 24, raw bits on 22). */
export function toFloat32(tensor: ort.Tensor): Float32Array {
  const data = tensor.data;
  if (data instanceof Float32Array) return data;
  if (typeof Float16Array !== 'undefined' && data instanceof Float16Array) return Float32Array.from(data as unknown as ArrayLike<number>);
  if (data instanceof Uint16Array) return fromHalfBits(data);
  throw new Error(`unexpected output type ${tensor.type}`);
}
