/** What a handler knows about the call it serves, apart from the request. */
export interface CallContext {
  requestId: string;
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  peer: string;
}
