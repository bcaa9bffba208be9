import v8 from 'node:v8';

/**
 * V8's `--external-memory-accounted-in-global-limit`: count Buffers' off-heap bytes in the heap's
 * global growth limit instead of against a fixed 64 MB allowance. Without it, every 64 MB of
 * short-lived Buffers starts a full mark-compact: an upload (grpc-js allocates a fresh megabyte per
 * message on both ends) ran one every 70–100 ms, about an eighth of the machine's CPU. With it,
 * uploads are 20–30% faster for about 60 MiB more resident memory per process; generation is
 * unchanged (bench/README.md). Later V8 versions make this the default and drop the flag.
 */
const EXTERNAL_MEMORY_FLAG = '--external-memory-accounted-in-global-limit';

/**
 * V8's allocation-site pretenuring allocates objects from "long-lived" sites straight into the old
 * generation. In a gRPC server that misfires: some of grpc-js's per-call objects get pretenured
 * (after a burst of calls that overlapped a long one), and each of them, dead after its call, keeps
 * the call's young objects alive through the next scavenges, until a full collection. That feeds
 * the survival statistics that keep those sites pretenured, so it never settles: `dts-util serve`
 * kept 10–20 MB of a 64 MB young generation alive per scavenge (pauses of 10–30 ms, the Echo p99
 * during a generation) where the same server without it keeps 40 KB (bench/README.md). The flag
 * has been in V8 for a decade; only the pretenuring heuristic goes, not the collector.
 */
const NO_PRETENURING_FLAG = '--no-allocation-site-pretenuring';

/**
 * V8 versions known to have the external-memory flag: 13.x, which Node.js 24 ships. Elsewhere it
 * is not set, as an unknown flag makes V8 print "unrecognized flag" on every run.
 */
export function hasExternalMemoryFlag(v8Version: string = process.versions.v8): boolean {
  return Number(v8Version.split('.')[0]) === 13;
}

/** The flags tuneGarbageCollection sets on this V8. */
export function garbageCollectionFlags(v8Version: string = process.versions.v8): string[] {
  return [NO_PRETENURING_FLAG, ...(hasExternalMemoryFlag(v8Version) ? [EXTERNAL_MEMORY_FLAG] : [])];
}

/** Sets the flags; returns them. Call before the program allocates much. */
export function tuneGarbageCollection(v8Version: string = process.versions.v8): string[] {
  const flags = garbageCollectionFlags(v8Version);
  for (const flag of flags) v8.setFlagsFromString(flag);
  return flags;
}
