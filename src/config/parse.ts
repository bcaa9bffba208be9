import { UsageError } from './errors.js';

/** A TCP port; 0 asks the OS for a free one. */
export function parsePort(value: string | number, source: string): number {
  const port = typeof value === 'number' ? value : Number(value.trim());
  if (!Number.isInteger(port) || port < 0 || port > 65535 || (typeof value === 'string' && value.trim() === '')) {
    throw new UsageError(`invalid port ${JSON.stringify(String(value))} from ${source}`, 'use a whole number from 1 to 65535, e.g. --port 7859');
  }
  return port;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A byte size: "1048576", "500MB", "16GiB". */
export function parseByteSize(value: string | number, source: string): number {
  if (typeof value === 'number') return checkSize(value, String(value), source);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new UsageError(`invalid size ${JSON.stringify(value)} from ${source}`, 'use bytes or a unit such as 500MB or 16GiB');
  }
  return checkSize(Math.floor(Number(match[1]) * unit), value, source);
}

function checkSize(bytes: number, shown: string, source: string): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(`invalid size ${JSON.stringify(shown)} from ${source}`, 'the size must be a positive number of bytes');
  }
  return bytes;
}

/** A whole number, 1 or more: seconds, counts. `unit` words the hint ("seconds", "uploads"). */
export function parsePositiveInteger(value: string | number, source: string, unit: string): number {
  const n = typeof value === 'number' ? value : value.trim() === '' ? Number.NaN : Number(value.trim());
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`invalid value ${JSON.stringify(String(value))} from ${source}`, `use a whole number of ${unit}, 1 or more`);
  }
  return n;
}

/** An environment boolean: 1/0, true/false, yes/no, on/off. */
export function parseBoolean(value: string, source: string): boolean {
  const normalized = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new UsageError(`invalid boolean ${JSON.stringify(value)} from ${source}`, 'use true or false');
}
