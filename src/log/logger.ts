export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values are never written, whatever they hold. */
const SECRET_KEY = /secret|password|token|api[-_]?key|authorization/i;
export const REDACTED = '[REDACTED]';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Values that must never appear in a log line, wherever they turn up (messages, stacks). */
  redact(secret: string | undefined): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
}

/** Structured logs: one JSON object per line, secrets redacted by key and by value. */
export function createLogger({ level = 'info', write = (line) => process.stdout.write(line) }: LoggerOptions = {}): Logger {
  const secrets = new Set<string>();
  const emit = (lvl: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[lvl] < ORDER[level]) return;
    let line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }, redactKeys);
    for (const secret of secrets) line = line.split(JSON.stringify(secret).slice(1, -1)).join(REDACTED);
    write(`${line}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    redact: (secret) => {
      if (secret) secrets.add(secret);
    },
  };
}

function redactKeys(key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (key && SECRET_KEY.test(key) && value !== undefined && value !== null && value !== false) return REDACTED;
  return value;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in ORDER;
}
