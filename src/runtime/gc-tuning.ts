import v8 from 'node:v8';

/**
 * V8's `--external-memory-accounted-in-global-limit`: count Buffers' off-heap bytes in the heap's
 * global growth limit instead of against a fixed 64 MB allowance. Without it, every 64 MB of
 * short-lived Buffers starts a full mark-compact: an upload (grpc-js allocates a fresh megabyte per
 * message on both ends) ran one every 70–100 ms, about an eighth of the machine's CPU. With it,
 * uploads are 20–30% faster for about 60 MiB more resident memory per process; generation is
 * unchanged (bench/README.md). Later V8 versions make this the default and drop the flag.
 */
const FLAG = '--external-memory-accounted-in-global-limit';

/**
 * V8 versions known to have the flag: 13.x, which Node.js 24 ships. Elsewhere it is not set, as an
 * unknown flag makes V8 print "unrecognized flag" on every run.
 */
export function hasExternalMemoryFlag(v8Version: string = process.versions.v8): boolean {
  return Number(v8Version.split('.')[0]) === 13;
}

/** Sets the flag where it exists; say whether it did. Call before the program allocates much. */
export function tuneGarbageCollection(v8Version: string = process.versions.v8): boolean {
  if (!hasExternalMemoryFlag(v8Version)) return false;
  v8.setFlagsFromString(FLAG);
  return true;
}
