import os from 'node:os';

import type { ServerSettings } from '../config/settings.js';
import { PACKAGE_VERSION } from '../util/package-root.js';
import { DatadogLogShipper, type IntakeStats } from './datadog-intake.js';
import { createLogger, type Logger, type LogLevel } from './logger.js';

export interface ServerLogging {
  logger: Logger;
  /** Flushes what is queued for Datadog (bounded), then stops. */
  close(): Promise<void>;
  /** Where logs go besides standard output, for the start-up line. */
  destinations: string[];
  /** The Datadog shipper's counters, undefined when logs are not shipped. */
  stats(): IntakeStats | undefined;
}

/**
 * The server's logger: JSON lines on standard output (journald, launchd's log files), and with a
 * Datadog API key also Datadog's HTTP log intake, batched and off the request path. Secrets are
 * registered for redaction before the first line is written.
 */
export function createServerLogging(settings: ServerSettings, level: LogLevel, env: NodeJS.ProcessEnv = process.env): ServerLogging {
  const shipper = settings.datadogApiKey
    ? new DatadogLogShipper({
        apiKey: settings.datadogApiKey,
        site: env.DD_SITE,
        url: env.DTS_UTIL_DATADOG_LOGS_URL,
        eventsUrl: env.DTS_UTIL_DATADOG_EVENTS_URL,
        service: env.DD_SERVICE || 'dts-util',
        env: env.DD_ENV,
        version: env.DD_VERSION || PACKAGE_VERSION,
        hostname: os.hostname(),
      })
    : undefined;
  const logger = createLogger({
    level,
    write: (line) => {
      process.stdout.write(line);
      shipper?.push(line);
    },
  });
  logger.redact(settings.sharedSecret);
  logger.redact(settings.datadogApiKey);
  return {
    logger,
    close: async () => shipper?.close(5000),
    stats: () => shipper?.stats(),
    destinations: shipper ? ['stdout', `datadog logs (${env.DTS_UTIL_DATADOG_LOGS_URL ? 'custom intake' : env.DD_SITE || 'datadoghq.com'})`] : ['stdout'],
  };
}
