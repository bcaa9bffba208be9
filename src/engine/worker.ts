import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

import { deviceError } from '../diffusion/device.js';
import { LoadedModel } from '../diffusion/loaded-model.js';
import { formatBytes, MEMORY_BUDGET_SETTING } from '../diffusion/memory-estimate.js';
import { runPipeline } from '../diffusion/pipeline.js';
import { UnknownSamplerError } from '../diffusion/samplers/registry.js';
import { PACKAGE_VERSION } from '../package-root.js';
import { isOutOfMemory, ModelCache, ModelCacheFullError, type Resident } from './model-cache.js';
import { CANCEL_REQUESTED, type FailureKind, type FromWorker, type ToWorker } from './messages.js';

/**
 * The generation worker: runs one job at a time with ONNX Runtime (whose run() blocks this
 * thread, not the server's). Loaded models stay for the next job in a cache bounded by the
 * memory budget, least recently used out; the model a job runs on is pinned until it ends.
 */
const { cancelFlag, device, gpu, memoryBudgetBytes } = workerData as { cancelFlag: Int32Array; device: string; gpu: number; memoryBudgetBytes: number };

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
const models = new ModelCache<LoadedModel>(memoryBudgetBytes);

class Cancelled extends Error {}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

function classify(error: unknown): { kind: FailureKind; message: string } {
  if (error instanceof Cancelled) return { kind: 'cancelled', message: 'the generation was cancelled' };
  if (error instanceof UnknownSamplerError) return { kind: 'invalid', message: error.message };
  if (error instanceof ModelCacheFullError) return { kind: 'too_large', message: error.message };
  if (isOutOfMemory(error)) {
    const reason = deviceError(error);
    return { kind: 'too_large', message: `the generation ran out of memory (${reason}): lower width/height or batch_size, or lower ${MEMORY_BUDGET_SETTING} so that fewer models stay loaded beside it` };
  }
  return { kind: 'internal', message: error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error) };
}

/** The job's model from the cache, or loaded (after evictions), each change told to the engine and the job's events. */
async function acquireModel(message: ToWorker, events: string[]): Promise<{ model: LoadedModel; loaded: boolean }> {
  const { jobId, modelDir, modelName, params } = message;
  const spec = { key: modelDir, name: modelName, bytes: message.modelBytes };
  const cached = models.has(modelDir);
  if (!cached) post({ type: 'progress', jobId, progress: { stage: 'loading_model', event: `loading model ${modelName}`, step: 0, steps: 0, batch: 0, batches: params.batchCount, queuePosition: 0 } });
  const onEvict = (victim: Resident) => {
    events.push(`evicted model ${victim.name} (${formatBytes(victim.bytes)}) to make room for ${modelName}: memory budget ${formatBytes(models.budgetBytes)}`);
    post({ type: 'cache', jobId, event: { change: 'evicted', model: victim.name, bytes: victim.bytes, for: modelName }, resident: models.resident() });
  };
  const { model, loaded } = await models.acquire(spec, message.workingBytes, () => LoadedModel.load(modelDir, modelName, device, gpu), onEvict);
  if (loaded) {
    events.push(`model ${modelName} loaded in ${model.loadMs.toFixed(0)} ms on ${model.device}`);
    post({ type: 'cache', jobId, event: { change: 'loaded', model: modelName, bytes: spec.bytes, loadMs: model.loadMs, device: model.device }, resident: models.resident() });
  }
  return { model, loaded };
}

parentPort!.on('message', async (message: ToWorker) => {
  const { jobId, params } = message;
  let pinned = false;
  try {
    const checkCancelled = () => {
      if (Atomics.load(cancelFlag, 0) === CANCEL_REQUESTED) throw new Cancelled();
    };
    const cacheEvents: string[] = [];
    const { model, loaded } = await acquireModel(message, cacheEvents);
    pinned = true;
    checkCancelled();
    const result = await runPipeline(model, params, {
      version: PACKAGE_VERSION,
      checkCancelled,
      progress: (progress) => post({ type: 'progress', jobId, progress: { ...progress, queuePosition: 0 } }),
    });
    result.events.unshift(...cacheEvents);
    if (loaded) result.modelLoadMs = model.loadMs;
    // Own buffers for the transfer: a small Buffer may sit in Node's shared pool, which must not move.
    const images = result.images.map((image) => new Uint8Array(image));
    post({ type: 'done', jobId, result: { ...result, images } }, images.map((image) => image.buffer as ArrayBuffer));
  } catch (error) {
    post({ type: 'failed', jobId, ...classify(error) });
  } finally {
    if (pinned) models.unpin(message.modelDir);
  }
});
