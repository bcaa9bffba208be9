import os from 'node:os';

import { execa } from 'execa';

export interface CommandResult {
  /** As a shell reports it: 127 when the program could not be started (not installed), 128+n when signal n ended it. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** false: a non-zero exit (or a missing program) is returned, not thrown. Default true. */
  reject?: boolean;
}

/**
 * Runs a program with arguments, never through a shell. The service managers take one so tests can
 * record the exact command lines instead of touching the machine. Arguments are visible to every
 * user (ps), so callers never pass secrets in them.
 */
export interface CommandRunner {
  run(command: string, args: string[], options?: RunOptions): Promise<CommandResult>;
}

/** Long enough for `systemctl stop` to wait out the server's grace period; short enough that a hung call ends. */
const COMMAND_TIMEOUT_MS = 120_000;

export const execaRunner: CommandRunner = {
  async run(command, args, options = {}) {
    const result = await execa(command, args, { reject: false, timeout: COMMAND_TIMEOUT_MS, stdin: 'ignore' });
    const exitCode = result.exitCode ?? (result.signal ? 128 + os.constants.signals[result.signal] : 127);
    const outcome: CommandResult = { exitCode, stdout: result.stdout, stderr: result.stderr };
    // Not started, killed or timed out: say why, as stderr is empty then.
    if (result.exitCode === undefined && !result.stderr) outcome.stderr = result.shortMessage ?? `${command} could not be run`;
    if ((options.reject ?? true) && (result.failed || outcome.exitCode !== 0)) {
      throw new CommandError(command, args, outcome);
    }
    return outcome;
  },
};

/** A command that failed; its message carries the command line and what it printed on stderr. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly args: string[],
    readonly result: CommandResult,
  ) {
    super(`\`${[command, ...args].join(' ')}\` failed (exit ${result.exitCode})${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}`);
  }
}
