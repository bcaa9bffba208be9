import { budgetRefusal, estimatePeakBytes, modelResidentBytes } from '../diffusion/memory-estimate.js';
import type { GenerationParams } from '../diffusion/request.js';
import type { Logger } from '../log/logger.js';
import { GenerationError } from './errors.js';
import { resolveMemoryBudget, type MemoryBudget } from './memory-budget.js';
import type { Resident } from './model-cache.js';
import type { GenerationResult, Progress } from './messages.js';
import { WorkerSlot, type SlotJob, type WorkerState } from './worker-slot.js';

export interface EngineOptions {
  logger: Logger;
  /** Jobs allowed to wait while every worker is busy; more is RESOURCE_EXHAUSTED. */
  maxQueue: number;
  /** Execution provider preference passed to the worker ('auto' | 'cpu' | 'cuda' | 'webgpu'). */
  device: string;
  /** CUDA device id of the one worker, when `gpus` names none. */
  gpu: number;
  /**
   * One generation worker per entry, on that CUDA device id (`serve --gpus 0,1,2,3`, or
   * `--workers N` for N entries of one id). Default: one worker on `gpu`. Workers that share a
   * device (the CPU, or one GPU) share its memory budget equally.
   */
  gpus?: number[];
  /** Load model parts optimized for their device (serve --no-graph-optimize turns it off). */
  graphOptimize?: boolean;
  /** Folders the worker's loader needs for CUDA's libraries (the device probe found them); the loader reads LD_LIBRARY_PATH only at start. */
  libraryDirs?: string[];
  /** What loaded models plus the running job's working memory may take ("80%", "12GiB"); see ModelCache and resolveMemoryBudget. */
  memoryBudget: string;
  /** Told the queue depth whenever it changes, and how long a job waited when it starts (metrics). */
  onQueue?: (depth: number, waitMs?: number) => void;
  /** Told which workers are busy whenever one starts or ends a job (metrics). */
  onWorkers?: (busy: boolean[]) => void;
}

export interface JobRequest {
  params: GenerationParams;
  modelDir: string;
  modelName: string;
  signal: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

interface Job extends JobRequest, SlotJob {
  queuedAt: number;
  resolve: (result: GenerationResult) => void;
  reject: (error: Error) => void;
}

/**
 * Runs generations in worker processes (worker-slot.ts), one job at a time each: one worker by
 * default, one per GPU with `gpus`. Jobs wait in one bounded queue and go to the first free worker,
 * one that has the job's model loaded first; a cancelled job leaves the queue at once, or stops
 * at its next step. Each worker keeps loaded models between jobs within its memory budget; a job
 * that could never fit in one is refused here, before it waits or loads anything.
 */
export class Engine {
  private readonly queue: Job[] = [];
  private readonly running = new Map<WorkerSlot, Job>();
  private readonly slots: WorkerSlot[];
  private nextId = 1;
  private closed = false;
  /** The budget as configured, for the first worker's device; each worker's share is in `workers`. */
  readonly memoryBudget: MemoryBudget;

  constructor(private readonly options: EngineOptions) {
    const gpus = options.gpus && options.gpus.length > 0 ? options.gpus : [options.gpu];
    this.memoryBudget = resolveMemoryBudget(options.memoryBudget, options.device, gpus[0]!);
    // On the CPU every worker shares the machine's memory; on a GPU, those on the same card share it.
    const sharing = (gpu: number) => (options.device.split(',')[0] === 'cpu' ? gpus.length : gpus.filter((g) => g === gpu).length);
    this.slots = gpus.map(
      (gpu, index) =>
        new WorkerSlot({
          index,
          device: options.device,
          gpu,
          memoryBudgetBytes: Math.floor(resolveMemoryBudget(options.memoryBudget, options.device, gpu).bytes / sharing(gpu)),
          graphOptimize: options.graphOptimize ?? true,
          libraryDirs: options.libraryDirs ?? [],
          logger: options.logger,
          onFinished: (slot, _job, result, error) => this.finish(slot, result, error),
        }),
    );
  }

  /** Jobs waiting (not counting running ones). */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Whether any worker runs a job. */
  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Every worker: device, busy or idle, loaded models. */
  get workers(): WorkerState[] {
    return this.slots.map((slot) => slot.state());
  }

  /** Models the first worker holds now, least recently used first. */
  get loadedModels(): Resident[] {
    return this.slots[0]!.state().loadedModels;
  }

  /** The first worker's pid, while its process runs (started by its first job). */
  get workerPid(): number | undefined {
    return this.slots[0]!.state().pid;
  }

  /** The largest budget a worker has: what one job may need at most. */
  get memoryBudgetBytes(): number {
    return Math.max(...this.slots.map((slot) => slot.memoryBudgetBytes));
  }

  generate(request: JobRequest): Promise<GenerationResult> {
    if (this.closed) return Promise.reject(new GenerationError('shutting_down', 'the server is shutting down'));
    if (request.signal.aborted) return Promise.reject(new GenerationError('cancelled', 'the request was cancelled'));
    // Folder sizes and the attention estimate cost a few stat() calls: cheap enough for every request.
    const modelBytes = modelResidentBytes(request.modelDir);
    const workingBytes = estimatePeakBytes(request.params, request.modelDir);
    const refusal = budgetRefusal(request.modelName, modelBytes, workingBytes, this.memoryBudgetBytes);
    if (refusal) return Promise.reject(new GenerationError('too_large', refusal));
    if (this.running.size === this.slots.length && this.queue.length >= this.options.maxQueue) {
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

  /** Stops taking jobs, cancels what waits and what runs, and ends the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new GenerationError('shutting_down', 'the server is shutting down'));
    await Promise.all(this.slots.map((slot) => slot.close()));
  }

  private cancel(job: Job): void {
    const index = this.queue.indexOf(job);
    if (index >= 0) {
      this.queue.splice(index, 1);
      job.reject(new GenerationError('cancelled', 'the request was cancelled while it waited'));
      this.reportQueue();
      return;
    }
    for (const [slot, running] of this.running) if (running === job) slot.cancel(job.id);
  }

  private reportQueue(): void {
    this.options.onQueue?.(this.queue.length);
    // Position 0 is next; a job ahead is one waiting before it, and every worker is busy.
    this.queue.forEach((job, position) => {
      const ahead = position + this.running.size - (this.slots.length - 1);
      job.onProgress?.({ stage: 'queued', event: `queued: ${Math.max(ahead, 0)} ahead`, step: 0, steps: 0, batch: 0, batches: job.params.batchCount, queuePosition: Math.max(ahead, 0) });
    });
  }

  private pump(): void {
    while (!this.closed && this.queue.length > 0) {
      const idle = this.slots.filter((slot) => !this.running.has(slot));
      if (idle.length === 0) return;
      const job = this.queue.shift()!;
      // A worker that has the model loaded starts at once; another would load it first.
      const slot = idle.find((s) => s.holds(job.modelName)) ?? idle[0]!;
      this.running.set(slot, job);
      this.reportQueue();
      this.options.onQueue?.(this.queue.length, performance.now() - job.queuedAt);
      slot.run(job);
      this.reportWorkers();
    }
  }

  private reportWorkers(): void {
    this.options.onWorkers?.(this.slots.map((slot) => this.running.has(slot)));
  }

  private finish(slot: WorkerSlot, result: GenerationResult | undefined, error?: Error): void {
    const job = this.running.get(slot);
    this.running.delete(slot);
    if (job) {
      if (error) job.reject(error);
      else job.resolve(result!);
    }
    this.reportWorkers();
    this.pump();
  }
}
