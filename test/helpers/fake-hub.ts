import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface HubRequest {
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

export interface FakeHubOptions {
  /** Requests without `Authorization: Bearer <token>` get 401. */
  token?: string;
  /** The first download of this path stops after this many bytes: the socket is destroyed. */
  cutOnce?: { path: string; afterBytes: number };
  /** Answer Range requests with the whole file (200), as some mirrors and proxies do. */
  ignoreRange?: boolean;
  /** Paths served with one byte flipped (the listing keeps the true digest). */
  corrupt?: Set<string>;
  /** Paths listed with this size instead of their own (a model bigger than any disk). */
  listedSizes?: Map<string, number>;
}

export interface FakeHub {
  endpoint: string;
  requests: HubRequest[];
  close(): Promise<void>;
}

/** Files from 1 KiB up are listed as LFS files (with sha256), as the hub does for weights. */
const LFS_THRESHOLD = 1024;

/**
 * A Hugging Face style hub on 127.0.0.1:0 serving one folder as `repo` at any revision:
 * `GET /api/models/{repo}/revision/{rev}` lists it (siblings with size, blobId, lfs.sha256),
 * `GET /{repo}/resolve/{rev}/{path}` serves bytes (LFS files through a redirect to /cdn/, as the
 * hub does), with single Range requests answered 206.
 */
export async function startFakeHub(repo: string, dir: string, options: FakeHubOptions = {}): Promise<FakeHub> {
  const files = new Map<string, Buffer>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.set(path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'), fs.readFileSync(path.join(entry.parentPath, entry.name)));
  }
  const bySha = new Map<string, string>();
  const siblings = [...files].map(([rfilename, bytes]) => {
    const blobId = crypto.createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    const size = options.listedSizes?.get(rfilename) ?? bytes.length;
    if (bytes.length < LFS_THRESHOLD) return { rfilename, size, blobId };
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    bySha.set(sha256, rfilename);
    return { rfilename, size, blobId: 'f'.repeat(40), lfs: { sha256, size, pointerSize: 134 } };
  });
  const requests: HubRequest[] = [];
  let cut = options.cutOnce;
  const listing = new RegExp(`^/api/models/${repo}/revision/([^/?]+)`);
  const resolve = new RegExp(`^/${repo}/resolve/([^/]+)/(.+)$`);

  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push({ url, range: req.headers.range, authorization: req.headers.authorization });
    if (options.token && req.headers.authorization !== `Bearer ${options.token}` && !url.startsWith('/cdn/')) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Invalid credentials in Authorization header"}');
      return;
    }
    const pathname = url.split('?')[0]!;
    if (listing.test(pathname)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repo, sha: 'a'.repeat(40), siblings }));
      return;
    }
    const match = resolve.exec(pathname);
    if (match) {
      const file = decodeURIComponent(match[2]!);
      const bytes = files.get(file);
      if (!bytes) return void res.writeHead(404).end('Entry not found');
      const sibling = siblings.find((s) => s.rfilename === file)!;
      if ('lfs' in sibling) return void res.writeHead(302, { location: `/cdn/${sibling.lfs!.sha256}` }).end();
      return void send(req, res, file, bytes);
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(pathname);
    if (cdn && bySha.has(cdn[1]!)) {
      const file = bySha.get(cdn[1]!)!;
      return void send(req, res, file, files.get(file)!);
    }
    res.writeHead(404).end('Repository not found');
  });

  function send(req: http.IncomingMessage, res: http.ServerResponse, file: string, original: Buffer): void {
    let bytes = original;
    if (options.corrupt?.has(file)) {
      bytes = Buffer.from(original);
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    }
    const range = options.ignoreRange ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start > bytes.length) return void res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
    const body = bytes.subarray(start);
    const headers = { 'content-length': String(body.length), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    res.writeHead(range ? 206 : 200, range ? { ...headers, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : headers);
    if (cut && cut.path === file) {
      const afterBytes = cut.afterBytes;
      cut = undefined;
      // Part of the body, then the connection drops, as a flaky network does.
      res.write(body.subarray(0, afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
