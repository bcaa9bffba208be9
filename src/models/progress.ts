import { formatBytes } from '../util/format-bytes.js';

/** Where a transfer stands; `models upload` and `models pull` both report it. */
export interface TransferProgress {
  /** What is happening to `file`: hashing a local copy to compare it, or moving its bytes. */
  phase: 'checking' | 'sending' | 'downloading';
  /** The file being worked on (its name in the model). */
  file: string;
  fileDone: number;
  fileSize: number;
  /** Bytes that will travel in this run, and how many have. */
  done: number;
  total: number;
}

export type ProgressListener = (progress: TransferProgress) => void;

const MIB = 2 ** 20;
/** A terminal redraw per chunk would cost more than the chunk; ten a second reads as live. */
const REDRAW_MS = 100;

/** Sizes stay in MiB up to 10 GiB, so a file's figure moves on every redraw. */
const mib = (bytes: number) => formatBytes(bytes, 10 * 2 ** 30);

/** Off a terminal (CI, a log file): a plain line at most this often during a long file. */
const LOG_MS = 30_000;

/**
 * On a terminal, one stderr line rewritten in place: the file, its bytes, the run's total, speed
 * and ETA, redrawn a few times a second. Off a terminal (a pipe, a CI log) the same text as plain
 * lines, with no carriage returns: one per finished file and one every 30 s during a long one.
 * `--json` passes no renderer at all.
 */
export class ProgressLine {
  private started: number;
  // -Infinity, not 0: performance.now() counts from process start, so 0 would hold back the first
  // draw of a process younger than REDRAW_MS (a unit test, a quick CLI run).
  private lastDraw = -Infinity;
  private lastLog: number;
  private drawn = false;
  private phase: TransferProgress['phase'] | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.started = clock();
    this.lastLog = this.started;
  }

  readonly update: ProgressListener = (p) => {
    const now = this.clock();
    // Checking (hashing) and sending run at different speeds: each phase gets its own clock.
    if (p.phase !== this.phase) {
      this.phase = p.phase;
      this.started = now;
    }
    const finishedFile = p.fileDone === p.fileSize;
    if (!this.stream.isTTY) {
      if (!finishedFile && now - this.lastLog < LOG_MS) return;
      this.lastLog = now;
      this.stream.write(`${this.describe(p, now)}\n`);
      return;
    }
    if (now - this.lastDraw < REDRAW_MS && !finishedFile) return;
    this.lastDraw = now;
    const line = this.describe(p, now);
    const width = this.stream.columns ? this.stream.columns - 1 : 120;
    this.stream.write(`\r${line.slice(0, width).padEnd(Math.min(width, 100))}`);
    this.drawn = true;
  };

  /** Ends the line so what is printed next starts on its own. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  private describe(p: TransferProgress, now: number): string {
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? p.done / seconds : 0;
    const eta = rate > 0 && p.total > p.done ? `  ETA ${Math.ceil((p.total - p.done) / rate)} s` : '';
    const percent = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
    return `${p.phase} ${p.file}  ${mib(p.fileDone)}/${mib(p.fileSize)}  total ${mib(p.done)}/${mib(p.total)} (${percent}%)  ${(rate / MIB).toFixed(1)} MiB/s${eta}`;
  }
}
