import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh DTS_UTIL_HOME for one test; removed by cleanup(). */
export function tempHome(prefix = 'dts-util-test-'): { home: string; env: NodeJS.ProcessEnv; cleanup: () => void } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = { DTS_UTIL_HOME: home, HOME: home };
  return { home, env, cleanup: () => fs.rmSync(home, { recursive: true, force: true }) };
}
