import { SERVICE_NAME } from '../util/package-root.js';
import { checkHealth, type Connection } from './client.js';
import { runCheck, type Check } from './check-result.js';

/** grpc.health.v1 for the whole server and for the image service: both must be SERVING. */
export function checkHealthStatus(connection: Connection, timeoutMs: number): Promise<Check> {
  return runCheck('health', timeoutMs, async () => {
    const overall = await checkHealth(connection, '', timeoutMs);
    const service = await checkHealth(connection, SERVICE_NAME, timeoutMs);
    if (overall !== 'SERVING' || service !== 'SERVING') throw new Error(`health is ${overall} (server) / ${service} (${SERVICE_NAME})`);
    return { detail: 'SERVING' };
  });
}
