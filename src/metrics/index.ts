import { agentAddress } from './address.js';
import { createNoopMetrics } from './noop.js';
import { createStatsdMetrics } from './statsd.js';
import { globalTags } from './tags.js';
import { UDS_REMEDY, unixDgramProblem } from './uds.js';
import type { Metrics, MetricsOptions } from './types.js';

export type { GenerationMetrics, Metrics, MetricsOptions } from './types.js';
export { metricsInterceptor } from './interceptor.js';
export { globalTags, sanitizeTagValue, tag } from './tags.js';
export { agentAddress, type AgentAddress } from './address.js';

const DEFAULT_SERVICE_CHECK_MS = 15_000;

/**
 * Datadog metrics through DogStatsD. Disabled, or with an agent address that cannot be used (one
 * warning says why and what to do), this is a no-op; it never throws and never slows a caller.
 */
export function createMetrics(options: MetricsOptions): Metrics {
  if (!options.enabled) return createNoopMetrics();
  const { logger } = options;
  const resolved = agentAddress(options.env);
  if (!resolved.ok) {
    logger.warn('metrics disabled: the DogStatsD agent address is unusable', { problem: resolved.problem, remedy: 'set DD_DOGSTATSD_URL=udp://host:port, or DD_AGENT_HOST and DD_DOGSTATSD_PORT' });
    return createNoopMetrics();
  }
  const { address } = resolved;
  if (address.protocol === 'uds') {
    const problem = unixDgramProblem();
    if (problem) {
      logger.warn('metrics disabled: DogStatsD over a unix socket needs unix-dgram', { socket: address.path, problem, remedy: UDS_REMEDY });
      return createNoopMetrics();
    }
  }
  try {
    return createStatsdMetrics({
      address,
      globalTags: globalTags({ env: options.env, ...(options.device ? { device: options.device } : {}) }),
      logger,
      serviceCheckIntervalMs: options.serviceCheckIntervalMs ?? DEFAULT_SERVICE_CHECK_MS,
    });
  } catch (error) {
    logger.warn('metrics disabled: the DogStatsD client could not start', {
      problem: error instanceof Error ? error.message : String(error),
      ...(address.protocol === 'uds' ? { remedy: UDS_REMEDY } : {}),
    });
    return createNoopMetrics();
  }
}
