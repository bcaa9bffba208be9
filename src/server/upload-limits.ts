import { deadlineExceeded, resourceExhausted } from './errors.js';

/**
 * Uploads in progress, at most `limit`: each holds a file descriptor, a staging file and (with
 * direct I/O) 3 MiB of buffers for as long as its client keeps the stream open, so without a
 * bound a few hundred slow or stalled clients exhaust the server.
 */
export class UploadSlots {
  private active = 0;

  constructor(private readonly limit: number) {}

  /** Takes a slot, or refuses with RESOURCE_EXHAUSTED; call the returned function once to give it back. */
  take(): () => void {
    if (this.active >= this.limit) {
      throw resourceExhausted(`the server is already receiving ${this.limit} uploads, its limit (--max-concurrent-uploads); wait for one to finish and send this one again`);
    }
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
    };
  }
}

/**
 * The next message, or DEADLINE_EXCEEDED when none arrives within `idleSeconds`: a client that
 * stops sending without closing its stream would otherwise hold its slot, descriptor and
 * staging file for ever. Only waiting for the client counts; the server's own disk time does not.
 */
export async function nextWithin<T>(iterator: AsyncIterator<T>, idleSeconds: number): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(idleTooLong(idleSeconds)), idleSeconds * 1000);
  });
  try {
    return await Promise.race([iterator.next(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

function idleTooLong(idleSeconds: number) {
  return deadlineExceeded(`the upload was idle for ${idleSeconds} s (the server's --upload-idle-timeout) and was discarded; nothing was stored; send it again`);
}
