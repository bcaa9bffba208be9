import type { Logger } from '../log/logger.js';

export interface MetricsOptions {
  /** false → a no-op implementation: nothing sent, no socket opened. */
  enabled: boolean;
  /**
   * Read for DD_AGENT_HOST (default 127.0.0.1), DD_DOGSTATSD_PORT (8125), DD_DOGSTATSD_URL
   * (udp://host:port wins over both; unix:///path needs unix-dgram), DD_SERVICE (default 'dts-util'),
   * DD_ENV (tag only when set), DD_VERSION (default PACKAGE_VERSION). Nothing else is read from it.
   */
  env: NodeJS.ProcessEnv;
  /** One warn line when the agent address is unusable; send errors go to debug, once. */
  logger: Logger;
  /** The `device:` tag (e.g. cpu, cuda:0). */
  device?: string;
  /** How often the `dts.can_connect` service check and the memory gauges go out (default 15000 ms). */
  serviceCheckIntervalMs?: number;
}

export interface GenerationMetrics {
  images: number;
  steps: number;
  /** Milliseconds per stage: text_encode, sampling, decode, png (others are sent too, under their own stage tag). */
  timingsMs: Record<string, number>;
}

export interface Metrics {
  /** dts.grpc.requests (count) and dts.grpc.request.duration (distribution, ms), tags method:, code:; sent per flush, not per call. */
  call(method: string, code: string, durationMs: number): void;
  /** dts.upload.bytes and dts.upload.count (counts, tag result:ok|failed), dts.upload.failures (count) when !ok. */
  upload(bytes: number, ok: boolean): void;
  /** dts.images.generated (count), dts.sampling.steps_per_second (distribution), dts.stage.duration (distribution, tag stage:). */
  generation(model: string, result: GenerationMetrics): void;
  /** dts.queue.depth (gauge), dts.queue.wait (distribution, ms) when waitMs is given. */
  queue(depth: number, waitMs?: number): void;
  /** dts.workers.busy and dts.workers.total (gauges), and dts.worker.busy (gauge, 0 or 1, tag worker:N) for each worker. */
  workers(busy: readonly boolean[]): void;
  /** dts.model.load_time (distribution, ms), tag model:. */
  modelLoaded(model: string, ms: number): void;
  /** Stops the timer, flushes what is buffered and closes the socket; idempotent. */
  close(): Promise<void>;
}
