import os from 'node:os';

import { PACKAGE_VERSION } from '../util/package-root.js';

const MAX_TAG_LENGTH = 200;

/** A tag value Datadog keeps as written: characters outside [A-Za-z0-9_\-:./] become '_', at most 200 characters in all. */
export function sanitizeTagValue(value: string): string {
  return value.replace(/[^A-Za-z0-9_\-:./]/g, '_');
}

/** `key:value`, sanitized and cut to Datadog's 200-character limit. */
export function tag(key: string, value: string | number): string {
  return `${key}:${sanitizeTagValue(String(value))}`.slice(0, MAX_TAG_LENGTH);
}

export interface TagSource {
  env: NodeJS.ProcessEnv;
  device?: string;
  hostname?: string;
}

/**
 * Unified service tagging, from exactly DD_SERVICE, DD_ENV and DD_VERSION (nothing else in env is
 * read, so no key or secret there can reach a tag), plus host: and device:.
 */
export function globalTags({ env, device, hostname = os.hostname() }: TagSource): string[] {
  const tags = [tag('service', nonEmpty(env.DD_SERVICE) ?? 'dts-util')];
  const ddEnv = nonEmpty(env.DD_ENV);
  if (ddEnv) tags.push(tag('env', ddEnv));
  tags.push(tag('version', nonEmpty(env.DD_VERSION) ?? PACKAGE_VERSION));
  if (hostname) tags.push(tag('host', hostname));
  if (device) tags.push(tag('device', device));
  return tags;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
