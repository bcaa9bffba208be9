import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { compactIpv6 } from '../../src/client/check-tls.js';

describe('compactIpv6 (certificate names as people type them)', () => {
  it('shortens IPv6 addresses', () => {
    assert.equal(compactIpv6('IP Address:0:0:0:0:0:0:0:1'), 'IP Address:::1');
    assert.equal(compactIpv6('IP Address:FD00:0:0:0:0:0:0:2A'), 'IP Address:fd00::2a');
  });

  it('leaves DNS names, IPv4 addresses and anything unparsable as they are', () => {
    assert.equal(compactIpv6('DNS:localhost'), 'DNS:localhost');
    assert.equal(compactIpv6('IP Address:127.0.0.1'), 'IP Address:127.0.0.1');
    assert.equal(compactIpv6('IP Address:not:an:address'), 'IP Address:not:an:address');
  });
});
