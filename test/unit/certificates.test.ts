import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { certificateNames, ensureCertificates } from '../../src/tls/certificates.js';
import { tempHome } from '../helpers/temp-home.js';

describe('per-install certificates', () => {
  const home = tempHome();
  const tlsDir = path.join(home.home, 'tls');
  after(() => home.cleanup());

  it('makes a CA and a server certificate it signs, for the loopback names and the host name', () => {
    const names = certificateNames(undefined);
    const certs = ensureCertificates(tlsDir, names);
    assert.equal(certs.created, true);
    const ca = new crypto.X509Certificate(certs.caCertPem);
    const server = new crypto.X509Certificate(certs.serverCertPem);
    assert.ok(ca.ca);
    assert.ok(!server.ca);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
    assert.ok(server.checkHost('localhost'));
    assert.ok(server.checkIP('127.0.0.1'));
    assert.ok(server.checkIP('::1'));
    assert.ok(server.checkHost(os.hostname()), 'the host name');
    assert.equal(certs.caFingerprint, ca.fingerprint256);
    assert.ok(crypto.createPrivateKey(certs.serverKeyPem).asymmetricKeyDetails!.modulusLength! >= 2048);
    assert.ok(server.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth extended key usage');
  });

  it('keeps keys 0600 in a 0700 folder', () => {
    assert.equal(fs.statSync(tlsDir).mode & 0o777, 0o700);
    for (const f of ['ca-key.pem', 'server-key.pem']) assert.equal(fs.statSync(path.join(tlsDir, f)).mode & 0o777, 0o600, f);
  });

  it('reuses what exists', () => {
    const before = fs.readFileSync(path.join(tlsDir, 'server.pem'), 'utf8');
    const again = ensureCertificates(tlsDir, certificateNames(undefined));
    assert.equal(again.created, false);
    assert.equal(again.serverCertPem, before);
  });

  it('reissues the server certificate, from the same CA, when a new --host needs a name', () => {
    const caBefore = fs.readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8');
    const certs = ensureCertificates(tlsDir, certificateNames('192.0.2.10'));
    assert.equal(certs.created, true);
    assert.equal(certs.caCertPem, caBefore);
    assert.ok(new crypto.X509Certificate(certs.serverCertPem).checkIP('192.0.2.10'));
  });

  it('gives every install its own CA', () => {
    const other = tempHome();
    try {
      const a = ensureCertificates(tlsDir, ['localhost']);
      const b = ensureCertificates(path.join(other.home, 'tls'), ['localhost']);
      assert.notEqual(a.caFingerprint, b.caFingerprint);
      assert.notEqual(crypto.createPrivateKey(a.serverKeyPem).export({ format: 'pem', type: 'pkcs1' }), crypto.createPrivateKey(b.serverKeyPem).export({ format: 'pem', type: 'pkcs1' }));
    } finally {
      other.cleanup();
    }
  });

  it('does not put 0.0.0.0 or :: in a certificate', () => {
    assert.ok(!certificateNames('0.0.0.0').includes('0.0.0.0'));
    assert.ok(!certificateNames('::').includes('::'));
    assert.ok(certificateNames('gpu-box.lan').includes('gpu-box.lan'));
  });
});
