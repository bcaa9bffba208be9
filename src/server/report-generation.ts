import type { GenerationResult } from '../engine/messages.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/index.js';

/** Timings the pipeline reports in info.timings_ms, by the stage names metrics use. */
const STAGES: Record<string, string> = { text_encode_ms: 'text_encode', sampling_ms: 'sampling', decode_ms: 'decode', png_ms: 'png' };

/**
 * A finished generation as metrics (images, sampling steps — one event each —, stage times, model
 * load) and as one log line with the model and device, under the call's request id.
 */
export function reportGeneration(metrics: Metrics, logger: Logger, model: string, result: GenerationResult, requestId: string): void {
  const info = JSON.parse(result.info) as { timings_ms?: Record<string, number>; device?: string; device_fallbacks?: string[]; seed?: number };
  const timings = info.timings_ms ?? {};
  const timingsMs = Object.fromEntries(Object.entries(STAGES).flatMap(([key, stage]) => (timings[key] === undefined ? [] : [[stage, timings[key]!]])));
  const steps = result.events.filter((event) => / sampling: /.test(event)).length;
  metrics.generation(model, { images: result.images.length, steps, timingsMs });
  if (result.modelLoadMs !== undefined) metrics.modelLoaded(model, result.modelLoadMs);
  // Where a faster device failed (to open, or on its first run), say why on every generation it slows.
  const fallbacks = info.device_fallbacks?.length ? { deviceFallbacks: info.device_fallbacks } : {};
  logger[info.device_fallbacks?.length ? 'warn' : 'info']('generation', { requestId, model, device: info.device, ...fallbacks, images: result.images.length, steps, seed: info.seed, durationMs: timings.total_ms, onnxRunMs: timings.onnx_run_ms });
}
