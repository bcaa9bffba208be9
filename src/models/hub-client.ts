import { UsageError } from '../config/errors.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** A Hugging Face style hub, and the token (HF_TOKEN) sent as a Bearer token; never printed. */
export interface Hub {
  endpoint: string;
  token?: string | undefined;
}

/** One file of a repository at a revision, as the hub lists it. */
export interface HubFile {
  path: string;
  /** Bytes, when the hub says (it does with ?blobs=true). */
  size?: number;
  /** LFS files: the SHA-256 of the content, which downloads are checked against. */
  sha256?: string;
  /** Git's blob id (SHA-1 of "blob <size>\0" + content); for non-LFS files it checks the content too. */
  blobId?: string;
}

/** The hub could not be reached or refused; the message says which endpoint and what to do. */
export class HubError extends Error {
  override readonly name = 'HubError';
}

const REPO = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

export function checkRepo(repo: string): void {
  if (!REPO.test(repo) || repo.includes('..')) throw new UsageError(`"${repo}" is not a repository name`, 'use owner/name as the hub shows it, e.g. onnx-community/stable-diffusion-v1-5-ONNX');
}

/** The endpoint without a trailing slash, checked to be an http(s) URL. */
export function normaliseEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint} is not a URL`, `use the hub's address, e.g. ${DEFAULT_HUB_ENDPOINT}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--endpoint ${endpoint} is not an http(s) URL`, `use the hub's address, e.g. ${DEFAULT_HUB_ENDPOINT}`);
  return endpoint.replace(/\/+$/, '');
}

/** GET with the token, turning network failures into a HubError that names the endpoint. */
export async function hubGet(hub: Hub, url: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  const auth: Record<string, string> = hub.token ? { authorization: `Bearer ${hub.token}` } : {};
  try {
    // fetch drops Authorization on a redirect to another origin (the hub's CDN signs its own URLs).
    return await fetch(url, { headers: { 'user-agent': 'dts-util', ...auth, ...headers }, redirect: 'follow', signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new HubError(`cannot reach the hub at ${hub.endpoint} (${why}); check the network, or point --endpoint (or HF_ENDPOINT) at a reachable hub`);
  }
}

/** A refusal from the hub as something to act on. */
export function hubRefusal(hub: Hub, response: Response, what: string): HubError {
  const code = response.status;
  if (code === 401 || code === 403) {
    const fix = hub.token ? 'HF_TOKEN is set but cannot read it: use a token with access, and accept the model\'s terms on the hub if it is gated' : 'it may be private or gated: set HF_TOKEN to an access token that can read it';
    return new HubError(`${hub.endpoint} refused access to ${what} (HTTP ${code}); ${fix}`);
  }
  if (code === 404) return new HubError(`${what} was not found on ${hub.endpoint} (HTTP 404); check the repository name and --revision`);
  return new HubError(`${hub.endpoint} answered HTTP ${code} for ${what}; try again later`);
}

export function resolveUrl(hub: Hub, repo: string, revision: string, file: string): string {
  return `${hub.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

interface Sibling {
  rfilename?: unknown;
  size?: unknown;
  blobId?: unknown;
  lfs?: { sha256?: unknown; size?: unknown } | null;
}

/** Every file of a repository at a revision, with sizes and LFS SHA-256s (GET /api/models/{repo}/revision/{rev}?blobs=true). */
export async function listRepoFiles(hub: Hub, repo: string, revision: string, signal?: AbortSignal): Promise<HubFile[]> {
  const url = `${hub.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const response = await hubGet(hub, url, { accept: 'application/json' }, signal);
  if (!response.ok) throw hubRefusal(hub, response, `${repo} at revision ${revision}`);
  let body: { siblings?: Sibling[] };
  try {
    body = (await response.json()) as { siblings?: Sibling[] };
  } catch {
    throw new HubError(`${hub.endpoint} answered something other than JSON for ${url}; is --endpoint a Hugging Face style hub?`);
  }
  if (!Array.isArray(body.siblings)) throw new HubError(`${hub.endpoint} listed no files for ${repo} at revision ${revision} (no "siblings" in its answer)`);
  return body.siblings.flatMap((s): HubFile[] => {
    if (typeof s.rfilename !== 'string') return [];
    const lfsSize = typeof s.lfs?.size === 'number' ? s.lfs.size : undefined;
    const size = lfsSize ?? (typeof s.size === 'number' ? s.size : undefined);
    const sha256 = typeof s.lfs?.sha256 === 'string' ? s.lfs.sha256.toLowerCase() : undefined;
    const blobId = !s.lfs && typeof s.blobId === 'string' ? s.blobId.toLowerCase() : undefined;
    return [{ path: s.rfilename, ...(size === undefined ? {} : { size }), ...(sha256 ? { sha256 } : {}), ...(blobId ? { blobId } : {}) }];
  });
}
