import type { EchoResponse } from '../generated/image_generation.js';
import { median } from '../util/median.js';
import { unaryCall, type Connection } from './client.js';
import { roundMs, runCheck, type Check } from './check-result.js';

/** Enough round trips for a median that one slow call (the first one connects) does not skew. */
export const ECHO_CALLS = 5;

/**
 * Echo, several times in a row: proves the service answers and shows its latency, and the device
 * the server chose at start-up and why (Echo's extension fields; absent from other servers).
 */
export function checkEcho(connection: Connection, timeoutMs: number, calls = ECHO_CALLS): Promise<Check> {
  return runCheck('echo', timeoutMs, async () => {
    const latencies: number[] = [];
    let reply: EchoResponse | undefined;
    for (let i = 0; i < calls; i++) {
      const started = performance.now();
      reply = await unaryCall(connection.service, connection.service.echo, {}, timeoutMs);
      latencies.push(performance.now() - started);
      if (reply.message !== 'HELLO') throw new Error(`Echo answered ${JSON.stringify(reply.message)} instead of "HELLO"`);
    }
    const latencyMs = { calls, p50: roundMs(median(latencies)), max: roundMs(Math.max(...latencies)) };
    const device = reply?.device ? { chosen: reply.device, reason: reply.deviceReason, found: reply.devices } : undefined;
    const workers = reply?.workers ?? [];
    const detail = `Echo answered HELLO ${calls} times: p50 ${latencyMs.p50} ms, max ${latencyMs.max} ms${device ? `; device ${device.chosen} (${device.reason})` : ''}${workers.length > 1 ? `; ${workers.length} workers (${workers.join('; ')})` : ''}`;
    // durationMs is the typical round trip, the figure comparable between runs and servers.
    return { detail, durationMs: latencyMs.p50, latencyMs, ...(device ? { device } : {}), ...(workers.length > 0 ? { workers } : {}) };
  });
}
