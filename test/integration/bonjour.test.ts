import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Bonjour, type Service } from 'bonjour-service';

import { advertisedName, DRAW_THINGS_SERVICE_TYPE } from '../../src/server/bonjour.js';
import { startTestServer } from '../helpers/test-server.js';

/** Browses `_dt-grpc._tcp` as the app does, and resolves with the instance announcing `port`, or undefined after `ms`. */
function browseFor(port: number, ms: number): { found: Promise<Service | undefined>; gone: Promise<void>; close(): void } {
  const bonjour = new Bonjour();
  let resolveFound: (s: Service | undefined) => void = () => {};
  let resolveGone: () => void = () => {};
  const found = new Promise<Service | undefined>((resolve) => (resolveFound = resolve));
  const gone = new Promise<void>((resolve) => (resolveGone = resolve));
  const browser = bonjour.find({ type: DRAW_THINGS_SERVICE_TYPE, protocol: 'tcp' });
  browser.on('up', (service: Service) => service.port === port && resolveFound(service));
  browser.on('down', (service: Service) => service.port === port && resolveGone());
  const timer = setTimeout(() => resolveFound(undefined), ms);
  return {
    found,
    gone,
    close() {
      clearTimeout(timer);
      browser.stop();
      bonjour.destroy();
    },
  };
}

describe('Bonjour: the server advertises _dt-grpc._tcp the way the Draw Things app browses for it', () => {
  it('beyond loopback with TLS: `<host>_tls` on the server\'s port, gone with a goodbye at shutdown', async () => {
    const t = await startTestServer({ host: '0.0.0.0' });
    const browse = browseFor(t.server.port, 10_000);
    try {
      const service = await browse.found;
      assert.ok(service, 'no advertisement seen');
      assert.equal(service.name, advertisedName(true));
      assert.match(service.name, /_tls$/);
      assert.equal(t.server.bonjourName, service.name);
      await t.stop();
      await browse.gone;
    } finally {
      browse.close();
    }
  });

  it('plaintext (with a secret): `<host>_notls`, so the app connects without TLS', async () => {
    const t = await startTestServer({ host: '0.0.0.0', tls: false }, { DTS_UTIL_SHARED_SECRET: 'bonjour-secret-1' });
    const browse = browseFor(t.server.port, 10_000);
    try {
      assert.equal((await browse.found)?.name, advertisedName(false));
    } finally {
      browse.close();
      await t.stop();
    }
  });

  it('not on loopback (nobody else could connect), and not with --no-bonjour', async () => {
    for (const flags of [{}, { host: '0.0.0.0', bonjour: false }]) {
      const t = await startTestServer(flags);
      const browse = browseFor(t.server.port, 3_000);
      try {
        assert.equal(t.server.bonjourName, undefined);
        assert.equal(await browse.found, undefined, JSON.stringify(flags));
      } finally {
        browse.close();
        await t.stop();
      }
    }
  });
});
