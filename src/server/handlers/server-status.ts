import type { ServerSettings } from '../../config/settings.js';
import type { Engine } from '../../engine/engine.js';
import type { ServerStatusResponse } from '../../generated/image_generation.js';
import type { IntakeStats } from '../../log/datadog-intake.js';
import { agentAddress } from '../../metrics/address.js';
import { PACKAGE_VERSION } from '../../util/package-root.js';

/** Where metrics go, as a user would write it ('' when off or unusable). */
function metricsAgent(settings: ServerSettings, env: NodeJS.ProcessEnv): string {
  if (!settings.metrics) return '';
  const result = agentAddress(env);
  if (!result.ok) return '';
  return result.address.protocol === 'udp' ? `udp://${result.address.host}:${result.address.port}` : `unix://${result.address.path}`;
}

/** ServerStatus: settings in force (the device chosen at start-up, not the one asked for) and the state of monitoring, without any secret. */
export function serverStatus(settings: ServerSettings, device: string, engine: Engine, logStats: () => IntakeStats | undefined, env: NodeJS.ProcessEnv = process.env) {
  return async (): Promise<ServerStatusResponse> => {
    const logs = logStats();
    return {
      version: PACKAGE_VERSION,
      device,
      metricsEnabled: settings.metrics,
      metricsAgent: metricsAgent(settings, env),
      datadogLogs: logs !== undefined,
      datadogLogsLastAccepted: logs?.lastAcceptedAt ?? '',
      datadogLogsLastStatus: logs?.lastStatus ?? 0,
      datadogLogsLastError: logs?.lastError ?? '',
      datadogLogsDroppedLines: logs?.droppedLines ?? 0,
      queueDepth: engine.queueDepth,
      generating: engine.busy,
      memoryBudgetBytes: engine.memoryBudgetBytes,
      loadedModels: engine.loadedModels.map(({ name, bytes }) => ({ name, bytes })),
      workers: engine.workers.map((w) => ({ index: w.index, device: w.device, gpu: w.gpu, busy: w.busy, memoryBudgetBytes: w.memoryBudgetBytes, loadedModels: w.loadedModels.map(({ name, bytes }) => ({ name, bytes })), restarts: w.restarts })),
    };
  };
}
