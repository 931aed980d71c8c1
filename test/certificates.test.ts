import 'reflect-metadata';
import { TRPCError } from '@trpc/server';
import { z, ZodError } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from './support/api.ts';
import { createCa, type Ca } from './support/pki.ts';

let t: TestApi;
let api: Awaited<ReturnType<TestApi['as']>>['api'];
let ca: Ca;

beforeEach(async () => {
  t = openTestApi();
  ({ api } = await t.as('root', 'admin'));
  ca = await createCa({ subject: 'CN=Test CA, O=Acme' });
});
afterEach(() => t.close());

async function message(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TRPCError);
  expect((error as TRPCError).code).toBe('BAD_REQUEST');
  return (error as TRPCError).message;
}

describe('uploads', () => {
  it('check that the PEM parses, the key matches, the chain is in order and nothing has expired', async () => {
    const intermediate = await ca.intermediate({ subject: 'CN=Issuing CA' });
    const leaf = await intermediate.issue({ subject: 'CN=broker', usage: 'server', dns: ['broker.local'] });
    const other = await ca.issue({ subject: 'CN=other', usage: 'server' });
    const expired = await ca.issue({ subject: 'CN=old', usage: 'server', notAfter: new Date(Date.now() - 1000) });
    const [leafPem, intermediatePem] = leaf.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
    expect(intermediatePem).toBeDefined();

    expect(await message(api.certificates.uploadServer({ certificatePem: 'hello', keyPem: leaf.keyPem }))).toMatch(/No PEM certificate/);
    expect(await message(api.certificates.uploadServer({ certificatePem: leaf.chainPem, keyPem: 'nope' }))).toMatch(/private key does not parse/);
    expect(await message(api.certificates.uploadServer({ certificatePem: leaf.chainPem, keyPem: other.keyPem }))).toMatch(
      /does not belong to the first certificate/,
    );
    expect(await message(api.certificates.uploadServer({ certificatePem: `${intermediatePem}\n${leafPem}`, keyPem: leaf.keyPem }))).toMatch(
      /put the chain in order, leaf first/,
    );
    expect(await message(api.certificates.uploadServer({ certificatePem: expired.certPem, keyPem: expired.keyPem }))).toMatch(/expired on/);
    expect(t.reloads()).toBe(0);

    const uploaded = await api.certificates.uploadServer({ certificatePem: leaf.chainPem, keyPem: leaf.keyPem });
    expect(uploaded).toMatchObject({ kind: 'server', chainLength: 2, hasKey: true, certificate: { subject: 'CN=broker', sans: ['DNS:broker.local'] } });
    expect(t.reloads()).toBe(1);
  });

  it('keep one RSA and one ECDSA server certificate at once, replacing the one of the same type', async () => {
    const rsa1 = await ca.issue({ subject: 'CN=rsa1', usage: 'server', keyType: 'rsa' });
    const rsa2 = await ca.issue({ subject: 'CN=rsa2', usage: 'server', keyType: 'rsa' });
    const ec = await ca.issue({ subject: 'CN=ec', usage: 'server', keyType: 'ecdsa' });
    for (const cert of [rsa1, ec, rsa2]) await api.certificates.uploadServer({ certificatePem: cert.chainPem, keyPem: cert.keyPem });
    const servers = (await api.certificates.list()).filter((c) => c.kind === 'server');
    expect(servers.map((c) => [c.certificate?.subject, c.certificate?.keyType])).toEqual([
      ['CN=ec', 'ecdsa'],
      ['CN=rsa2', 'rsa'],
    ]);
    const squeeze = (pem: string) => pem.replace(/\s+/g, '');
    expect(squeeze(await api.certificates.serverPem())).toBe(squeeze(ec.chainPem + rsa2.chainPem));
  });

  it('refuse a server or client certificate as a CA root, with a message under the certificate field', async () => {
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });
    const server = await ca.issue({ subject: 'CN=cpms.example.com', usage: 'server', dns: ['cpms.example.com'] });
    const client = await ca.issue({ subject: 'CN=CP-1', usage: 'client' });
    for (const [kind, pem] of [['cpms-ca', server.certPem], ['station-ca', client.certPem], ['cpms-ca', `${server.certPem}${ca.certPem}`]] as const) {
      const error = await api.certificates.uploadCa({ tenantId: tenant.id, kind, certificatePem: pem }).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/is not a CA \(its basic constraints lack CA:TRUE\)/) });
      const cause = (error as TRPCError).cause;
      expect(cause).toBeInstanceOf(ZodError);
      expect(z.flattenError(cause as ZodError).fieldErrors).toEqual({ certificatePem: [(error as TRPCError).message] });
    }
    expect((await api.certificates.list()).filter((c) => c.tenantId === tenant.id)).toEqual([]);

    const [uploaded] = await api.certificates.uploadCa({ tenantId: tenant.id, kind: 'cpms-ca', certificatePem: ca.certPem });
    expect(uploaded).toMatchObject({ kind: 'cpms-ca', certificate: { subject: 'CN=Test CA, O=Acme' } });
  });

  it('refuse to remove the last server certificate', async () => {
    const cert = await ca.issue({ subject: 'CN=only', usage: 'server' });
    const { id } = await api.certificates.uploadServer({ certificatePem: cert.chainPem, keyPem: cert.keyPem });
    await expect(api.certificates.remove({ id })).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
  });
});

describe('the certificates page', () => {
  it('shows the public facts of each certificate, what uses it, and those expiring within 30 days', async () => {
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });
    const soon = await createCa({ subject: 'CN=Short CA', notAfter: new Date(Date.now() + 10 * 24 * 60 * 60_000) });
    await api.certificates.uploadCa({ tenantId: tenant.id, kind: 'station-ca', certificatePem: soon.certPem });
    await api.certificates.uploadCa({ tenantId: tenant.id, kind: 'cpms-ca', certificatePem: ca.certPem });
    const list = await api.certificates.list();
    expect(list).toEqual([
      expect.objectContaining({ kind: 'cpms-ca', usedBy: 'Acme: CA the CPMS server certificate must chain to', expiresSoon: false }),
      expect.objectContaining({
        kind: 'station-ca',
        usedBy: 'Acme: CA that station certificates must chain to (profile 3)',
        expiresSoon: true,
        certificate: expect.objectContaining({ subject: 'CN=Short CA', issuer: 'CN=Short CA', fingerprint256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) }),
      }),
    ]);
  });
});

describe('secrets', () => {
  it('are never in an answer and never in clear in the database file', async () => {
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com', cpmsProfile: 2, cpmsAuth: 'stored' });
    const station = await api.registry.create({ tenantId: tenant.id, identity: 'CP-1' });
    const stationPassword = 'station-password-visible-nowhere';
    const cpmsPassword = 'cpms-password-visible-nowhere';
    await api.registry.setPassword({ id: station.id, password: { value: stationPassword } });
    const withCpms = await api.registry.setCpmsPassword({ id: station.id, password: { value: cpmsPassword } });
    expect(withCpms).toMatchObject({ passwordSet: true, cpmsPasswordSet: true });
    const client = await ca.issue({ subject: 'CN=broker', usage: 'client' });
    await api.certificates.uploadClient({ tenantId: tenant.id, certificatePem: client.chainPem, keyPem: client.keyPem });
    const { id } = await api.certificates.createCsr({ tenantId: tenant.id, stationId: station.id });

    const answers = JSON.stringify([
      await api.registry.list({ tenantId: tenant.id }),
      await api.certificates.list(),
      await api.certificates.csr({ id }),
      await api.audit.list(),
    ]);
    const keyBody = client.keyPem.split('\n')[1]!;
    for (const secret of [stationPassword, cpmsPassword, 'PRIVATE KEY', keyBody]) expect(answers).not.toContain(secret);

    const raw = t.raw();
    for (const secret of [stationPassword, cpmsPassword, 'PRIVATE KEY', keyBody]) expect(raw).not.toContain(secret);
    expect(raw).toContain(client.certPem.split('\n')[1]!); // certificates themselves are public
  });
});
