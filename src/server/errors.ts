import { status } from '@grpc/grpc-js';

/** An error meant for the client: it crosses the wire as its own code and message. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string) => new ServiceError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new ServiceError(status.NOT_FOUND, message);
export const resourceExhausted = (message: string) => new ServiceError(status.RESOURCE_EXHAUSTED, message);
export const dataLoss = (message: string) => new ServiceError(status.DATA_LOSS, message);
export const failedPrecondition = (message: string) => new ServiceError(status.FAILED_PRECONDITION, message);
export const unimplemented = (message: string) => new ServiceError(status.UNIMPLEMENTED, message);
export const deadlineExceeded = (message: string) => new ServiceError(status.DEADLINE_EXCEEDED, message);
export const cancelled = (message: string) => new ServiceError(status.CANCELLED, message);

/**
 * The one place errors become statuses. A ServiceError is sent as it is; anything else is a bug
 * or an environment failure whose details stay in the server log: the client gets INTERNAL and
 * the request id to quote.
 */
export function toStatus(error: unknown, requestId: string): { code: status; details: string; internal: boolean } {
  if (error instanceof ServiceError) return { code: error.code, details: error.message, internal: false };
  return { code: status.INTERNAL, details: `internal server error (request ${requestId}); the server log has the details`, internal: true };
}
