import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import forge from 'node-forge';
import { PNG } from 'pngjs';

import { loadTrustedCa, type TrustedCa } from '../../src/client/check-ca.js';
import { inspectPng } from '../../src/client/check-png.js';
import { checkTls } from '../../src/client/check-tls.js';
import { UsageError } from '../../src/config/errors.js';
import { encodePng } from '../../src/diffusion/png.js';
import { ensureCertificates } from '../../src/tls/certificates.js';

function noise(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 31 + (i >> 3)) & 0xff;
  return rgb;
}

/** A chunk with a correct CRC, for PNGs that are well framed but wrong inside. */
function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data, zlib.crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

function header(width: number, height: number, bitDepth: number, colourType: number, interlace = 0): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(width, 0);
  data.writeUInt32BE(height, 4);
  data[8] = bitDepth;
  data[9] = colourType;
  data[12] = interlace;
  return data;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (...chunks: Buffer[]) => Buffer.concat([SIGNATURE, ...chunks, chunk('IEND', Buffer.alloc(0))]);

describe('inspectPng', () => {
  const good = encodePng(noise(64, 64), 64, 64, { parameters: 'a smoke test\nSteps: 2' });

  it('accepts what the server encodes and reads its header', () => {
    const summary = inspectPng(good);
    assert.deepEqual(
      { width: summary.width, height: summary.height, bitDepth: summary.bitDepth, colourType: summary.colourType, interlaced: summary.interlaced },
      { width: 64, height: 64, bitDepth: 8, colourType: 2, interlaced: false },
    );
    assert.deepEqual(summary.chunks, ['IHDR', 'tEXt', 'IDAT', 'IEND']);
  });

  it('accepts an Adam7-interlaced PNG that pngjs also decodes', () => {
    // 3×3 greyscale: the passes that exist are 1×1, 1×1, 2×1, 1×2 and 3×1, each row led by filter 0.
    const raw = Buffer.from([0, 10, 0, 20, 0, 30, 31, 0, 40, 0, 41, 0, 50, 51, 52]);
    const interlaced = png(chunk('IHDR', header(3, 3, 8, 0, 1)), chunk('IDAT', zlib.deflateSync(raw)));
    assert.equal(inspectPng(interlaced).interlaced, true);
    const decoded = PNG.sync.read(interlaced);
    assert.deepEqual([decoded.width, decoded.height], [3, 3]);
  });

  it('refuses bytes that are not a PNG', () => {
    assert.throws(() => inspectPng(Buffer.from('GIF89a')), /not a PNG/);
    assert.throws(() => inspectPng(Buffer.alloc(0)), /not a PNG/);
  });

  it('refuses a flipped bit anywhere in a chunk through its CRC', () => {
    for (const at of [20, good.indexOf('IDAT') + 40, good.length - 6]) {
      const corrupted = Buffer.from(good);
      corrupted[at] = corrupted[at]! ^ 0x10;
      assert.throws(() => inspectPng(corrupted), /fails its CRC|invalid type/, `byte ${at}`);
    }
  });

  it('refuses a truncated file and trailing bytes', () => {
    assert.throws(() => inspectPng(good.subarray(0, good.length - 12)), /no IEND chunk/);
    assert.throws(() => inspectPng(good.subarray(0, good.length - 100)), /truncated/);
    assert.throws(() => inspectPng(Buffer.concat([good, Buffer.from('junk')])), /4 bytes follow the IEND chunk/);
  });

  it('refuses a PNG whose first chunk is not IHDR, or that has no image data', () => {
    const idat = chunk('IDAT', zlib.deflateSync(Buffer.alloc(4)));
    assert.throws(() => inspectPng(png(idat)), /first chunk is IDAT, not IHDR/);
    assert.throws(() => inspectPng(png(chunk('IHDR', header(1, 1, 8, 0)))), /no IDAT chunk/);
    assert.throws(() => inspectPng(png(chunk('IHDR', header(1, 1, 3, 2)), idat)), /bit depth 3 is not allowed/);
  });

  it('refuses image data that does not decode to the size IHDR promises', () => {
    // The same image data under a header one row shorter or taller: every CRC is right, the sizes are not.
    const idat = good.subarray(good.indexOf('IDAT') - 4, good.length - 12);
    const withHeight = (height: number) => Buffer.concat([SIGNATURE, chunk('IHDR', header(64, height, 8, 2)), idat, chunk('IEND', Buffer.alloc(0))]);
    assert.throws(() => inspectPng(withHeight(63)), /inflates to 12352 bytes, 64×63 needs 12159/);
    assert.throws(() => inspectPng(withHeight(65)), /ends early/);
    assert.throws(() => inspectPng(png(chunk('IHDR', header(2, 1, 8, 0)), chunk('IDAT', Buffer.from('not zlib')))), /does not inflate/);
    assert.throws(() => inspectPng(png(chunk('IHDR', header(2, 1, 8, 0)), chunk('IDAT', zlib.deflateSync(Buffer.from([9, 1, 2]))))), /filter type 9/);
  });
});

describe('loadTrustedCa', () => {
  it('makes a file named with --ca that cannot be used a usage error, and a missing default a finding', () => {
    assert.throws(() => loadTrustedCa('/does/not/exist', true), (e: unknown) => e instanceof UsageError && /--ca/.test(e.message));
    assert.match((loadTrustedCa('/does/not/exist', false) as { problem: string }).problem, /no CA certificate at \/does\/not\/exist/);
  });
});

describe('checkTls against certificates near expiry or for another name', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dts-util-tls-check-'));
  let ca: TrustedCa;
  let caKey: forge.pki.rsa.PrivateKey;
  const servers: tls.Server[] = [];

  before(() => {
    const certs = ensureCertificates(dir, ['localhost']);
    ca = loadTrustedCa(certs.caPath, true) as TrustedCa;
    caKey = forge.pki.privateKeyFromPem(fs.readFileSync(path.join(dir, 'ca-key.pem'), 'utf8'));
  });
  after(() => {
    for (const server of servers) server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A TLS server on loopback with a certificate the test CA signs for `name`, valid `days` more. */
  async function serveCertificate(name: string, days: number): Promise<string> {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const forgeKey = forge.pki.privateKeyFromPem(keyPem);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + days * 86_400_000 + 3_600_000);
    cert.setSubject([{ name: 'commonName', value: name }]);
    cert.setIssuer(forge.pki.certificateFromPem(ca.pem).subject.attributes);
    cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }]);
    cert.sign(caKey, forge.md.sha256.create());
    const server = tls.createServer({ key: keyPem, cert: forge.pki.certificateToPem(cert) }, (socket) => socket.end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  it('fails a certificate that expires within 7 days, and says to restart the server', async () => {
    const check = await checkTls(await serveCertificate('localhost', 3), ca, 5000);
    assert.equal(check.ok, false);
    assert.equal(check.certificate?.verified, true);
    assert.equal(check.certificate?.daysLeft, 3);
    assert.match(check.detail, /expires \d{4}-\d\d-\d\d \(in 3 days\): restart dts-util serve/);
    assert.equal(check.caFingerprint, ca.fingerprint);
  });

  it('passes one that expires within 30 days, with a warning', async () => {
    const check = await checkTls(await serveCertificate('localhost', 20), ca, 5000);
    assert.equal(check.ok, true, check.detail);
    assert.match(check.detail, /\(in 20 days\) — WARNING: restart dts-util serve soon/);
  });

  it('fails a certificate for another name and lists the names it has', async () => {
    const check = await checkTls(await serveCertificate('elsewhere.test', 100), ca, 5000);
    assert.equal(check.ok, false);
    assert.equal(check.certificate?.verified, false);
    assert.match(check.detail, /does not name localhost \(it names DNS:elsewhere\.test\)/);
  });

  it('says to pass --no-tls when the server does not speak TLS', async () => {
    const plain = net.createServer((socket) => socket.end(Buffer.from('\x00\x00\x12\x04\x00\x00\x00\x00\x00 not TLS at all, sorry\r\n')));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const check = await checkTls(`127.0.0.1:${(plain.address() as net.AddressInfo).port}`, ca, 5000);
      assert.equal(check.ok, false);
      assert.match(check.detail, /no TLS handshake with 127\.0\.0\.1:\d+ .*pass --no-tls/);
    } finally {
      plain.close();
    }
  });

  it('says when nothing listens', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const check = await checkTls(address, ca, 5000);
    assert.match(check.detail, /nothing is listening at .*ECONNREFUSED.*dts-util serve/);
  });
});
