import os from 'node:os';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cpmsUrlSchema } from '../contract/index.ts';
import { hostOfHeader, isOwnHost, pointsAtBroker } from '../server/own-host.ts';

describe('Host headers', () => {
  it('read as the host name without its port, in lower case, for names, IPv4 and bracketed IPv6', () => {
    fc.assert(
      fc.property(fc.oneof(fc.domain(), fc.ipV4()), fc.option(fc.integer({ min: 1, max: 65535 })), (host, port) => {
        expect(hostOfHeader(port === null ? host : `${host}:${port}`)).toBe(host.toLowerCase());
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        expect(hostOfHeader(`[${host}]:${port}`)).toBe(host.toLowerCase());
      }),
    );
    expect(hostOfHeader(undefined)).toBeUndefined();
  });
});

describe("the broker's own addresses", () => {
  it('are localhost, every loopback address, the host name and the interface addresses', () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)), ([a, b, c]) => {
        expect(isOwnHost(`127.${a}.${b}.${c}`)).toBe(true);
      }),
    );
    for (const host of ['localhost', 'LOCALHOST.', 'x.localhost', '[::1]', '::ffff:127.0.0.1', os.hostname()]) expect(isOwnHost(host), host).toBe(true);
    for (const list of Object.values(os.networkInterfaces())) for (const { address } of list ?? []) expect(isOwnHost(address)).toBe(true);
    expect(isOwnHost('cpms.example.com')).toBe(false);
    expect(isOwnHost('192.0.2.1')).toBe(false);
    expect(isOwnHost('192.0.2.1', '192.0.2.1')).toBe(true); // the configured listen address
  });

  it('count only on the ports the broker listens on', () => {
    expect(pointsAtBroker('ws://127.0.0.1:8080/ocpp', [8080, 8443])).toBe(true);
    expect(pointsAtBroker('wss://localhost/ocpp', [443])).toBe(true);
    expect(pointsAtBroker('ws://127.0.0.1:9000/ocpp', [8080, 8443])).toBe(false);
    expect(pointsAtBroker('ws://cpms.example.com:8080/ocpp', [8080, 8443])).toBe(false);
  });
});

describe('CPMS URLs', () => {
  const wsUrl = fc.webUrl({ withQueryParameters: false, withFragments: false }).map((url) => url.replace(/^http/, 'ws'));

  it('are stored normalized: normalizing again changes nothing, and the URL parser reads the same place', () => {
    fc.assert(
      fc.property(wsUrl, (input) => {
        const parsed = cpmsUrlSchema.safeParse(input);
        if (!parsed.success) return; // e.g. longer than 2,048 characters
        const stored = parsed.data;
        expect(cpmsUrlSchema.parse(stored)).toBe(stored);
        expect(stored.endsWith('/')).toBe(false);
        expect(stored.length).toBeLessThanOrEqual(2048);
        expect(new URL(stored).host).toBe(new URL(input).host);
      }),
    );
  });
});
