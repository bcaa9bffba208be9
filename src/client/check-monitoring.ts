import type { ServerStatusRequest, ServerStatusResponse } from '../generated/image_generation.js';
import { CheckFailure, runCheck, type Check } from './check-result.js';
import { unaryCall, type Connection } from './client.js';

/**
 * ServerStatus: whether metrics and Datadog log shipping are configured, and whether the intake
 * accepted the last batch. A key the intake refuses (401/403) fails the check: nothing will ever
 * arrive. Other intake trouble is reported but passes (Datadog may be down for a while).
 */
export function checkMonitoring(connection: Connection, timeoutMs: number): Promise<Check> {
  return runCheck('monitoring', timeoutMs, async () => {
    const s = await unaryCall<ServerStatusRequest, ServerStatusResponse>(connection.service, connection.service.serverStatus, {}, timeoutMs);
    const metrics = s.metricsEnabled ? `metrics to ${s.metricsAgent || 'an unusable agent address (see the server log)'}` : 'metrics off';
    let logs = 'Datadog logs not configured';
    if (s.datadogLogs) {
      if (s.datadogLogsLastStatus === 401 || s.datadogLogsLastStatus === 403) {
        throw new CheckFailure(`${metrics}; Datadog refused the API key (HTTP ${s.datadogLogsLastStatus}): check DD_API_KEY and DD_SITE`);
      }
      logs = s.datadogLogsLastAccepted
        ? `Datadog logs: last batch accepted at ${s.datadogLogsLastAccepted}`
        : `Datadog logs: no batch accepted yet${s.datadogLogsLastError ? ` (${s.datadogLogsLastError})` : ''}`;
      if (s.datadogLogsDroppedLines > 0) logs += `, ${s.datadogLogsDroppedLines} lines dropped`;
    }
    return { detail: `${metrics}; ${logs}` };
  });
}
