import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { withCudaLibraryPath } from '../diffusion/cuda-libraries.js';
import { describeFused } from '../diffusion/optimized-graphs.js';
import type { GenerationParams } from '../diffusion/request.js';
import { DATADOG_KEY_ENV, SECRET_ENV } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { GenerationError } from './errors.js';
import type { Resident } from './model-cache.js';
import { RELOADED_NOTE, type CacheChange, type FromWorker, type GenerationResult, type Progress, type ToWorker, type WorkerConfig } from './messages.js';

/** A job as a worker runs it. */
export interface SlotJob {
  id: number;
  params: GenerationParams;
  modelDir: string;
  modelName: string;
  modelBytes: number;
  workingBytes: number;
  onProgress?: (progress: Progress) => void;
}

/** What Echo, ServerStatus, `dts-util test` and the metrics say about one worker. */
export interface WorkerState {
  /** 0, 1, …: the order of `--gpus` (or of `--workers`). */
  index: number;
  device: string;
  gpu: number;
  busy: boolean;
  pid: number | undefined;
  loadedModels: Resident[];
  memoryBudgetBytes: number;
  /** Times its process ended with a job still running (a crash, a kill) and was replaced. */
  restarts: number;
}

export interface WorkerSlotOptions {
  index: number;
  device: string;
  gpu: number;
  memoryBudgetBytes: number;
  graphOptimize: boolean;
  libraryDirs: string[];
  logger: Logger;
  /** Told when this worker's job ends, whichever way; the engine then gives it the next one. */
  onFinished: (slot: WorkerSlot, job: SlotJob, result: GenerationResult | undefined, error?: Error) => void;
}

/**
 * One generation worker process (worker.ts) and the job it runs: ONNX Runtime's run() blocks the
 * thread that calls it, and its threads slow the server's own, so generation lives apart from the
 * event loop. The process starts with its first job and stays, with its loaded models, for the
 * next; one that dies fails only its own job, and the next job starts a fresh one.
 */
export class WorkerSlot {
  private worker: ChildProcess | undefined;
  private job: SlotJob | undefined;
  private resident: Resident[] = [];
  private restarts = 0;
  private closed = false;

  constructor(private readonly options: WorkerSlotOptions) {}

  get busy(): boolean {
    return this.job !== undefined;
  }

  get index(): number {
    return this.options.index;
  }

  get memoryBudgetBytes(): number {
    return this.options.memoryBudgetBytes;
  }

  /** Whether this worker has the model loaded now (a job for it starts without a load). */
  holds(modelName: string): boolean {
    return this.resident.some((m) => m.name === modelName);
  }

  state(): WorkerState {
    const { index, device, gpu, memoryBudgetBytes } = this.options;
    return { index, device, gpu, busy: this.busy, pid: this.worker?.pid, loadedModels: this.resident, memoryBudgetBytes, restarts: this.restarts };
  }

  run(job: SlotJob): void {
    this.job = job;
    const run: ToWorker = { type: 'run', jobId: job.id, params: job.params, modelDir: job.modelDir, modelName: job.modelName, modelBytes: job.modelBytes, workingBytes: job.workingBytes };
    this.ensureWorker().send(run);
  }

  /** Asks the worker to stop the job at its next step; it answers 'failed' with kind 'cancelled'. */
  cancel(jobId: number): void {
    if (this.job?.id === jobId) this.worker?.send({ type: 'cancel', jobId } satisfies ToWorker);
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker && isAlive(worker)) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.ref(); // until it is gone: a caller awaiting close() may have nothing else keeping it alive
      worker.kill();
      await exited;
    }
  }

  private ensureWorker(): ChildProcess {
    if (this.worker) return this.worker;
    const { device, gpu, memoryBudgetBytes, graphOptimize, libraryDirs, index } = this.options;
    const config: WorkerConfig = { device, gpu, memoryBudgetBytes, graphOptimize, index };
    const worker = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [JSON.stringify(config)], {
      // Structured clone over the channel: typed arrays (the PNGs) arrive as they were sent.
      serialization: 'advanced',
      // Not the server's node flags (a --trace-gc there is about the server), and nothing on its stdout (the JSON log).
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: withCudaLibraryPath(withoutSecrets(process.env), { dirs: libraryDirs }),
    });
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => {
      this.options.logger.error('generation worker failed', { worker: index, error });
      if (this.worker === worker) this.worker = undefined;
      if (isAlive(worker)) worker.kill();
      this.finish(undefined, new GenerationError('internal', 'the generation worker failed; see the server log'));
    });
    worker.on('exit', (code, signal) => {
      if (this.worker === worker) this.worker = undefined;
      this.resident = []; // a new worker starts with nothing loaded
      if (this.closed) return this.finish(undefined, new GenerationError('shutting_down', 'the server is shutting down'));
      if (signal || code) this.options.logger.error('generation worker exited', { worker: index, code, signal });
      if (this.job) {
        this.restarts++;
        this.finish(undefined, new GenerationError('internal', `the generation worker exited (${signal ?? `code ${code}`}); see the server log`));
      }
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
    const job = this.job;
    if (!job || job.id !== message.jobId) return;
    if (message.type === 'progress') job.onProgress?.(message.progress);
    else if (message.type === 'done') this.finish(message.result);
    else this.finish(undefined, new GenerationError(message.kind, message.message, message.field));
  }

  private onCacheChange(event: CacheChange, resident: Resident[]): void {
    this.resident = resident;
    const loaded = resident.map((m) => m.name);
    const worker = this.options.index;
    if (event.change === 'loaded') {
      const fused = describeFused(event.fused);
      this.options.logger.info(`model ${event.model} loaded in ${event.loadMs.toFixed(0)} ms${event.replaced ? RELOADED_NOTE : ''}${fused ? `; ${fused}` : ''}`, { worker, model: event.model, device: event.device, loadMs: Math.round(event.loadMs), bytes: event.bytes, loaded, fused: event.fused });
    } else {
      this.options.logger.info(`evicted model ${event.model} to make room: loading ${event.for} would exceed the memory budget`, { worker, model: event.model, bytes: event.bytes, for: event.for, memoryBudgetBytes: this.options.memoryBudgetBytes, loaded });
    }
  }

  private finish(result: GenerationResult | undefined, error?: Error): void {
    const job = this.job;
    this.job = undefined;
    if (job) this.options.onFinished(this, job, result, error);
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
