import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { UPLOAD_CHUNK_BYTES } from '../src/client/upload.js';
import { STREAM_WINDOW_BYTES } from '../src/server/flow-control.js';

/**
 * Seconds to send `file` as one HTTP/2 request body over TLS to http2-sink-server.ts in its own
 * process, read and written in the upload client's chunk size; with `sha256`, both ends hash it.
 */
export async function http2TransferSeconds(file: string, tlsDir: string, sha256: boolean): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./http2-sink-server.js', import.meta.url)), tlsDir, ...(sha256 ? ['--sha256'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [port] = (await once(readline.createInterface({ input: child.stdout! }), 'line')) as [string];
    const session = http2.connect(`https://localhost:${port}`, { ca: fs.readFileSync(path.join(tlsDir, 'ca.pem')), settings: { initialWindowSize: STREAM_WINDOW_BYTES } });
    try {
      const start = performance.now();
      const request = session.request({ ':method': 'POST', ':path': '/sink' });
      const reply = (async () => {
        let body = '';
        for await (const chunk of request) body += chunk;
        return body;
      })();
      const hash = sha256 ? crypto.createHash('sha256') : undefined;
      const handle = await fs.promises.open(file, 'r');
      // Buffers are reused once written, as the upload client reuses its frames.
      const pool: Buffer[] = [];
      try {
        for (;;) {
          const buffer = pool.pop() ?? Buffer.allocUnsafe(UPLOAD_CHUNK_BYTES);
          const { bytesRead } = await handle.read(buffer, 0, UPLOAD_CHUNK_BYTES);
          if (bytesRead === 0) break;
          const chunk = buffer.subarray(0, bytesRead);
          hash?.update(chunk);
          if (!request.write(chunk, () => pool.push(buffer))) await once(request, 'drain');
        }
      } finally {
        await handle.close();
      }
      request.end();
      const [received, digest] = (await reply).split(' ');
      if (Number(received) !== fs.statSync(file).size) throw new Error(`the sink received ${received} bytes`);
      if (hash && digest !== hash.digest('hex')) throw new Error('the sink hashed different bytes');
      return (performance.now() - start) / 1000;
    } finally {
      session.close();
    }
  } finally {
    child.kill('SIGTERM');
  }
}
