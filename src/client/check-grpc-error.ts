import { status, type ServiceError } from '@grpc/grpc-js';

/**
 * grpc-js's connection failures end in "Resolution note: " and the resolver's note, which for an
 * address that resolved is empty: "… ECONNREFUSED 127.0.0.1:7859. Resolution note: ". The empty
 * note goes, and so does a final full stop, since the advice after it brings its own.
 */
export function tidyDetails(details: string | undefined): string {
  return (details ?? '').replace(/\.?\s*Resolution note:\s*$/, '').replace(/\.\s*$/, '');
}

/** Turns a failed check's error into what to do about it; plain errors keep their message. */
export function explainFailure(error: unknown, timeoutMs?: number): string {
  const e = error as Partial<ServiceError>;
  if (e.code === undefined || typeof e.code !== 'number') return (error as Error).message;
  switch (e.code) {
    case status.UNAVAILABLE:
      return `UNAVAILABLE: ${tidyDetails(e.details)}. Is the server running? Start it with \`dts-util serve\` (or check --host/--port, and --tls/--no-tls matches the server)`;
    case status.UNAUTHENTICATED:
      return `UNAUTHENTICATED: ${e.details}. The server requires its shared secret: set DTS_UTIL_SHARED_SECRET or pass --shared-secret-file`;
    case status.DEADLINE_EXCEEDED: {
      const within = timeoutMs === undefined ? 'in time' : `within ${timeoutMs / 1000} s`;
      return `DEADLINE_EXCEEDED: no answer ${within}; the server may be overloaded or the address wrong (a longer deadline: --timeout SECONDS)`;
    }
    default:
      // The server's message already says what to do (NOT_FOUND names how to add a model).
      return `${status[e.code]}: ${e.details}`;
  }
}
