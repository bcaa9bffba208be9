/**
 * Ships the server's JSON log lines to Datadog's HTTP log intake (no agent needed).
 *
 * Wire it as a tee of the logger's `write`:
 *   const shipper = new DatadogLogShipper(options);
 *   createLogger({ write: (line) => { process.stdout.write(line); shipper.push(line); } });
 *   …on shutdown: await shipper.close(5000);
 *
 * `push` never throws and never waits: lines go into a bounded ring buffer (the oldest are dropped and
 * counted when it is full) and a background loop posts gzip'd batches, one request at a time.
 * The API key is only ever put in the DD-API-KEY request header; it is scrubbed from every stats string.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';

const gzip = promisify(gzipCallback);

export interface IntakeOptions {
  apiKey: string;
  /** DD_SITE, default 'datadoghq.com' → https://http-intake.logs.<site>/api/v2/logs */
  site?: string;
  /** Full intake URL override (DTS_UTIL_DATADOG_LOGS_URL). */
  url?: string;
  service: string;
  env?: string;
  version: string;
  hostname: string;
  /** Default 2000. */
  flushIntervalMs?: number;
  /** Default 500 (Datadog accepts ≤1000 entries and ≤5 MB uncompressed per request). */
  maxBatchLines?: number;
  /** Default 10000: over it the OLDEST lines are dropped and counted. */
  maxQueuedLines?: number;
  /** Default 3: retries after the first try for 5xx, 429 and network errors. */
  retries?: number;
  /** Backoff base, default 500 ms; delay before retry i is base·2^i with jitter in [50 %, 100 %]. */
  backoffMs?: number;
  /** Per request, default 10000. */
  timeoutMs?: number;
  /**
   * Error-level lines are also posted as Datadog events (https://api.<site>/api/v1/events), at most one
   * per `eventIntervalMs`. Default: on, except when `url` overrides the log intake and no `eventsUrl`
   * is given (a custom log target never makes the shipper talk to Datadog's events API on its own).
   */
  events?: boolean;
  /** Full events URL override (DTS_UTIL_DATADOG_EVENTS_URL). */
  eventsUrl?: string;
  /** Default 10000. */
  eventIntervalMs?: number;
}

export interface IntakeStats {
  sentLines: number;
  droppedLines: number;
  failedBatches: number;
  lastStatus?: number;
  lastError?: string;
  lastAcceptedAt?: string;
  /** Lines waiting in the queue (not counting a batch in flight). */
  queuedLines: number;
  /** Requests that were tried again after a 5xx, 429 or network error. */
  retriedRequests: number;
  sentEvents: number;
  /** Error events not sent: rate-limited, or the events request failed. */
  droppedEvents: number;
}

export type DatadogStatus = 'debug' | 'info' | 'warning' | 'error';

const STATUS: Record<string, DatadogStatus> = { debug: 'debug', info: 'info', warn: 'warning', warning: 'warning', error: 'error' };
/** Datadog truncates single logs over 1 MB; keep each entry under it. */
const MAX_MESSAGE_CHARS = 1_000_000;
/** Stay under Datadog's 5 MB uncompressed payload limit. */
const MAX_BATCH_BYTES = 4_500_000;
const MAX_EVENT_TEXT = 3_900;

interface Entry {
  message: string;
  status: DatadogStatus;
}

/** Fixed-capacity FIFO: O(1) push/shift, the oldest entry is evicted when full. */
class Ring {
  readonly #buf: (Entry | undefined)[];
  #head = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.#buf = new Array<Entry | undefined>(capacity);
  }
  /** Returns true when an old entry was evicted to make room. */
  push(entry: Entry): boolean {
    let evicted = false;
    if (this.size === this.capacity) {
      this.shift();
      evicted = true;
    }
    this.#buf[(this.#head + this.size) % this.capacity] = entry;
    this.size++;
    return evicted;
  }
  peek(): Entry | undefined {
    return this.size === 0 ? undefined : this.#buf[this.#head];
  }
  shift(): Entry | undefined {
    if (this.size === 0) return undefined;
    const entry = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.size--;
    return entry;
  }
  clear(): number {
    const n = this.size;
    while (this.size > 0) this.shift();
    return n;
  }
}

interface Batch {
  lines: number;
  settled: boolean;
}

export function defaultLogsUrl(site = 'datadoghq.com'): string {
  return `https://http-intake.logs.${site.trim().toLowerCase()}/api/v2/logs`;
}

export function defaultEventsUrl(site = 'datadoghq.com'): string {
  return `https://api.${site.trim().toLowerCase()}/api/v1/events`;
}

/** Maps a logger level to Datadog's `status` (unknown levels → info). */
export function datadogStatus(level: unknown): DatadogStatus {
  return (typeof level === 'string' && STATUS[level.toLowerCase()]) || 'info';
}

/**
 * Options from the environment: DD_API_KEY (or DATADOG_API_KEY), DD_SITE, DD_ENV,
 * DTS_UTIL_DATADOG_LOGS_URL, DTS_UTIL_DATADOG_EVENTS_URL. Undefined when no API key is set.
 */
export function intakeOptionsFromEnv(
  env: Record<string, string | undefined>,
  base: { service: string; version: string; hostname: string },
): IntakeOptions | undefined {
  const apiKey = (env.DD_API_KEY ?? env.DATADOG_API_KEY)?.trim();
  if (!apiKey) return undefined;
  const pick = (v: string | undefined) => (v && v.trim() ? v.trim() : undefined);
  const options: IntakeOptions = { apiKey, ...base };
  const site = pick(env.DD_SITE);
  const ddEnv = pick(env.DD_ENV);
  const url = pick(env.DTS_UTIL_DATADOG_LOGS_URL);
  const eventsUrl = pick(env.DTS_UTIL_DATADOG_EVENTS_URL);
  if (site) options.site = site;
  if (ddEnv) options.env = ddEnv;
  if (url) options.url = url;
  if (eventsUrl) options.eventsUrl = eventsUrl;
  return options;
}

export class DatadogLogShipper {
  readonly #apiKey: string;
  readonly #url: string;
  readonly #eventsUrl: string | undefined;
  readonly #service: string;
  readonly #hostname: string;
  readonly #ddtags: string;
  readonly #tags: string[];
  readonly #maxBatchLines: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #timeoutMs: number;
  readonly #eventIntervalMs: number;
  readonly #queue: Ring;
  readonly #abort = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #chain: Promise<void> = Promise.resolve();
  #draining = false;
  #kickScheduled = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #current: Batch | undefined;
  /** Lines pushed so far, and lines that left the queue (taken into a batch or evicted). */
  #pushed = 0;
  #removed = 0;
  #lastEventAt = -Infinity;
  #eventInFlight = false;
  readonly #stats: IntakeStats = { sentLines: 0, droppedLines: 0, failedBatches: 0, queuedLines: 0, retriedRequests: 0, sentEvents: 0, droppedEvents: 0 };

  constructor(options: IntakeOptions) {
    this.#apiKey = options.apiKey;
    this.#url = options.url ?? defaultLogsUrl(options.site);
    const eventsOn = options.events ?? (options.url === undefined || options.eventsUrl !== undefined);
    this.#eventsUrl = eventsOn ? (options.eventsUrl ?? defaultEventsUrl(options.site)) : undefined;
    this.#service = options.service;
    this.#hostname = options.hostname;
    this.#tags = [...(options.env ? [`env:${options.env}`] : []), `version:${options.version}`];
    this.#ddtags = this.#tags.join(',');
    this.#maxBatchLines = clampInt(options.maxBatchLines, 500, 1, 1000);
    this.#retries = clampInt(options.retries, 3, 0, 100);
    this.#backoffMs = Math.max(0, options.backoffMs ?? 500);
    this.#timeoutMs = Math.max(1, options.timeoutMs ?? 10_000);
    this.#eventIntervalMs = Math.max(0, options.eventIntervalMs ?? 10_000);
    this.#queue = new Ring(clampInt(options.maxQueuedLines, 10_000, 1, Number.MAX_SAFE_INTEGER));
    this.#timer = setInterval(() => {
      if (!this.#draining && this.#queue.size > 0) void this.flush();
    }, Math.max(1, options.flushIntervalMs ?? 2000));
    this.#timer.unref();
  }

  /** Queues one log line (a trailing newline is dropped). Never throws, never waits. */
  push(line: string): void {
    try {
      if (typeof line !== 'string') return;
      const message = line.endsWith('\n') ? line.slice(0, line.endsWith('\r\n') ? -2 : -1) : line;
      if (!message) return;
      if (this.#closed) {
        this.#stats.droppedLines++;
        return;
      }
      let parsed: { level?: unknown; msg?: unknown } | undefined;
      try {
        const value: unknown = JSON.parse(message);
        if (value && typeof value === 'object') parsed = value as { level?: unknown; msg?: unknown };
      } catch {
        parsed = undefined;
      }
      const status = datadogStatus(parsed?.level);
      this.#pushed++;
      if (this.#queue.push({ message, status })) {
        this.#removed++;
        this.#stats.droppedLines++;
      }
      if (status === 'error' && this.#eventsUrl) this.#maybeEvent(typeof parsed?.msg === 'string' ? parsed.msg : message);
      if (this.#queue.size >= this.#maxBatchLines && !this.#draining && !this.#kickScheduled) {
        this.#kickScheduled = true;
        setImmediate(() => {
          this.#kickScheduled = false;
          if (!this.#draining && this.#queue.size > 0) void this.flush();
        }).unref();
      }
    } catch {
      // push must never throw into a request handler
    }
  }

  stats(): IntakeStats {
    return { ...this.#stats, queuedLines: this.#queue.size };
  }

  /** Sends everything queued now (after any request already in flight). Never rejects. */
  flush(): Promise<void> {
    const target = this.#pushed;
    this.#chain = this.#chain.then(() => this.#drain(target)).catch(() => undefined);
    return this.#chain;
  }

  /**
   * Stops the timer and sends what is queued, giving up after `timeoutMs` (default 5000): the request in
   * flight is aborted and everything not sent is counted as dropped. Later pushes are dropped and counted.
   */
  close(timeoutMs = 5000): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    clearInterval(this.#timer);
    const done = this.flush();
    this.#closing = (async () => {
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((resolve) => (bound = setTimeout(resolve, Math.max(0, timeoutMs))))]);
      clearTimeout(bound);
      this.#abort.abort();
      if (this.#current) this.#settle(this.#current, false);
      const left = this.#queue.clear();
      this.#removed += left;
      this.#stats.droppedLines += left;
    })();
    return this.#closing;
  }

  async #drain(target: number): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.size > 0 && this.#removed < target && !this.#abort.signal.aborted) {
        const parts: string[] = [];
        let bytes = 2;
        while (parts.length < this.#maxBatchLines) {
          const entry = this.#queue.peek();
          if (!entry) break;
          const part = JSON.stringify({
            message: entry.message.length > MAX_MESSAGE_CHARS ? entry.message.slice(0, MAX_MESSAGE_CHARS) : entry.message,
            ddsource: 'dts-util',
            service: this.#service,
            hostname: this.#hostname,
            status: entry.status,
            ddtags: this.#ddtags,
          });
          const size = Buffer.byteLength(part) + 1;
          if (parts.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
          this.#queue.shift();
          this.#removed++;
          parts.push(part);
          bytes += size;
        }
        const batch: Batch = { lines: parts.length, settled: false };
        this.#current = batch;
        try {
          const body = await gzip(`[${parts.join(',')}]`);
          this.#settle(batch, await this.#send(body));
        } catch {
          this.#settle(batch, false);
        } finally {
          this.#current = undefined;
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  #settle(batch: Batch, ok: boolean): void {
    if (batch.settled) return;
    batch.settled = true;
    if (ok) {
      this.#stats.sentLines += batch.lines;
      this.#stats.lastAcceptedAt = new Date().toISOString();
    } else {
      this.#stats.failedBatches++;
      this.#stats.droppedLines += batch.lines;
    }
  }

  /** Posts one gzip'd batch with retries; true when the intake accepted it. */
  async #send(body: Buffer): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      if (this.#abort.signal.aborted) return false;
      let retryable: boolean;
      try {
        const res = await fetch(this.#url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'DD-API-KEY': this.#apiKey },
          body,
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)]),
        });
        this.#stats.lastStatus = res.status;
        const text = await readSnippet(res);
        if (res.ok) return true;
        this.#stats.lastError = this.#scrub(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} from log intake${text ? `: ${text}` : ''}`);
        retryable = res.status === 429 || res.status >= 500;
      } catch (error) {
        if (this.#abort.signal.aborted) return false;
        this.#stats.lastError = this.#scrub(`log intake request failed: ${describeError(error)}`);
        retryable = true;
      }
      if (!retryable || attempt >= this.#retries) return false;
      this.#stats.retriedRequests++;
      const delay = this.#backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
      if (!(await sleep(delay, this.#abort.signal))) return false;
    }
  }

  #maybeEvent(msg: string): void {
    const now = performance.now();
    if (this.#eventInFlight || now - this.#lastEventAt < this.#eventIntervalMs) {
      this.#stats.droppedEvents++;
      return;
    }
    this.#lastEventAt = now;
    this.#eventInFlight = true;
    setImmediate(() => {
      void this.#sendEvent(msg).finally(() => (this.#eventInFlight = false));
    }).unref();
  }

  async #sendEvent(msg: string): Promise<void> {
    try {
      const res = await fetch(this.#eventsUrl!, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'DD-API-KEY': this.#apiKey },
        body: JSON.stringify({
          title: 'dts-util error',
          text: msg.length > MAX_EVENT_TEXT ? `${msg.slice(0, MAX_EVENT_TEXT)}…` : msg,
          alert_type: 'error',
          source_type_name: 'dts-util',
          host: this.#hostname,
          tags: [...this.#tags, `service:${this.#service}`],
        }),
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)]),
      });
      const text = await readSnippet(res);
      if (res.ok) {
        this.#stats.sentEvents++;
        return;
      }
      this.#stats.droppedEvents++;
      this.#stats.lastError = this.#scrub(`HTTP ${res.status} from events API${text ? `: ${text}` : ''}`);
    } catch (error) {
      this.#stats.droppedEvents++;
      if (!this.#abort.signal.aborted) this.#stats.lastError = this.#scrub(`events request failed: ${describeError(error)}`);
    }
  }

  #scrub(text: string): string {
    return this.#apiKey ? text.split(this.#apiKey).join('[REDACTED]') : text;
  }
}

function clampInt(value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(value)));
}

/** The first 200 characters of a response body (always consumed, so the connection is freed). */
async function readSnippet(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 200).replace(/\s+/g, ' ').trim();
  } catch {
    return '';
  }
}

/** Message and cause code of a fetch failure; never request headers. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = cause && typeof cause === 'object' ? (typeof cause.code === 'string' ? cause.code : typeof cause.message === 'string' ? cause.message : '') : '';
  return `${error.name === 'TimeoutError' ? 'timed out' : error.message}${detail ? ` (${detail})` : ''}`;
}

/** Resolves true after `ms`, false at once if `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
