import { status } from '@grpc/grpc-js';

import { ServiceError } from './errors.js';

/** A call the server is still answering. end() answers it with `error` and aborts the work behind it. */
export interface OpenCall {
  end(error: ServiceError): void;
}

/**
 * The calls the server has not answered yet, so that shutdown can end them itself, with a status
 * that says why, before it cuts the connections: a cut connection reaches the client as
 * UNAVAILABLE "Socket closed" or CANCELLED, and the access log as the client's doing.
 */
export class OpenCalls {
  private readonly calls = new Set<OpenCall>();

  /** Registers a call; the returned function forgets it (when it is answered or cancelled). */
  add(call: OpenCall): () => void {
    this.calls.add(call);
    return () => this.calls.delete(call);
  }

  get size(): number {
    return this.calls.size;
  }

  /** Ends every open call with `error`; how many there were. */
  endAll(error: ServiceError): number {
    const calls = [...this.calls];
    this.calls.clear();
    for (const call of calls) call.end(error);
    return calls.length;
  }
}

/** What a call still running when the grace period runs out is answered. */
export function shuttingDownError(graceMs: number): ServiceError {
  return new ServiceError(
    status.UNAVAILABLE,
    `the server is shutting down: the call was still running when the ${graceMs / 1000} s grace period ran out; send it again once the server is back, or to another server`,
  );
}
