import type { FailureKind } from './messages.js';

/** A generation that failed for a reason the client should hear about, with its kind. */
export class GenerationError extends Error {
  override readonly name = 'GenerationError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}
