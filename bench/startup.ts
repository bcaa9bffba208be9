/**
 * `dts-util --help` start-up time against `node -e 0`, same Node binary, same run, interleaved.
 * Target: under 3×. BENCH_STARTUP_RUNS sets the runs per command (default 20).
 */
import { execFileSync } from 'node:child_process';

import { median } from '../src/util/median.js';
import { BIN } from '../test/helpers/cli.js';

const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 20);

function time(args: string[]): number {
  const start = performance.now();
  execFileSync(process.execPath, args, { stdio: 'ignore' });
  return performance.now() - start;
}

export function benchStartup(): { ratio: number } {
  time([BIN, '--help']); // warms the compile cache and the page cache, as any second run finds them
  const node: number[] = [];
  const help: number[] = [];
  for (let i = 0; i < runs; i++) {
    node.push(time(['-e', '0']));
    help.push(time([BIN, '--help']));
  }
  const ratio = median(help) / median(node);
  console.log(`startup: dts-util --help median ${median(help).toFixed(0)} ms vs node -e 0 median ${median(node).toFixed(0)} ms over ${runs} runs (${process.version}) → ratio ${ratio.toFixed(2)} (target < 3) ${ratio < 3 ? 'MET' : 'NOT MET'}`);
  return { ratio };
}

if (import.meta.url === `file://${process.argv[1]}`) benchStartup();
