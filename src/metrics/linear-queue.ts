import type { StatsD } from 'hot-shots';

/** The parts of a hot-shots client's datagram buffer that `enqueue` works on (private fields). */
interface BufferedClient {
  bufferHolder: { buffer: string };
  bufferLength: number;
  maxBufferSize: number;
  flushQueue(): void;
  enqueue(message: string, callback?: () => void): void;
}

function isBufferedClient(client: object): client is BufferedClient {
  const c = client as Partial<BufferedClient>;
  return typeof c.enqueue === 'function' && typeof c.flushQueue === 'function' && typeof c.bufferHolder?.buffer === 'string' && typeof c.bufferLength === 'number' && typeof c.maxBufferSize === 'number';
}

/**
 * hot-shots 17 re-measures the whole buffered string after queueing each metric
 * (`Buffer.byteLength` of everything so far, flattening the concatenated string every time):
 * quadratic in the datagram size. With 8 KiB datagrams that was the largest part of a call's
 * metrics cost. This replacement counts each metric's bytes once and otherwise does what
 * hot-shots does: a metric that would overflow the datagram flushes it first. Applied only when
 * the client has the shape it was written for; says whether it was.
 */
export function queueInLinearTime(client: StatsD): boolean {
  if (!isBufferedClient(client)) return false;
  client.enqueue = function enqueue(this: BufferedClient, message: string, callback?: () => void) {
    const separator = this.bufferHolder.buffer === '' ? 0 : 1;
    const bytes = Buffer.byteLength(message) + separator;
    if (this.bufferLength + bytes > this.maxBufferSize) {
      this.flushQueue();
      this.bufferHolder.buffer = message;
      this.bufferLength = bytes - separator;
    } else {
      this.bufferHolder.buffer += separator ? `\n${message}` : message;
      this.bufferLength += bytes;
    }
    callback?.();
  };
  return true;
}
