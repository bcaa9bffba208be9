import { createRequire } from 'node:module';

/** The remedy printed whenever a unix:// DogStatsD address cannot be used. */
export const UDS_REMEDY = 'use UDP instead (DD_DOGSTATSD_URL=udp://127.0.0.1:8125) or rebuild unix-dgram for this Node (npm rebuild unix-dgram)';

/**
 * Why hot-shots' uds protocol cannot work here, or undefined when it can: it needs the optional
 * native module unix-dgram, which may be missing or built for another Node ABI. hot-shots hides the
 * reason behind "not installed", so it is loaded here first, from hot-shots' own location.
 */
export function unixDgramProblem(load: (id: string) => unknown = defaultLoad): string | undefined {
  try {
    load('unix-dgram');
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `unix-dgram cannot be loaded: ${message.replace(/\s+/g, ' ').trim()}`;
  }
}

function defaultLoad(id: string): unknown {
  const fromHere = createRequire(import.meta.url);
  return createRequire(fromHere.resolve('hot-shots'))(id);
}
