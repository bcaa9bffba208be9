import assert from 'node:assert/strict';
import { it } from 'node:test';

import { createLogger, REDACTED } from '../../src/log/logger.js';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, write: (l) => lines.push(l) }) };
}

it('writes one JSON object per line with time, level and message', () => {
  const { lines, logger } = capture();
  logger.info('hello', { port: 7859 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith('\n'));
  const entry = JSON.parse(lines[0]!);
  assert.equal(entry.level, 'info');
  assert.equal(entry.msg, 'hello');
  assert.equal(entry.port, 7859);
  assert.ok(!Number.isNaN(Date.parse(entry.time)));
});

it('drops lines below the level', () => {
  const { lines, logger } = capture('info');
  logger.debug('noise');
  logger.warn('kept');
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ['kept']);
});

it('redacts fields named like secrets, and secret values wherever they appear', () => {
  const { lines, logger } = capture();
  logger.redact('hunter2-"quoted"');
  logger.info('login with hunter2-"quoted" failed', { sharedSecret: 'abc', apiKey: 'def', authorization: 'Bearer x', nested: { password: 'p' }, error: new Error('bad hunter2-"quoted"') });
  const text = lines.join('');
  for (const leaked of ['hunter2', 'abc', 'def', 'Bearer x', '"p"']) assert.ok(!text.includes(leaked), `${leaked} leaked: ${text}`);
  const entry = JSON.parse(lines[0]!);
  assert.equal(entry.sharedSecret, REDACTED);
  assert.equal(entry.nested.password, REDACTED);
  assert.equal(entry.msg, `login with ${REDACTED} failed`);
  assert.equal(entry.error.message, `bad ${REDACTED}`);
});
