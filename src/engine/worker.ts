import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

import { LoadedModel } from '../diffusion/loaded-model.js';
import { runPipeline } from '../diffusion/pipeline.js';
import { UnknownSamplerError } from '../diffusion/samplers/registry.js';
import { PACKAGE_VERSION } from '../package-root.js';
import { CANCEL_REQUESTED, type FailureKind, type FromWorker, type ToWorker } from './messages.js';

/**
 * The generation worker: runs one job at a time with ONNX Runtime (whose run() blocks this
 * thread, not the server's). Loaded models stay for the next job; the least recently used one
 * is released when a new one would exceed MAX_LOADED_MODELS.
 */
const MAX_LOADED_MODELS = 2;
const { cancelFlag, device, gpu } = workerData as { cancelFlag: Int32Array; device: string; gpu: number };

// Lower this thread's scheduling priority before ONNX Runtime creates its thread pool, whose
// threads inherit it (on Linux, setpriority(0) applies to the calling thread only). Generation
// still takes every idle core, but the server's event loop wins the CPU the moment a call
// arrives: Echo, health checks and uploads stay fast during a generation.
const WORKER_NICENESS = 10;
try {
  os.setPriority(WORKER_NICENESS);
} catch {
  // Not permitted in some sandboxes; generation still works, only with equal priority.
}
const models = new Map<string, Promise<LoadedModel>>();

class Cancelled extends Error {}

async function loadModel(dir: string, name: string): Promise<LoadedModel> {
  let model = models.get(dir);
  if (model) {
    models.delete(dir); // re-insert: Map order is our LRU order
    models.set(dir, model);
    return model;
  }
  model = LoadedModel.load(dir, name, device, gpu);
  models.set(dir, model);
  model.catch(() => models.delete(dir));
  while (models.size > MAX_LOADED_MODELS) {
    const [oldest, evicted] = models.entries().next().value as [string, Promise<LoadedModel>];
    models.delete(oldest);
    void evicted.then((m) => m.release()).catch(() => undefined);
  }
  return model;
}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

function classify(error: unknown): { kind: FailureKind; message: string } {
  if (error instanceof Cancelled) return { kind: 'cancelled', message: 'the generation was cancelled' };
  if (error instanceof UnknownSamplerError) return { kind: 'invalid', message: error.message };
  return { kind: 'internal', message: error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error) };
}

parentPort!.on('message', async (message: ToWorker) => {
  const { jobId, params } = message;
  try {
    const checkCancelled = () => {
      if (Atomics.load(cancelFlag, 0) === CANCEL_REQUESTED) throw new Cancelled();
    };
    const cached = models.has(message.modelDir);
    if (!cached) post({ type: 'progress', jobId, progress: { stage: 'loading_model', event: `loading model ${message.modelName}`, step: 0, steps: 0, batch: 0, batches: params.batchCount, queuePosition: 0 } });
    const model = await loadModel(message.modelDir, message.modelName);
    checkCancelled();
    const result = await runPipeline(model, params, {
      version: PACKAGE_VERSION,
      checkCancelled,
      progress: (progress) => post({ type: 'progress', jobId, progress: { ...progress, queuePosition: 0 } }),
    });
    if (!cached) {
      result.events.unshift(`model ${message.modelName} loaded in ${model.loadMs.toFixed(0)} ms on ${model.device}`);
      result.modelLoadMs = model.loadMs;
    }
    // Own buffers for the transfer: a small Buffer may sit in Node's shared pool, which must not move.
    const images = result.images.map((image) => new Uint8Array(image));
    post({ type: 'done', jobId, result: { ...result, images } }, images.map((image) => image.buffer as ArrayBuffer));
  } catch (error) {
    post({ type: 'failed', jobId, ...classify(error) });
  }
});
