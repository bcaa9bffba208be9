/** A problem with what the user asked for: commands print it and exit with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string, readonly suggestion?: string) {
    super(message);
  }
}
