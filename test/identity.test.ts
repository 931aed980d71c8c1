import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { identityProblem, identityWarning, stationCreateSchema } from '../contract/index.ts';
import { openTestApiWithTenant, type AdminApi, type TestApi } from './support/api.ts';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { upgradeStatus } from './support/raw.ts';
import { startCpms, type TestCpms } from './support/ocpp.ts';

/** Identities no station may have: C0, DEL, C1, bidi overrides and isolates, ":", too long, empty. */
const REFUSED = ['CP\u0001', 'CP\u007f', 'CP\u0085', 'CP\u009f', 'CP\u202a', 'CP\u202e', 'CP\u2066', 'CP\u2069', 'a:b', 'x'.repeat(49)];
/** Identities that connect, one of each kind that borders on a refused one. */
const ACCEPTED = ['CP-1', 'RDAM 123', '😀'.repeat(48), 'CP\u00a0', 'CP\u2029x', 'CP\u206a', 'CP/1', 'ü'];

function registryMessage(identity: string): string | undefined {
  const parsed = stationCreateSchema.safeParse({ tenantId: 1, identity });
  return parsed.success ? undefined : parsed.error.issues.find((issue) => issue.path[0] === 'identity')?.message;
}

describe('the identity rule', () => {
  it('refuses control characters, C1 controls and bidirectional overrides and isolates', () => {
    for (const identity of REFUSED) expect(identityProblem(identity), JSON.stringify(identity)).toBeDefined();
    for (const identity of ACCEPTED) expect(identityProblem(identity), JSON.stringify(identity)).toBeUndefined();
    expect(identityProblem('CP\u0085')).toMatch(/control/);
    expect(identityProblem('CP\u202e')).toMatch(/bidirectional/);
  });

  it('is the registry’s rule: the registry refuses exactly what the broker refuses, with the same message', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\u001f', '\u0085', '\u202e', '\u2068', ':', ' ', '/'), fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c))), maxLength: 60 }), (raw) => {
        const identity = raw.trim();
        if (identity === '') return; // 'Required', before any rule
        const problem = identityProblem(identity);
        const message = registryMessage(raw);
        if (problem === undefined) expect(message).toBeUndefined();
        else expect(message?.toLowerCase()).toBe(problem.toLowerCase());
      }),
    );
  });

  it('warns about identities that stations often send unencoded, and about no other', () => {
    for (const identity of ['CP 1', 'CP/1', 'CP?1', 'CP#1', 'CP%1']) expect(identityWarning(identity), identity).toMatch(/percent-encoded/);
    expect(identityWarning('CP 1/2')).toMatch(/a space, "\/".*%20 %2F/);
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,48}$/), (identity) => {
      expect(identityWarning(identity)).toBeUndefined();
    }));
  });
});

describe('the registry', () => {
  let t: TestApi;
  let api: AdminApi;
  let tenantId: number;

  beforeEach(async () => {
    ({ t, api, tenantId } = await openTestApiWithTenant());
  });
  afterEach(() => t.close());

  it('refuses to register an identity the broker would refuse forever, with the broker’s reason', async () => {
    for (const identity of ['CP\u0001', 'CP\u0085', 'CP\u202e']) {
      await expect(api.registry.create({ tenantId, identity })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect(registryMessage(identity)?.toLowerCase()).toBe(identityProblem(identity));
    }
    expect(await api.registry.list({ tenantId })).toEqual([]);
  });

  it('registers an identity with a space or "/" and returns a warning that stations must percent-encode it', async () => {
    const spaced = await api.registry.create({ tenantId, identity: 'RDAM 123' });
    expect(spaced).toMatchObject({ identity: 'RDAM 123', warning: expect.stringMatching(/a space.*percent-encoded.*%20/) });
    const plain = await api.registry.create({ tenantId, identity: 'CP-1' });
    expect(plain.warning).toBeNull();
    expect((await api.registry.list({ tenantId })).map((s) => s.identity).sort()).toEqual(['CP-1', 'RDAM 123']);
  });
});

describe('the broker', () => {
  let broker: TestBroker;
  let cpms: TestCpms;
  let endpoint: string;

  beforeAll(async () => {
    broker = await startTestBroker();
    cpms = await startCpms();
    await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
    endpoint = broker.endpoint('acme');
  });
  afterAll(async () => {
    await broker?.close();
    await cpms?.close();
  });

  it('refuses C1 controls and bidirectional overrides in the identity with 400, as the registry does', async () => {
    for (const identity of ['CP\u0085', 'CP\u202e', 'CP\u2066', 'CP\u0001']) {
      expect(await upgradeStatus(`${endpoint}/${encodeURIComponent(identity)}`), JSON.stringify(identity)).toBe(400);
    }
    expect(await upgradeStatus(`${endpoint}/${encodeURIComponent('RDAM 123')}`)).toBe(101);
  });
});
