import fs from 'node:fs';
import path from 'node:path';

import { Flags } from '@oclif/core';

import { UsageError } from '../config/errors.js';
import { writeFileAtomic } from '../tls/files.js';
import { makeDirectorySync } from '../util/make-directory.js';
import { parseBackend, parseHostPort, renderHaproxyConfig, type HaproxyOptions } from './haproxy-config.js';

/** The flags `balancer haproxy` and `balancer install` share. */
export const balancerFlags = {
  listen: Flags.string({ description: 'address HAProxy listens on for clients, HOST:PORT', required: true }),
  backend: Flags.string({
    description: 'a dts-util server: HOST:PORT[,workers=N][,agent=PORT][,ca=FILE][,tls-name=NAME]; once per server',
    required: true,
    multiple: true,
  }),
  workers: Flags.integer({ description: 'generations each server runs at once (its worker count), unless its --backend says workers=N', default: 1, min: 1 }),
  'agent-port': Flags.integer({ description: 'the port each server answers HAProxy agent checks on (serve --agent-port), unless its --backend says agent=PORT', min: 1, max: 65535 }),
  tls: Flags.boolean({ description: 'TLS from clients to HAProxy and from HAProxy to each server; --no-tls for plaintext on both sides', default: true, allowNo: true }),
  'tls-crt': Flags.string({ description: "HAProxy's certificate chain and private key in one PEM file", exclusive: ['tls-cert', 'tls-key'] }),
  'tls-cert': Flags.string({ description: "HAProxy's certificate chain (PEM); with --tls-key, combined into <out>.pem (0600) for HAProxy", dependsOn: ['tls-key'] }),
  'tls-key': Flags.string({ description: 'the private key (PEM) of --tls-cert', dependsOn: ['tls-cert'] }),
  'backend-ca': Flags.string({ description: "the CA that signed the servers' certificates (a server's tls/ca.pem; several CAs may be concatenated), unless a --backend says ca=FILE" }),
};

export interface BalancerFlagValues {
  listen: string;
  backend: string[];
  workers: number;
  'agent-port'?: number | undefined;
  tls: boolean;
  'tls-crt'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'backend-ca'?: string | undefined;
}

export interface BalancerConfig {
  text: string;
  options: HaproxyOptions;
  /** The combined certificate-and-key file to write beside the configuration (--tls-cert/--tls-key). */
  combinedCrt: { file: string; pem: string } | undefined;
}

/** The configuration for these flags; `out` is where it will be written (needed to place a combined PEM). */
export function balancerConfig(flags: BalancerFlagValues, out: string | undefined): BalancerConfig {
  const defaults = { workers: flags.workers, agentPort: flags['agent-port'], ca: flags['backend-ca'] ? path.resolve(flags['backend-ca']) : undefined };
  const backends = flags.backend.map((spec, i) => parseBackend(spec, i, defaults));
  let combinedCrt: BalancerConfig['combinedCrt'];
  let tls: HaproxyOptions['tls'];
  if (flags.tls) {
    if (flags['tls-crt']) tls = { crt: path.resolve(flags['tls-crt']) };
    else if (flags['tls-cert'] && flags['tls-key']) {
      if (!out) throw new UsageError('--tls-cert and --tls-key are combined into one file for HAProxy, which needs --out to know where', 'add --out /etc/haproxy/dts-util.cfg (the PEM goes beside it), or combine them yourself and give --tls-crt');
      const file = `${path.resolve(out)}.pem`;
      const cert = readPem(flags['tls-cert'], '--tls-cert');
      const key = readPem(flags['tls-key'], '--tls-key');
      combinedCrt = { file, pem: `${cert.trimEnd()}\n${key.trimEnd()}\n` };
      tls = { crt: file };
    } else throw new UsageError('TLS needs a certificate for HAProxy to show clients', 'give --tls-crt FILE (chain and key in one PEM) or --tls-cert and --tls-key, or use --no-tls');
  }
  const options: HaproxyOptions = { listen: parseHostPort(flags.listen, '--listen'), backends, tls };
  return { text: renderHaproxyConfig(options), options, combinedCrt };
}

/** Writes the configuration (0644, atomically) and the combined PEM, when there is one (0600). */
export function writeBalancerConfig(config: BalancerConfig, out: string): void {
  makeDirectorySync(path.dirname(path.resolve(out)));
  if (config.combinedCrt) writeFileAtomic(config.combinedCrt.file, config.combinedCrt.pem, 0o600);
  writeFileAtomic(path.resolve(out), config.text, 0o644);
}

function readPem(file: string, label: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${label} ${file} cannot be read (${(error as NodeJS.ErrnoException).code})`, 'give the path of a PEM file');
  }
}
