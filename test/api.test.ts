import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestApi, rejection, type TestApi } from './support/api.ts';
import { startTestBroker } from './support/broker.ts';
import { startCpms, station } from './support/ocpp.ts';

let t: TestApi;
let api: Awaited<ReturnType<TestApi['as']>>['api'];

beforeEach(async () => {
  t = openTestApi();
  ({ api } = await t.as('admin', 'admin'));
});

afterEach(() => t.close());

const acme = { name: 'Acme Charging', slug: 'acme', cpmsUrl: 'wss://cpms.example.com/ocpp/' };

describe('tenants', () => {
  it('creates, lists, reads, updates and removes a tenant', async () => {
    const created = await api.tenants.create(acme);
    expect(created).toMatchObject({ name: 'Acme Charging', slug: 'acme', cpmsUrl: 'wss://cpms.example.com/ocpp', enabled: true });
    expect(created.createdAt).toBeInstanceOf(Date);

    expect(await api.tenants.list()).toEqual([{ ...created, stationsConnected: 0, cpms: { lastSuccessAt: null, lastFailure: null, failing: false } }]);
    expect(await api.tenants.get({ id: created.id })).toEqual(created);

    const updated = await api.tenants.update({ id: created.id, name: 'Acme', enabled: false });
    expect(updated).toMatchObject({ name: 'Acme', enabled: false, slug: 'acme' });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());

    await api.tenants.remove({ id: created.id });
    expect(await api.tenants.list()).toEqual([]);
    expect((await rejection(api.tenants.get({ id: created.id }))).code).toBe('NOT_FOUND');
  });

  it('keeps the slug fixed after creation', async () => {
    const created = await api.tenants.create(acme);
    const updated = await api.tenants.update({ id: created.id, slug: 'other' } as never);
    expect(updated.slug).toBe('acme');
  });

  it('refuses a slug that is taken with CONFLICT', async () => {
    await api.tenants.create(acme);
    const error = await rejection(api.tenants.create({ ...acme, name: 'Copy' }));
    expect(error.code).toBe('CONFLICT');
  });

  it.each([
    ['an http URL', { cpmsUrl: 'http://cpms.example.com' }, 'cpmsUrl'],
    ['no URL at all', { cpmsUrl: 'cpms.example.com' }, 'cpmsUrl'],
    ['credentials in the URL', { cpmsUrl: 'ws://user:secret@cpms.example.com' }, 'cpmsUrl'],
    ['a query in the URL', { cpmsUrl: 'ws://cpms.example.com/?a=b' }, 'cpmsUrl'],
    ['a fragment in the URL', { cpmsUrl: 'ws://cpms.example.com/ocpp#x' }, 'cpmsUrl'],
    ['an empty fragment in the URL', { cpmsUrl: 'ws://cpms.example.com/ocpp#' }, 'cpmsUrl'],
    ['a URL over 2,048 characters', { cpmsUrl: `wss://cpms.example.com/${'a'.repeat(2030)}` }, 'cpmsUrl'],
    ['a URL of the broker itself', { cpmsUrl: 'ws://localhost:8080/ocpp' }, 'cpmsUrl'],
    ['upper case in the slug', { slug: 'Acme' }, 'slug'],
    ['a slash in the slug', { slug: 'a/b' }, 'slug'],
    ['a trailing hyphen in the slug', { slug: 'acme-' }, 'slug'],
    ['an empty name', { name: '  ' }, 'name'],
  ])('refuses %s with a field-level error', async (_case, change, field) => {
    const error = await rejection(api.tenants.create({ ...acme, ...change }));
    expect(error.code).toBe('BAD_REQUEST');
    const issues = (error.cause as unknown as { issues: { path: string[] }[] }).issues;
    expect(issues.map((i) => i.path[0])).toEqual([field]);
  });

  it('stores the CPMS URL as the WHATWG URL parser reads it: where the broker will connect', async () => {
    const stored = async (cpmsUrl: string, slug: string) => (await api.tenants.create({ ...acme, slug, cpmsUrl })).cpmsUrl;
    expect(await stored('ws://evil.example\\@good.example/x', 'a')).toBe('ws://evil.example/@good.example/x');
    expect(await stored('  WSS://CPMS.Example.COM:443/ocpp//  ', 'b')).toBe('wss://cpms.example.com/ocpp');
    expect(await stored('ws://cpms.example.com', 'c')).toBe('ws://cpms.example.com');
    expect(await stored('ws://0x7f.1:9000/a b', 'd')).toBe('ws://127.0.0.1:9000/a%20b');
    expect(await stored('ws://localhost:9000/ocpp', 'e')).toBe('ws://localhost:9000/ocpp'); // not a port of the broker
  });

  it('gives a tenant created without a password toward the CPMS the one its profiles go with, for every pair of profiles', async () => {
    const made = [];
    for (const stationProfile of [0, 1, 2, 3]) {
      for (const cpmsProfile of [0, 1, 2, 3]) {
        const tenant = await api.tenants.create({ ...acme, slug: `s${stationProfile}c${cpmsProfile}`, stationProfile, cpmsProfile });
        made.push([stationProfile, cpmsProfile, tenant.cpmsAuth, (await api.tenants.get({ id: tenant.id })).cpmsAuth]);
      }
    }
    // Pass-through (a transparent proxy's), unless the CPMS wants a password (1, 2) that stations do not send (0, 3).
    const password = (profile: number) => profile === 1 || profile === 2;
    const expected = (s: number, c: number) => (password(c) && !password(s) ? 'stored' : 'passthrough');
    expect(made).toEqual([0, 1, 2, 3].flatMap((s) => [0, 1, 2, 3].map((c) => [s, c, expected(s, c), expected(s, c)])));
  });

  it('keeps the password toward the CPMS it was given', async () => {
    expect((await api.tenants.create({ ...acme, stationProfile: 0, cpmsAuth: 'stored' })).cpmsAuth).toBe('stored');
    expect((await api.tenants.create({ ...acme, slug: 'b', stationProfile: 1, cpmsAuth: 'stored' })).cpmsAuth).toBe('stored');
  });

  it('never lets a secret in the CPMS URL reach the database', async () => {
    await rejection(api.tenants.create({ ...acme, cpmsUrl: 'ws://user:hunter2hunter2@cpms.example.com' }));
    expect(t.raw()).not.toContain('hunter2hunter2');
  });
});

describe('the OCPP version of a tenant', () => {
  it('cannot go back to 1.6 while badges are longer than 1.6 allows', async () => {
    const tenant = await api.tenants.create({ ...acme, ocppVersion: '2.0.1' });
    const driver = await api.drivers.create({ tenantId: tenant.id, email: 'long@example.com', badgeIds: ['A-BADGE-OF-30-CHARACTERS-0001'] });
    await expect(api.tenants.update({ id: tenant.id, ocppVersion: '1.6' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('1 badge(s) of the driver list are longer than 20 characters, e.g. "A-BADGE-OF-30-CHARACTERS-0001"'),
    });
    await api.drivers.update({ id: driver.id, badgeIds: ['SHORT-BADGE'] });
    expect(await api.tenants.update({ id: tenant.id, ocppVersion: '1.6' })).toMatchObject({ ocppVersion: '1.6' });
  });
});

describe('stations', () => {
  it('lists no station and refuses to disconnect one that is not connected', async () => {
    const tenant = await api.tenants.create(acme);
    expect(await api.stations.list({ tenantId: tenant.id })).toEqual([]);
    expect((await rejection(api.stations.disconnect({ tenantId: tenant.id, identity: 'CP1' }))).code).toBe('NOT_FOUND');
  });
});

describe('the API with live stations', () => {
  it('refuses to remove a tenant with connected stations unless forced, then disconnects them', async () => {
    const broker = await startTestBroker();
    const cpms = await startCpms();
    try {
      const tenant = await broker.api.tenants.create.mutate({ name: 'Live', slug: 'live', cpmsUrl: cpms.url, allowUnknownStations: true });
      const cp = station(broker.endpoint('live'), 'CP-LIVE', ['ocpp2.0.1']);
      await cp.connect();
      const closed = new Promise((resolve) => cp.once('close', resolve));

      const [listed] = await broker.api.stations.list.query({ tenantId: tenant.id });
      expect(listed).toMatchObject({ identity: 'CP-LIVE', subprotocol: 'ocpp2.0.1', remoteAddress: '127.0.0.1', framesIn: 0 });
      expect((await broker.api.tenants.list.query())[0]?.stationsConnected).toBe(1);

      await expect(broker.api.tenants.remove.mutate({ id: tenant.id })).rejects.toMatchObject({
        data: { code: 'PRECONDITION_FAILED' },
      });
      await broker.api.tenants.remove.mutate({ id: tenant.id, force: true });
      expect(await closed).toEqual({ code: 1000, reason: 'Tenant removed' });
      expect(await broker.api.tenants.list.query()).toEqual([]);
    } finally {
      await broker.close();
      await cpms.close();
    }
  });

  it('disconnects one station on request', async () => {
    const broker = await startTestBroker();
    const cpms = await startCpms();
    try {
      const tenant = await broker.api.tenants.create.mutate({ name: 'Live', slug: 'live', cpmsUrl: cpms.url, allowUnknownStations: true });
      const cp = station(broker.endpoint('live'), 'CP-KICK', ['ocpp1.6']);
      await cp.connect();
      const closed = new Promise((resolve) => cp.once('close', resolve));
      await broker.api.stations.disconnect.mutate({ tenantId: tenant.id, identity: 'CP-KICK' });
      expect(await closed).toEqual({ code: 1000, reason: 'Disconnected by an administrator' });
    } finally {
      await broker.close();
      await cpms.close();
    }
  });

  it('answers field-level errors over HTTP for forms', async () => {
    const broker = await startTestBroker();
    try {
      await expect(broker.api.tenants.create.mutate({ name: 'X', slug: 'Bad Slug', cpmsUrl: 'ws://ok' })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST', fieldErrors: { slug: ['Lower-case letters, digits and inner hyphens only'] } },
      });
    } finally {
      await broker.close();
    }
  });
});
