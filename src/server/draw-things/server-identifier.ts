import crypto from 'node:crypto';

/**
 * EchoReply.serverIdentifier: a random number picked once per server, so a client that reaches
 * the same machine by two addresses can tell it is one server. The field is a uint64; the
 * generated code holds 64-bit fields as JavaScript numbers (forceLong=number), so the value keeps
 * to 53 random bits, which every number survives exactly. Never 0, the field's "not set".
 */
export function newServerIdentifier(): number {
  for (;;) {
    const value = Number(crypto.randomBytes(8).readBigUInt64BE() >> 11n);
    if (value !== 0) return value;
  }
}
