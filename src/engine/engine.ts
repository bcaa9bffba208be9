import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { withCudaLibraryPath } from '../diffusion/cuda-libraries.js';
import { budgetRefusal, estimatePeakBytes, modelResidentBytes } from '../diffusion/memory-estimate.js';
import type { GenerationParams } from '../diffusion/request.js';
import type { Logger } from '../log/logger.js';
import { DATADOG_KEY_ENV, SECRET_ENV } from '../config/settings.js';
import { GenerationError } from './errors.js';
import { resolveMemoryBudget, type MemoryBudget } from './memory-budget.js';
import type { Resident } from './model-cache.js';
import { describeFused } from '../diffusion/optimized-graphs.js';
import { RELOADED_NOTE, type CacheChange, type FromWorker, type GenerationResult, type Progress, type ToWorker, type WorkerConfig } from './messages.js';

export interface EngineOptions {
  logger: Logger;
  /** Jobs allowed to wait behind the running one; more is RESOURCE_EXHAUSTED. */
  maxQueue: number;
  /** Execution provider preference passed to the worker ('auto' | 'cpu' | 'cuda' | 'webgpu'). */
  device: string;
  /** CUDA device id. */
  gpu: number;
  /** Load model parts optimized for their device (serve --no-graph-optimize turns it off). */
  graphOptimize?: boolean;
  /** Folders the worker's loader needs for CUDA's libraries (the device probe found them); the loader reads LD_LIBRARY_PATH only at start. */
  libraryDirs?: string[];
  /** What loaded models plus the running job's working memory may take ("80%", "12GiB"); see ModelCache and resolveMemoryBudget. */
  memoryBudget: string;
  /** Told the queue depth whenever it changes, and how long a job waited when it starts (metrics). */
  onQueue?: (depth: number, waitMs?: number) => void;
}

export interface JobRequest {
  params: GenerationParams;
  modelDir: string;
  modelName: string;
  signal: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

interface Job extends JobRequest {
  id: number;
  modelBytes: number;
  workingBytes: number;
  queuedAt: number;
  resolve: (result: GenerationResult) => void;
  reject: (error: Error) => void;
}

/**
 * Runs generations one at a time in a worker process (worker.ts: ONNX Runtime's run() blocks the
 * thread that calls it, and its threads slow the server's own even on a free core, so they live
 * apart; the event loop stays free for Echo, health and uploads). Jobs wait in a bounded
 * queue; a cancelled job leaves the queue at once, or stops the running one at its next step.
 * The worker keeps loaded models between jobs within the memory budget; a job that could never
 * fit in it is refused here, before it waits or loads anything.
 */
export class Engine {
  private readonly queue: Job[] = [];
  private running: Job | undefined;
  private worker: ChildProcess | undefined;
  private nextId = 1;
  private closed = false;
  private resident: Resident[] = [];
  readonly memoryBudget: MemoryBudget;

  constructor(private readonly options: EngineOptions) {
    this.memoryBudget = resolveMemoryBudget(options.memoryBudget, options.device, options.gpu);
  }

  /** Jobs waiting (not counting the running one). */
  get queueDepth(): number {
    return this.queue.length;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Models the worker holds now, least recently used first. */
  get loadedModels(): Resident[] {
    return this.resident;
  }

  /** The worker process's pid, while one runs (started by the first job). */
  get workerPid(): number | undefined {
    return this.worker?.pid;
  }

  get memoryBudgetBytes(): number {
    return this.memoryBudget.bytes;
  }

  generate(request: JobRequest): Promise<GenerationResult> {
    if (this.closed) return Promise.reject(new GenerationError('shutting_down', 'the server is shutting down'));
    if (request.signal.aborted) return Promise.reject(new GenerationError('cancelled', 'the request was cancelled'));
    // Folder sizes and the attention estimate cost a few stat() calls: cheap enough for every request.
    const modelBytes = modelResidentBytes(request.modelDir);
    const workingBytes = estimatePeakBytes(request.params, request.modelDir);
    const refusal = budgetRefusal(request.modelName, modelBytes, workingBytes, this.memoryBudgetBytes);
    if (refusal) return Promise.reject(new GenerationError('too_large', refusal));
    if (this.running && this.queue.length >= this.options.maxQueue) {
      return Promise.reject(new GenerationError('too_large', `the generation queue is full (${this.options.maxQueue} waiting); try again when it drains`));
    }
    return new Promise((resolve, reject) => {
      const job: Job = { ...request, id: this.nextId++, modelBytes, workingBytes, queuedAt: performance.now(), resolve, reject };
      request.signal.addEventListener('abort', () => this.cancel(job), { once: true });
      this.queue.push(job);
      this.reportQueue();
      this.pump();
    });
  }

  /** Stops taking jobs, cancels what waits and what runs, and ends the worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new GenerationError('shutting_down', 'the server is shutting down'));
    const worker = this.worker;
    this.worker = undefined;
    if (worker && isAlive(worker)) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.ref(); // until it is gone: a caller awaiting close() may have nothing else keeping it alive
      worker.kill();
      await exited;
    }
  }

  private cancel(job: Job): void {
    const index = this.queue.indexOf(job);
    if (index >= 0) {
      this.queue.splice(index, 1);
      job.reject(new GenerationError('cancelled', 'the request was cancelled while it waited'));
      this.reportQueue();
    } else if (this.running === job) {
      // The worker sees this between steps and answers 'failed' with kind 'cancelled'.
      this.worker?.send({ type: 'cancel', jobId: job.id } satisfies ToWorker);
    }
  }

  private reportQueue(): void {
    this.options.onQueue?.(this.queue.length);
    this.queue.forEach((job, position) =>
      job.onProgress?.({ stage: 'queued', event: `queued: ${position + (this.running ? 1 : 0)} ahead`, step: 0, steps: 0, batch: 0, batches: job.params.batchCount, queuePosition: position + (this.running ? 1 : 0) }),
    );
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    this.reportQueue();
    this.options.onQueue?.(this.queue.length, performance.now() - job.queuedAt);
    const run: ToWorker = { type: 'run', jobId: job.id, params: job.params, modelDir: job.modelDir, modelName: job.modelName, modelBytes: job.modelBytes, workingBytes: job.workingBytes };
    this.ensureWorker().send(run);
  }

  private ensureWorker(): ChildProcess {
    if (this.worker) return this.worker;
    const config: WorkerConfig = { device: this.options.device, gpu: this.options.gpu, memoryBudgetBytes: this.memoryBudgetBytes, graphOptimize: this.options.graphOptimize ?? true };
    const worker = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [JSON.stringify(config)], {
      // Structured clone over the channel: typed arrays (the PNGs) arrive as they were sent.
      serialization: 'advanced',
      // Not the server's node flags (a --trace-gc there is about the server), and nothing on its stdout (the JSON log).
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: withCudaLibraryPath(withoutSecrets(process.env), { dirs: this.options.libraryDirs ?? [] }),
    });
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => {
      this.options.logger.error('generation worker failed', { error });
      if (this.worker === worker) this.worker = undefined;
      if (isAlive(worker)) worker.kill();
      this.finish(undefined, new GenerationError('internal', 'the generation worker failed; see the server log'));
    });
    worker.on('exit', (code, signal) => {
      if (this.worker === worker) this.worker = undefined;
      this.resident = []; // a new worker starts with nothing loaded
      if (this.closed) return this.finish(undefined, new GenerationError('shutting_down', 'the server is shutting down'));
      if (signal || code) this.options.logger.error('generation worker exited', { code, signal });
      if (this.running) this.finish(undefined, new GenerationError('internal', `the generation worker exited (${signal ?? `code ${code}`}); see the server log`));
    });
    // The server may exit without close() (a second Ctrl-C, an uncaught error): its worker must
    // not outlive it, computing a job nobody will read until its next step notices.
    const killWithServer = () => worker.kill('SIGKILL');
    process.once('exit', killWithServer);
    worker.once('exit', () => process.off('exit', killWithServer));
    // Neither the process nor its channel keeps the server alive: the server decides when to stop.
    worker.unref();
    worker.channel?.unref();
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'cache') return this.onCacheChange(message.event, message.resident);
    const job = this.running;
    if (!job || job.id !== message.jobId) return;
    if (message.type === 'progress') job.onProgress?.(message.progress);
    else if (message.type === 'done') this.finish(message.result);
    else this.finish(undefined, new GenerationError(message.kind, message.message, message.field));
  }

  private onCacheChange(event: CacheChange, resident: Resident[]): void {
    this.resident = resident;
    const loaded = resident.map((m) => m.name);
    if (event.change === 'loaded') {
      const fused = describeFused(event.fused);
      this.options.logger.info(`model ${event.model} loaded in ${event.loadMs.toFixed(0)} ms${event.replaced ? RELOADED_NOTE : ''}${fused ? `; ${fused}` : ''}`, { model: event.model, device: event.device, loadMs: Math.round(event.loadMs), bytes: event.bytes, loaded, fused: event.fused });
    } else {
      this.options.logger.info(`evicted model ${event.model} to make room: loading ${event.for} would exceed the memory budget`, { model: event.model, bytes: event.bytes, for: event.for, memoryBudgetBytes: this.memoryBudgetBytes, loaded });
    }
  }

  private finish(result: GenerationResult | undefined, error?: Error): void {
    const job = this.running;
    this.running = undefined;
    if (job) {
      if (error) job.reject(error);
      else job.resolve(result!);
    }
    this.pump();
  }
}

function isAlive(worker: ChildProcess): boolean {
  return worker.exitCode === null && worker.signalCode === null;
}

/** Variables that may hold a secret: the worker needs none of them (it reads models, nothing else). */
const SECRET_VARIABLES = [SECRET_ENV, DATADOG_KEY_ENV, 'DATADOG_API_KEY', 'HF_TOKEN'];

function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = { ...env };
  for (const name of SECRET_VARIABLES) delete kept[name];
  return kept;
}
