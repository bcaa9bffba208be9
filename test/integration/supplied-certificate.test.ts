import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { credentials } from '@grpc/grpc-js';

import { connectToServer, trustFor } from '../../src/client/server-connection.js';
import { unaryCall } from '../../src/client/client.js';
import { runSmokeTest } from '../../src/client/smoke-test.js';
import { ImageGenerationServiceClient } from '../../src/generated/image_generation.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { tempHome } from '../helpers/temp-home.js';
import { privateCaCertificate, selfSignedCertificate, type CertificateFiles } from '../helpers/supplied-certificates.js';

describe('a certificate from elsewhere (--tls-cert, --tls-key), as the Draw Things app needs one', () => {
  const scratch = tempHome();
  let files: CertificateFiles;
  let t: TestServer;
  before(async () => {
    files = privateCaCertificate(path.join(scratch.home, 'issued'), 'gpu.example.test');
    t = await startTestServer({ tlsCert: files.cert, tlsKey: files.key });
  });
  after(async () => {
    await t.stop();
    scratch.cleanup();
  });

  it('serves the supplied chain, not one from the install CA (none is made)', async () => {
    assert.equal(t.server.certificates, undefined);
    assert.deepEqual(t.server.supplied?.dnsNames, ['gpu.example.test']);
    assert.ok(!fs.existsSync(path.join(t.settings.paths.tlsDir, 'ca.pem')));
    // A client that trusts the issuer and verifies the certificate's own name gets in.
    const client = new ImageGenerationServiceClient(t.address, credentials.createSsl(fs.readFileSync(files.ca)), { 'grpc.ssl_target_name_override': 'gpu.example.test' });
    try {
      assert.equal((await unaryCall(client, client.echo, {}, 10_000)).message, 'HELLO');
    } finally {
      client.close();
    }
  });

  it("the CLI's clients verify the certificate's name when dialling an IP; --ca names the issuer of a private CA's chain", async () => {
    const trust = trustFor(t.settings, files.ca);
    assert.ok(!('problem' in trust));
    assert.equal(trust.serverName, 'gpu.example.test');
    const connection = connectToServer({ ...t.settings, port: t.server.port }, files.ca);
    try {
      assert.equal((await unaryCall(connection.service, connection.service.echo, {}, 10_000)).message, 'HELLO');
    } finally {
      connection.close();
    }
    // Without --ca they trust the system's roots and the certificate file: a private CA's chain is refused.
    const refused = connectToServer({ ...t.settings, port: t.server.port }, undefined);
    try {
      await assert.rejects(unaryCall(refused.service, refused.service.echo, {}, 10_000), /UNAVAILABLE/);
    } finally {
      refused.close();
    }
  });

  it('a self-signed certificate is trusted through its own file, with no --ca', async () => {
    const own = selfSignedCertificate(path.join(scratch.home, 'self'), 'box.example.test');
    const server = await startTestServer({ tlsCert: own.cert, tlsKey: own.key });
    try {
      const settings = { ...server.settings, port: server.server.port };
      const connection = connectToServer(settings, undefined);
      try {
        assert.equal((await unaryCall(connection.service, connection.service.echo, {}, 10_000)).message, 'HELLO');
      } finally {
        connection.close();
      }
      // `dts-util test`'s own handshake verifies the same name and says which certificate it saw.
      const report = await runSmokeTest({ settings, timeoutMs: 10_000 });
      const tls = report.checks.find((c) => c.name === 'tls')!;
      assert.ok(tls.ok, tls.detail);
      assert.match(tls.detail, /certificate for box\.example\.test/);
      assert.ok(report.healthy, JSON.stringify(report.checks));
    } finally {
      await server.stop();
    }
  });

  it('refuses at start, naming the file: a key that is not the certificate\'s, an expired certificate, one without the other, an unreadable file', async () => {
    const other = selfSignedCertificate(path.join(scratch.home, 'other'), 'other.example.test');
    const expired = selfSignedCertificate(path.join(scratch.home, 'expired'), 'old.example.test', new Date(Date.now() - 10 * 86_400_000), 2);
    const cases: [Record<string, string>, RegExp][] = [
      [{ tlsCert: files.cert, tlsKey: other.key }, /is not the private key of the certificate in .*server\.pem/],
      [{ tlsCert: expired.cert, tlsKey: expired.key }, /expired on/],
      [{ tlsCert: files.cert }, /--tls-cert was given without --tls-key/],
      [{ tlsCert: path.join(scratch.home, 'missing.pem'), tlsKey: files.key }, /cannot read .*missing\.pem given with --tls-cert \(ENOENT\)/],
      [{ tlsCert: files.key, tlsKey: files.key }, /is not a PEM certificate/],
    ];
    for (const [flags, message] of cases) {
      await assert.rejects(startTestServer(flags), (error: Error) => error.name === 'UsageError' && message.test(error.message), JSON.stringify(flags));
    }
    // The key's content never reaches an error message.
    const keyPem = fs.readFileSync(files.key, 'utf8');
    await assert.rejects(startTestServer({ tlsCert: files.cert, tlsKey: other.key }), (error: Error) => !error.message.includes(keyPem.slice(40, 80)));
  });
});
