import { explainFailure } from './check-grpc-error.js';

/** What the server's certificate says, as the tls check saw it. */
export interface CertificateFacts {
  subject: string;
  subjectAltNames: string[];
  issuer: string;
  /** ISO 8601. */
  validTo: string;
  /** Whole days until expiry (negative once expired). */
  daysLeft: number;
  /** The CA vouched for the certificate and it names the host dialled. */
  verified: boolean;
}

/** Round trips of the echo check. */
export interface LatencyFacts {
  calls: number;
  p50: number;
  max: number;
}

/** The device the server chose at start-up, from Echo's extension fields. */
export interface DeviceFacts {
  chosen: string;
  reason: string;
  /** One line per device the server looked for: usable, or why not. */
  found: string[];
}

/** What the generate check asked for and got back. */
export interface GenerationFacts {
  model: string;
  /** The model family the server detected (sd1, sdxl, sd-turbo, lcm-sd1, …). */
  family: string;
  device: string;
  width: number;
  height: number;
  steps: number;
  seed: number;
  pngBytes: number;
  /** The server's time in the generation pipeline (info.timings_ms.total_ms), when it reports one. */
  pipelineMs?: number;
}

/** One line of the verdict; the optional facts are there for --json readers. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  durationMs?: number;
  /** tls: the CA file used and its SHA-256 fingerprint, to compare with what `serve` logged. */
  caPath?: string;
  caFingerprint?: string;
  certificate?: CertificateFacts;
  latencyMs?: LatencyFacts;
  /** echo: the server's device. */
  device?: DeviceFacts;
  /** echo: one line per generation worker of the server (Echo's extension; absent from other servers). */
  workers?: string[];
  generation?: GenerationFacts;
  /** models: what ListModels reported. */
  models?: { name: string; family: string; complete: boolean; default: boolean; builtin: boolean; sizeBytes: number }[];
}

/** What a check's body returns: its detail, facts, and optionally its own idea of its duration. */
export type CheckOutcome = Omit<Check, 'name' | 'ok'>;

/** A failed check that still has facts to report (a certificate that did not verify, say). */
export class CheckFailure extends Error {
  constructor(
    message: string,
    readonly facts: Omit<CheckOutcome, 'detail'> = {},
  ) {
    super(message);
  }
}

/**
 * Runs one check's body and turns it into a Check: ok with its outcome, or failed with an
 * explanation of what went wrong. The body's durationMs wins over the measured one, so checks
 * that make several calls can report a representative figure.
 */
export async function runCheck(name: string, timeoutMs: number, body: () => Promise<CheckOutcome>): Promise<Check> {
  const started = performance.now();
  try {
    const outcome = await body();
    return { name, ok: true, ...outcome, durationMs: outcome.durationMs ?? roundMs(performance.now() - started) };
  } catch (error) {
    const facts = error instanceof CheckFailure ? error.facts : {};
    return { name, ok: false, detail: explainFailure(error, timeoutMs), durationMs: roundMs(performance.now() - started), ...facts };
  }
}

/** Milliseconds to 0.01, enough to compare runs without noise digits. */
export const roundMs = (ms: number) => Math.round(ms * 100) / 100;
