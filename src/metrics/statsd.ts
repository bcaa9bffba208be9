import { StatsD, type ClientOptions } from 'hot-shots';

import { isLoopbackHost } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { AgentAddress } from './address.js';
import { CallBatch, packValues } from './call-batch.js';
import { queueInLinearTime } from './linear-queue.js';
import { finite } from './reportable.js';
import { tag } from './tags.js';
import type { GenerationMetrics, Metrics } from './types.js';

/** Calls batch into one datagram, which goes out when full and at least every FLUSH_MS. */
const FLUSH_MS = 500;
/** A datagram that fits one 1500-byte MTU: the most a remote agent over UDP gets. */
const MTU_DATAGRAM_BYTES = 1432;
/** The agent's default read buffer (dogstatsd_buffer_size): the most any datagram may carry. */
const AGENT_BUFFER_BYTES = 8192;

/**
 * How full a datagram may get. Over a Unix socket or to a loopback address nothing fragments, so
 * up to the agent's 8 KiB buffer (Datadog's advice for buffering clients): a sixth of the sends
 * that one MTU would take, which was most of the metrics' cost per call. A remote agent over UDP
 * gets one MTU, so no datagram is fragmented or dropped on the way.
 */
export function datagramBytes(address: AgentAddress): number {
  if (address.protocol === 'uds' || isLoopbackHost(address.host)) return AGENT_BUFFER_BYTES;
  return MTU_DATAGRAM_BYTES;
}
const OK = 0;
const REQUESTS = 'dts.grpc.requests';
const REQUEST_DURATION = 'dts.grpc.request.duration';
/** Values per line even when the tags leave almost no room: the line then goes alone, over the size. */
const MIN_VALUE_BYTES = 32;

export interface StatsdMetricsOptions {
  address: AgentAddress;
  globalTags: string[];
  logger: Logger;
  serviceCheckIntervalMs: number;
}

/** hot-shots options: fire-and-forget, DogStatsD format, nothing taken from process.env behind our back. */
export function clientOptions(address: AgentAddress, globalTags: string[], errorHandler: (error: Error) => void): ClientOptions {
  return {
    ...(address.protocol === 'udp' ? { protocol: 'udp', host: address.host, port: address.port } : { protocol: 'uds', path: address.path }),
    globalTags,
    includeDataDogTags: false,
    datadog: true,
    originDetection: false,
    includeDatadogTelemetry: false,
    aggregation: false,
    maxBufferSize: datagramBytes(address),
    bufferFlushInterval: FLUSH_MS,
    errorHandler,
  };
}

/** Metrics through a hot-shots client (throws only if the client cannot be built). */
export function createStatsdMetrics({ address, globalTags, logger, serviceCheckIntervalMs }: StatsdMetricsOptions): Metrics {
  let reported = false;
  const swallow = (error: Error) => {
    if (reported) return;
    reported = true;
    logger.debug('metrics: DogStatsD send failed; further send errors are not logged', { error: error.message });
  };
  const client = new StatsD(clientOptions(address, globalTags, swallow));
  if (!queueInLinearTime(client)) logger.debug('metrics: hot-shots changed shape; its datagram queue is left as it is');
  let closed = false;
  let closing: Promise<void> | undefined;

  /** Never lets a metric call throw into the caller (a request handler). */
  const guard =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      if (closed) return;
      try {
        fn(...args);
      } catch (error) {
        swallow(error instanceof Error ? error : new Error(String(error)));
      }
    };

  // Per-call metrics go out once per flush: one count and packed durations per (method, code).
  const calls = new CallBatch();
  const maxDatagram = datagramBytes(address);
  const flushCalls = guard(() => {
    for (const { method, code, count, durationsMs } of calls.drain()) {
      const tags = [tag('method', method), tag('code', code)];
      client.increment(REQUESTS, count, tags);
      // Room for the values once the name, type and every tag (the global ones too) are on the line.
      const fixedBytes = Buffer.byteLength(`${REQUEST_DURATION}:|d|#${[...globalTags, ...tags].join(',')}`);
      for (const packed of packValues(durationsMs, Math.max(maxDatagram - fixedBytes, MIN_VALUE_BYTES))) {
        // hot-shots writes the value as given (`name:value|d`); a packed string is DogStatsD 1.1's multi-value line.
        client.distribution(REQUEST_DURATION, packed as unknown as number, tags);
      }
    }
  });
  const callTimer = setInterval(flushCalls, FLUSH_MS);
  callTimer.unref();

  const tick = guard(() => {
    client.check('dts.can_connect', OK);
    const memory = process.memoryUsage();
    client.gauge('dts.process.memory.rss', memory.rss);
    client.gauge('dts.process.memory.heap_used', memory.heapUsed);
  });
  tick();
  const timer = setInterval(tick, serviceCheckIntervalMs);
  timer.unref();

  return {
    call: guard((method: string, code: string, durationMs: number) => calls.record(method, code, durationMs)),
    upload: guard((bytes: number, ok: boolean) => {
      const tags = [tag('result', ok ? 'ok' : 'failed')];
      if (finite(bytes)) client.increment('dts.upload.bytes', bytes, tags);
      client.increment('dts.upload.count', 1, tags);
      if (!ok) client.increment('dts.upload.failures', 1, tags);
    }),
    generation: guard((model: string, result: GenerationMetrics) => {
      const modelTag = tag('model', model);
      if (finite(result.images)) client.increment('dts.images.generated', result.images, [modelTag]);
      const samplingMs = result.timingsMs.sampling;
      if (finite(result.steps) && samplingMs !== undefined && finite(samplingMs) && samplingMs > 0) {
        client.distribution('dts.sampling.steps_per_second', result.steps / (samplingMs / 1000), [modelTag]);
      }
      for (const [stage, ms] of Object.entries(result.timingsMs)) {
        if (finite(ms)) client.distribution('dts.stage.duration', ms, [modelTag, tag('stage', stage)]);
      }
    }),
    queue: guard((depth: number, waitMs?: number) => {
      if (finite(depth)) client.gauge('dts.queue.depth', depth);
      if (waitMs !== undefined && finite(waitMs)) client.distribution('dts.queue.wait', waitMs);
    }),
    workers: guard((busy: readonly boolean[]) => {
      client.gauge('dts.workers.busy', busy.filter(Boolean).length);
      client.gauge('dts.workers.total', busy.length);
      busy.forEach((b, index) => client.gauge('dts.worker.busy', b ? 1 : 0, [tag('worker', String(index))]));
    }),
    modelLoaded: guard((model: string, ms: number) => {
      if (finite(ms)) client.distribution('dts.model.load_time', ms, [tag('model', model)]);
    }),
    close: () => {
      if (closing) return closing;
      flushCalls();
      closed = true;
      clearInterval(timer);
      clearInterval(callTimer);
      closing = new Promise<void>((resolve) => {
        try {
          client.close((error) => {
            if (error) swallow(error);
            resolve();
          });
        } catch (error) {
          swallow(error instanceof Error ? error : new Error(String(error)));
          resolve();
        }
      });
      return closing;
    },
  };
}
