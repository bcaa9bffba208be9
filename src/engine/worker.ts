import fs from 'node:fs';
import os from 'node:os';

import { deviceError } from '../diffusion/device.js';
import { LoadedModel } from '../diffusion/loaded-model.js';
import { MEMORY_BUDGET_SETTING } from '../diffusion/memory-estimate.js';
import { modelFingerprint } from '../diffusion/model-fingerprint.js';
import { formatBytes } from '../util/format-bytes.js';
import { runPipeline } from '../diffusion/pipeline.js';
import { UnknownSamplerError } from '../diffusion/samplers/registry.js';
import { PACKAGE_VERSION } from '../util/package-root.js';
import { isOutOfMemory, ModelCache, ModelCacheFullError, type Acquired, type Resident } from './model-cache.js';
import { describeFused } from '../diffusion/optimized-graphs.js';
import { RELOADED_NOTE, type FailureKind, type FromWorker, type RunJob, type ToWorker, type WorkerConfig } from './messages.js';

/**
 * The generation worker: a child process of the server that runs one job at a time with ONNX
 * Runtime (whose run() blocks the thread that calls it). Loaded models stay for the next job in a
 * cache bounded by the memory budget, least recently used out; the model a job runs on is pinned
 * until it ends.
 *
 * A process rather than a worker thread: with ONNX Runtime's threads in the server's own process,
 * Echo's p99 during a generation was 10–18 ms; a dts-util server in another process, under the
 * same load, answered in 6–7 ms (bench/README.md). A crash in a native kernel also ends only this
 * process: the server reports the job as failed and starts a new worker for the next one.
 */
const { device, gpu, memoryBudgetBytes, graphOptimize, index } = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;

// Lower this process's scheduling priority, every thread of it, before ONNX Runtime creates its
// thread pool (whose threads inherit it: on Linux a priority belongs to a thread). Generation
// still takes every idle core, but the server wins the CPU the moment a call arrives.
const WORKER_NICENESS = 10;
function lowerPriority(): void {
  try {
    os.setPriority(WORKER_NICENESS);
  } catch {
    return; // not permitted in some sandboxes; generation still works, only with equal priority
  }
  // Node's own threads (GC helpers, libuv) started before this line; /proc lists them on Linux.
  const threads = fs.existsSync('/proc/self/task') ? fs.readdirSync('/proc/self/task') : [];
  for (const tid of threads) {
    try {
      os.setPriority(Number(tid), WORKER_NICENESS);
    } catch {
      // The thread ended meanwhile.
    }
  }
}
lowerPriority();
const models = new ModelCache<LoadedModel>(memoryBudgetBytes);

class Cancelled extends Error {}

/**
 * A message to the server. When the server is gone (its channel closed, or closing: EPIPE), there
 * is nobody left to tell: this process ends quietly instead of printing a stack into its log.
 */
function post(message: FromWorker): void {
  if (!process.connected) process.exit(0);
  process.send!(message, undefined, {}, (error) => {
    if (error) process.exit(0);
  });
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
async function acquireModel(message: RunJob, events: string[]): Promise<Acquired<LoadedModel>> {
  const { jobId, modelDir, modelName, params } = message;
  // Keyed by what the files are now, not only where: a folder whose files changed loads afresh.
  const spec = { key: `${modelDir}\0${modelFingerprint(modelDir)}`, folder: modelDir, name: modelName, bytes: message.modelBytes };
  const cached = models.has(spec.key);
  if (!cached) post({ type: 'progress', jobId, progress: { stage: 'loading_model', event: `loading model ${modelName}`, step: 0, steps: 0, batch: 0, batches: params.batchCount, queuePosition: 0 } });
  const onEvict = (victim: Resident) => {
    events.push(`evicted model ${victim.name} (${formatBytes(victim.bytes)}) to make room for ${modelName}: memory budget ${formatBytes(models.budgetBytes)}`);
    post({ type: 'cache', jobId, event: { change: 'evicted', model: victim.name, bytes: victim.bytes, for: modelName }, resident: models.resident() });
  };
  const acquired = await models.acquire(spec, message.workingBytes, () => LoadedModel.load(modelDir, modelName, device, gpu, { graphOptimize }), onEvict);
  const { model, loaded, replaced } = acquired;
  if (loaded) {
    const fused = describeFused(model.fused);
    events.push(`model ${modelName} loaded in ${model.loadMs.toFixed(0)} ms on ${model.device}${replaced ? RELOADED_NOTE : ''}${fused ? `; ${fused}` : ''}`);
    post({ type: 'cache', jobId, event: { change: 'loaded', model: modelName, bytes: spec.bytes, loadMs: model.loadMs, device: model.device, replaced, fused: model.fused }, resident: models.resident() });
  }
  return acquired;
}

/** The job the server last asked to stop; the running job looks here between steps. */
let cancelledJob: number | undefined;

// The server went away (crashed, killed): nobody is left to answer.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the terminal's whole process group, this worker too; but the server decides when
// it stops: the first Ctrl-C lets the running job finish, and the server ends this process itself.
process.on('SIGINT', () => undefined);

process.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') cancelledJob = message.jobId;
  else void run(message);
});

async function run(message: RunJob): Promise<void> {
  const { jobId, params } = message;
  let unpin: (() => void) | undefined;
  try {
    // A cancel message is read by this process's event loop: give it a turn, then look.
    const checkCancelled = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      if (cancelledJob === jobId) throw new Cancelled();
    };
    const cacheEvents: string[] = [];
    const { model, loaded, unpin: done } = await acquireModel(message, cacheEvents);
    unpin = done;
    await checkCancelled();
    const result = await runPipeline(model, params, {
      version: PACKAGE_VERSION,
      worker: index,
      checkCancelled,
      progress: (progress) => post({ type: 'progress', jobId, progress: { ...progress, queuePosition: 0 } }),
    });
    result.events.unshift(...cacheEvents);
    if (loaded) result.modelLoadMs = model.loadMs;
    post({ type: 'done', jobId, result });
  } catch (error) {
    post({ type: 'failed', jobId, ...classify(error) });
  } finally {
    unpin?.();
  }
}
