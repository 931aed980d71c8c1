import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestApi, type TestApi } from './support/api.ts';
import { createCa, signCsr } from './support/pki.ts';

let t: TestApi;
let api: Awaited<ReturnType<TestApi['as']>>['api'];

beforeEach(async () => {
  t = openTestApi();
  ({ api } = await t.as('root', 'admin'));
});
afterEach(() => t.close());

/** From now on, every audit insert fails, as a full disk or a broken table would make it. */
function breakTheAuditLog(): void {
  t.store.db.run(sql`create trigger audit_down before insert on audit_log begin select raise(abort, 'audit log unavailable'); end`);
}

describe('an admin change and its audit row', () => {
  it('are one transaction: a tenant whose audit insert fails is not created, updated or removed', async () => {
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://cpms.example' });
    breakTheAuditLog();
    await expect(api.tenants.create({ name: 'Other', slug: 'other', cpmsUrl: 'ws://cpms.example' })).rejects.toThrow(/audit log unavailable/);
    await expect(api.tenants.update({ id: tenant.id, name: 'Renamed' })).rejects.toThrow(/audit log unavailable/);
    await expect(api.tenants.remove({ id: tenant.id })).rejects.toThrow(/audit log unavailable/);
    expect((await api.tenants.list()).map((x) => x.name)).toEqual(['Acme']);
  });

  it('are one transaction for the station registry and the driver list', async () => {
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://cpms.example' });
    const station = await api.registry.create({ tenantId: tenant.id, identity: 'CP-1' });
    const driver = await api.drivers.create({ tenantId: tenant.id, email: 'a@example.com', badgeIds: ['B1'] });
    breakTheAuditLog();
    await expect(api.registry.create({ tenantId: tenant.id, identity: 'CP-2' })).rejects.toThrow(/audit log unavailable/);
    await expect(api.registry.update({ id: station.id, description: 'changed' })).rejects.toThrow(/audit log unavailable/);
    await expect(api.registry.remove({ id: station.id })).rejects.toThrow(/audit log unavailable/);
    await expect(api.drivers.create({ tenantId: tenant.id, email: 'b@example.com', badgeIds: ['B2'] })).rejects.toThrow(/audit log unavailable/);
    await expect(api.drivers.update({ id: driver.id, blocked: true })).rejects.toThrow(/audit log unavailable/);
    await expect(api.drivers.remove({ id: driver.id })).rejects.toThrow(/audit log unavailable/);
    expect(await api.registry.list({ tenantId: tenant.id })).toEqual([expect.objectContaining({ identity: 'CP-1', description: '' })]);
    expect((await api.drivers.list({ tenantId: tenant.id })).drivers).toEqual([expect.objectContaining({ email: 'a@example.com', blocked: false })]);
  });

  it('are one transaction for users and API tokens', async () => {
    const token = await api.tokens.create({ name: 'script' });
    breakTheAuditLog();
    await expect(api.users.create({ username: 'bob', password: 'a password long enough', role: 'viewer' })).rejects.toThrow(/audit log unavailable/);
    await expect(api.tokens.create({ name: 'another' })).rejects.toThrow(/audit log unavailable/);
    await expect(api.tokens.revoke({ id: token.id })).rejects.toThrow(/audit log unavailable/);
    expect((await api.users.list()).map((u) => u.username)).toEqual(['root']);
    expect(await api.tokens.list()).toEqual([expect.objectContaining({ name: 'script', revokedAt: null })]);
  });

  it('are one transaction for certificates: an upload, a request, an import or a removal whose audit insert fails leaves nothing', async () => {
    const ca = await createCa({ subject: 'CN=Test CA, O=Acme' });
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example' });
    const [rsa, ecdsa, another] = await Promise.all([
      ca.issue({ subject: 'CN=broker rsa', usage: 'server', keyType: 'rsa' }),
      ca.issue({ subject: 'CN=broker ecdsa', usage: 'server', keyType: 'ecdsa' }),
      ca.issue({ subject: 'CN=broker again', usage: 'server', keyType: 'rsa' }),
    ]);
    const client = await ca.issue({ subject: 'CN=CP-1', usage: 'client' });
    const server = await api.certificates.uploadServer({ certificatePem: rsa.chainPem, keyPem: rsa.keyPem });
    await api.certificates.uploadServer({ certificatePem: ecdsa.chainPem, keyPem: ecdsa.keyPem });
    const request = await api.certificates.createCsr({ tenantId: tenant.id });
    const signed = await signCsr(ca, request.csrPem, 'client');
    const before = await api.certificates.list();
    const reloads = t.reloads();
    breakTheAuditLog();
    const down = /audit log unavailable/;
    await expect(api.certificates.uploadServer({ certificatePem: another.chainPem, keyPem: another.keyPem })).rejects.toThrow(down);
    await expect(api.certificates.uploadCa({ tenantId: tenant.id, kind: 'cpms-ca', certificatePem: ca.certPem })).rejects.toThrow(down);
    await expect(api.certificates.uploadClient({ tenantId: tenant.id, certificatePem: client.chainPem, keyPem: client.keyPem })).rejects.toThrow(down);
    await expect(api.certificates.createCsr({ tenantId: tenant.id })).rejects.toThrow(down);
    await expect(api.certificates.importSigned({ id: request.id, certificatePem: signed })).rejects.toThrow(down);
    await expect(api.certificates.remove({ id: server.id })).rejects.toThrow(down);
    expect(await api.certificates.list()).toEqual(before);
    expect(t.reloads()).toBe(reloads);
  });

  it('turns a unique index into CONFLICT with its message, inside the transaction', async () => {
    await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://cpms.example' });
    await expect(api.tenants.create({ name: 'Again', slug: 'acme', cpmsUrl: 'ws://cpms.example' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'The slug "acme" is taken',
    });
  });
});
