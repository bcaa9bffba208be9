import type { Metrics } from './types.js';

/** Metrics that go nowhere: no socket, no timer. */
export function createNoopMetrics(): Metrics {
  return {
    call: () => undefined,
    upload: () => undefined,
    generation: () => undefined,
    queue: () => undefined,
    workers: () => undefined,
    modelLoaded: () => undefined,
    close: () => Promise.resolve(),
  };
}
