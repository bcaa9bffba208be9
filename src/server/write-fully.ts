import type { FileHandle } from 'node:fs/promises';

/**
 * Writes all `length` bytes of `data` at `position`. write(2) may write fewer bytes than asked
 * when the file reaches a limit (RLIMIT_FSIZE, a full disk); it says so only in its count. Writing
 * the rest turns that into the error itself (EFBIG, ENOSPC) instead of a silent hole in the file.
 */
export async function writeFully(file: FileHandle, data: Uint8Array, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await file.write(data, done, length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error(`write at byte ${position + done} made no progress`), { code: 'EIO' });
    done += bytesWritten;
  }
}
