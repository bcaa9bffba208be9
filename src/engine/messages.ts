import type { GenerationParams } from '../diffusion/request.js';

/** Progress of one job, as the engine reports it (and GenerateImageStream forwards it). */
export interface Progress {
  stage: 'queued' | 'started' | 'loading_model' | 'text_encoded' | 'image_encoded' | 'sampling' | 'decoded' | 'hires_fix' | 'done';
  event: string;
  step: number;
  steps: number;
  batch: number;
  batches: number;
  queuePosition: number;
}

export interface GenerationResult {
  images: Uint8Array[];
  /** A1111-style info, as a JSON string. */
  info: string;
  events: string[];
  /** Sum of the ONNX Runtime run() times inside this job (the benchmark's denominator). */
  onnxRunMs: number;
  /** Set when this job loaded its model (not found loaded from an earlier job). */
  modelLoadMs?: number;
}

/** Why a job failed, in terms the gRPC layer maps to status codes. */
export type FailureKind = 'not_found' | 'invalid' | 'unsupported' | 'cancelled' | 'shutting_down' | 'too_large' | 'internal';

/**
 * modelBytes and workingBytes: the model's resident cost and the job's peak working memory (the
 * cache budgets both). 'cancel' stops the job at its next step.
 */
export type RunJob = { type: 'run'; jobId: number; params: GenerationParams; modelDir: string; modelName: string; modelBytes: number; workingBytes: number };
export type ToWorker = RunJob | { type: 'cancel'; jobId: number };

/** What the worker process is started with (its one argument, as JSON). */
export interface WorkerConfig {
  /** Which worker of its server this is (info names it). */
  index: number;
  device: string;
  gpu: number;
  memoryBudgetBytes: number;
  /** Load each model part optimized for its device (src/diffusion/optimized-graphs.ts). */
  graphOptimize: boolean;
}

/** Said after "model X loaded in N ms" when the cache held the folder before, from files since replaced. */
export const RELOADED_NOTE = ' (reloaded: its files changed on disk since it was last loaded)';

/** A change to the worker's model cache, with what is loaded after it (least recently used first). */
export type CacheChange = { change: 'loaded'; model: string; bytes: number; loadMs: number; device: string; replaced: boolean; fused: Record<string, Record<string, number>> } | { change: 'evicted'; model: string; bytes: number; for: string };

export type FromWorker =
  | { type: 'progress'; jobId: number; progress: Progress }
  | { type: 'cache'; jobId: number; event: CacheChange; resident: { name: string; bytes: number }[] }
  | { type: 'done'; jobId: number; result: GenerationResult }
  | { type: 'failed'; jobId: number; kind: FailureKind; message: string; field?: string };
