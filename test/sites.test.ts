import { TRPCError } from '@trpc/server';
import { eq, sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../db/sqlite.ts';
import { createObservationStore, type Observation, type SampleRow } from '../db/observations.ts';
import { limitChanges, smartOffers, stations } from '../db/schema.ts';
import { READING_STALE_MS, staleness } from '../server/smart/site-view.ts';
import { openTestApiWithTenant, outcome, type AdminApi, type TestApi } from './support/api.ts';

let t: TestApi;
let api: AdminApi;
let tenantId: number;

beforeEach(async () => {
  ({ t, api, tenantId } = await openTestApiWithTenant());
});
afterEach(() => t.close());

async function auditActions() {
  return (await api.audit.list({ limit: 100 })).map((e) => `${e.action} ${e.target}`);
}

const sample = (at: Date, measurand: string, value: number, phase: string | null = null, unit = measurand.startsWith('Current') ? 'A' : 'W'): SampleRow => ({
  at,
  measurand,
  phase,
  location: null,
  context: 'Sample.Periodic',
  unit,
  value,
});

/** A 1.6 session on connector 1 of `identity`, seen by the observers, with the given readings. */
function charge(identity: string, transactionId: string, samples: SampleRow[]): void {
  const at = new Date(Date.now() - 10 * 60_000);
  const observations: Observation[] = [
    { kind: 'status', tenantId, identity, at, evseId: 0, connectorId: 1, status: 'Charging', errorCode: 'NoError' },
    { kind: 'started16', tenantId, identity, at, transactionId, connectorId: 1, badgeId: 'B1', meterStartWh: 0 },
    { kind: 'meter', tenantId, identity, evseId: null, connectorId: 1, transactionId, samples },
  ];
  const sqlite = openSqlite(t.file); // the writer's own connection, as in its thread
  try {
    expect(createObservationStore(sqlite).write([observations]).failed).toEqual([]);
  } finally {
    sqlite.close();
  }
}

describe('sites', () => {
  it('creates a site with the defaults of the issue, lists, updates and removes it, each change audited', async () => {
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: 40 });
    expect(site).toMatchObject({
      tenantId,
      name: 'Depot',
      gridLimitA: 40,
      gridLimitKw: null,
      phases: 3,
      voltageV: 230,
      safetyMarginPct: 0,
      minCurrentA: 6,
      failsafeCurrentA: 6,
      timeZone: 'UTC',
      schedule: [],
    });
    expect((await api.sites.list({ tenantId })).map((s) => [s.name, s.stations])).toEqual([['Depot', 0]]);

    const schedule = [{ weekdays: [5, 1, 1] as (1 | 5)[], from: '17:00', to: '21:00', limitA: 20 }];
    const updated = await api.sites.update({ id: site.id, safetyMarginPct: 10, timeZone: 'Europe/Brussels', schedule });
    expect(updated).toMatchObject({ safetyMarginPct: 10, timeZone: 'Europe/Brussels', schedule: [{ weekdays: [1, 5], from: '17:00', to: '21:00', limitA: 20 }] });
    expect(await api.sites.remove({ id: site.id })).toEqual({ id: site.id });
    expect(await api.sites.list({ tenantId })).toEqual([]);
    expect(await outcome(api.sites.get({ id: site.id }))).toBe('NOT_FOUND');
    expect((await auditActions()).filter((a) => a.startsWith('site.'))).toEqual(['site.remove site:acme/Depot', 'site.update site:acme/Depot', 'site.create site:acme/Depot']);
  });

  it('refuses a site without a limit, an unknown time zone, a window with a bad time, and a name taken in the tenant', async () => {
    expect(await outcome(api.sites.create({ tenantId, name: 'No limit' }))).toBe('BAD_REQUEST');
    expect(await outcome(api.sites.create({ tenantId, name: 'Zone', gridLimitA: 10, timeZone: 'Mars/Olympus' }))).toBe('BAD_REQUEST');
    expect(await outcome(api.sites.create({ tenantId, name: 'Clock', gridLimitA: 10, schedule: [{ weekdays: [1], from: '25:00', to: '06:00', limitA: 1 }] }))).toBe('BAD_REQUEST');
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitKw: 22 });
    expect(await outcome(api.sites.create({ tenantId, name: 'Depot', gridLimitA: 10 }))).toBe('CONFLICT');
    // Taking away its only limit is refused; replacing it is not.
    expect(await outcome(api.sites.update({ id: site.id, gridLimitKw: null }))).toBe('BAD_REQUEST');
    expect(await api.sites.update({ id: site.id, gridLimitKw: null, gridLimitA: 32 })).toMatchObject({ gridLimitA: 32, gridLimitKw: null });
    expect(await outcome(api.sites.create({ tenantId: 999, name: 'Elsewhere', gridLimitA: 10 }))).toBe('NOT_FOUND');
  });

  it('keeps a tenant to at most 200 sites', async () => {
    for (let i = 1; i < 200; i++) await api.sites.create({ tenantId, name: `Site ${i}`, gridLimitA: 10 });
    await api.sites.create({ tenantId, name: 'Site 200', gridLimitA: 10 });
    expect(await outcome(api.sites.create({ tenantId, name: 'Site 201', gridLimitA: 10 }))).toBe('PRECONDITION_FAILED');
  });

  it('turns smart charging on per tenant, off by default', async () => {
    expect((await api.tenants.get({ id: tenantId })).smartCharging).toBe(false);
    expect((await api.tenants.update({ id: tenantId, smartCharging: true })).smartCharging).toBe(true);
  });
});

describe('station assignment through registry.update', () => {
  it('assigns a station to a site with its maximum, phases, priority and exclusion, audited; removing the site unassigns it', async () => {
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: 40 });
    const station = await api.registry.create({ tenantId, identity: 'CP1' });
    expect(station).toMatchObject({ siteId: null, maxCurrentA: 32, phases: 3, phase: 'L1', priority: 0, excluded: false, uncontrollable: false });
    const assigned = await api.registry.update({ id: station.id, siteId: site.id, maxCurrentA: 16, phases: 1, phase: 'L2', priority: 2, excluded: true });
    expect(assigned).toMatchObject({ siteId: site.id, maxCurrentA: 16, phases: 1, phase: 'L2', priority: 2, excluded: true });
    expect((await api.sites.get({ id: site.id })).stations.map((s) => s.identity)).toEqual(['CP1']);
    expect(await auditActions()).toContain('station.update station:acme/CP1');

    await api.sites.remove({ id: site.id });
    expect((await api.registry.list({ tenantId }))[0]).toMatchObject({ siteId: null, maxCurrentA: 16 });
  });

  it('refuses a site of another tenant and values out of range', async () => {
    const other = await api.tenants.create({ name: 'Other', slug: 'other', cpmsUrl: 'ws://cpms.example' });
    const foreign = await api.sites.create({ tenantId: other.id, name: 'Theirs', gridLimitA: 40 });
    const station = await api.registry.create({ tenantId, identity: 'CP1' });
    expect(await outcome(api.registry.update({ id: station.id, siteId: foreign.id }))).toBe('BAD_REQUEST');
    expect(await outcome(api.registry.update({ id: station.id, siteId: 12345 }))).toBe('BAD_REQUEST');
    expect(await outcome(api.registry.update({ id: station.id, maxCurrentA: -1 }))).toBe('BAD_REQUEST');
    expect(await outcome(api.registry.update({ id: station.id, phases: 2 as 1 }))).toBe('BAD_REQUEST');
    expect((await api.registry.list({ tenantId }))[0]!.siteId).toBeNull();
  });
});

describe('the live allocation of sites.get', () => {
  it('offers the open sessions of the site a share of its budget, the car that draws less its own current', async () => {
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: 32 });
    const ids: Record<string, number> = {};
    for (const identity of ['CP1', 'CP2', 'CP3', 'ELSEWHERE']) ids[identity] = (await api.registry.create({ tenantId, identity })).id;
    await api.registry.update({ id: ids.CP1!, siteId: site.id });
    await api.registry.update({ id: ids.CP2!, siteId: site.id });
    await api.registry.update({ id: ids.CP3!, siteId: site.id, excluded: true, maxCurrentA: 10 });
    const now = new Date();
    // CP1's car takes 7 A per phase where it would get 11 A (so it gets 8 A: the ampere above 7 + 0.8); CP2's car takes what it gets.
    charge('CP1', '1', ['L1', 'L2', 'L3'].map((phase, i) => sample(now, 'Current.Import', 6.5 + i * 0.25, phase)));
    charge('CP2', '2', [sample(now, 'Power.Active.Import', 7_500)]);
    charge('CP3', '3', [sample(now, 'Power.Active.Import', 6_900)]);
    charge('ELSEWHERE', '4', [sample(now, 'Power.Active.Import', 11_000)]);

    const live = await api.sites.get({ id: site.id });
    expect(live.budget).toMatchObject({ limitA: 32, excludedA: [10, 10, 10], availableA: [22, 22, 22] });
    expect(live.offers.map((o) => [o.identity, o.offerA, o.reason, o.measuredA])).toEqual([
      ['CP1', 8, 'car-limit', 7],
      ['CP2', 14, 'share', expect.closeTo(7_500 / 690, 6)],
    ]);
    expect(live.offers[0]).toMatchObject({ transactionId: '1', status: 'Charging', phases: ['L1', 'L2', 'L3'] });
    expect(live.totals.offeredA).toEqual([22, 22, 22]);
    // CP1's current over 3 phases, CP2's and CP3's power readings.
    expect(live.totals.measuredKw).toBeCloseTo((7 * 230 * 3 + 7_500 + 6_900) / 1000, 6);
    expect(live.uncontrolled.map((u) => u.identity)).toEqual(['CP3']);
    expect(live.smartCharging).toBe(false);
  });

  it('sums the site stations power per minute for the load chart, with the limit over time', async () => {
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: 32 });
    for (const identity of ['CP1', 'CP2', 'ELSEWHERE']) {
      const { id } = await api.registry.create({ tenantId, identity });
      if (identity !== 'ELSEWHERE') await api.registry.update({ id, siteId: site.id });
    }
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
    charge('CP1', '1', [sample(new Date(minute), 'Power.Active.Import', 4_000), sample(new Date(minute + 30_000), 'Power.Active.Import', 6_000)]);
    charge('CP2', '2', [sample(new Date(minute + 10_000), 'Power.Active.Import', 3_000), sample(new Date(minute + 60_000), 'Power.Active.Import', 2_000)]);
    charge('ELSEWHERE', '3', [sample(new Date(minute), 'Power.Active.Import', 9_000)]);
    const { load, limit } = await api.sites.load({ id: site.id, hours: 1 });
    expect(load).toEqual([
      { at: new Date(minute), kw: 8 }, // CP1's average 5 kW + CP2's 3 kW
      { at: new Date(minute + 60_000), kw: 2 },
    ]);
    expect(limit.length).toBeGreaterThanOrEqual(4);
    expect(limit.every((l) => Math.abs(l.kw - (32 * 230 * 3) / 1000) < 1e-9)).toBe(true);
  });

  it('exports per site the limit, the offered total and the measured total as metrics', async () => {
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: 32 });
    const { id } = await api.registry.create({ tenantId, identity: 'CP1' });
    await api.registry.update({ id, siteId: site.id, maxCurrentA: 16 });
    charge('CP1', '1', [sample(new Date(), 'Power.Active.Import', 11_000)]);
    const text = await t.services.metrics.registry.metrics();
    expect(text).toContain(`ocpp_broker_site_limit_watts{tenant="acme",site="Depot"} ${32 * 230 * 3}`);
    expect(text).toContain(`ocpp_broker_site_offered_watts{tenant="acme",site="Depot"} ${16 * 230 * 3}`);
    expect(text).toContain('ocpp_broker_site_measured_watts{tenant="acme",site="Depot"} 11000');
  });
});

/** What dispatch remembers of the offer it sent a session (db/smart.ts writes the same row). */
function offerSent(siteId: number, identity: string, transactionId: string, offerA: number, reason: string, updatedAt = new Date()) {
  t.store.db.insert(smartOffers).values({ tenantId, identity, transactionId, siteId, offerA, reason, chargingSince: updatedAt, updatedAt }).run();
}

/** Dispatch's mark on a station that rejected a profile or drew more than offered. */
function markUncontrollable(stationId: number, reason: 'rejected' | 'overdraw', since: Date) {
  t.store.db.update(stations).set({ uncontrollable: true, uncontrollableReason: reason, uncontrollableSince: since }).where(eq(stations.id, stationId)).run();
}

async function siteWith(identities: string[], limitA = 32) {
  const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: limitA });
  const ids: Record<string, number> = {};
  for (const identity of identities) {
    ids[identity] = (await api.registry.create({ tenantId, identity })).id;
    await api.registry.update({ id: ids[identity]!, siteId: site.id, maxCurrentA: 16 });
  }
  return { site, ids };
}

const currents = (at: Date, amps: number) => ['L1', 'L2', 'L3'].map((phase) => sample(at, 'Current.Import', amps, phase));

describe('the offers in force of sites.get', () => {
  it('shows the offer dispatch sent from its row, and the others as computed and not sent, with the totals', async () => {
    const { site } = await siteWith(['CP1', 'CP2']);
    const now = new Date();
    charge('CP1', '1', currents(now, 9.5));
    charge('CP2', '2', currents(now, 15.8));
    const sentAt = new Date(Date.now() - 30_000);
    offerSent(site.id, 'CP1', '1', 10, 'share', sentAt);

    const live = await api.sites.get({ id: site.id });
    expect(live.offers.map((o) => [o.identity, o.offerA, o.reason, o.sent, o.measuredA])).toEqual([
      ['CP1', 10, 'share', true, 9.5],
      ['CP2', 16, 'station-max', false, 15.8],
    ]);
    expect(live.offers[0]!.offeredAt).toEqual(sentAt);
    expect(live.offers[1]!.offeredAt).toBeNull();
    expect(live.totals.offeredA).toEqual([26, 26, 26]);
    expect(live.totals.measuredA.map((a) => a.toFixed(1))).toEqual(['25.3', '25.3', '25.3']);
    expect(live.totals.offeredKw).toBeCloseTo((26 * 230 * 3) / 1000, 9);
  });

  it('ignores the offer row of an earlier session of the same station', async () => {
    const { site } = await siteWith(['CP1']);
    charge('CP1', '7', currents(new Date(), 16));
    offerSent(site.id, 'CP1', '6', 8, 'share'); // an earlier transaction of CP1
    const live = await api.sites.get({ id: site.id });
    expect(live.offers.map((o) => [o.transactionId, o.offerA, o.sent])).toEqual([['7', 16, false]]);
  });

  it('marks the readings of a station that is not connected as stale: offline', async () => {
    const { site } = await siteWith(['CP1']);
    const readAt = new Date(Date.now() - 1_000);
    charge('CP1', '1', currents(readAt, 12));
    const [offer] = (await api.sites.get({ id: site.id })).offers;
    expect(offer).toMatchObject({ measuredA: 12, measuredAt: readAt, stale: 'offline' });
  });

  it('calls a reading of a connected station stale when it is older than 2 minutes', () => {
    const now = Date.now();
    expect(staleness(new Date(now - READING_STALE_MS), true, now)).toBeNull();
    expect(staleness(new Date(now - READING_STALE_MS - 1), true, now)).toBe('old');
    expect(staleness(new Date(now - 1_000), false, now)).toBe('offline');
    expect(staleness(null, true, now)).toBeNull();
    expect(staleness(null, false, now)).toBe('offline');
  });

  it('lists the excluded and the uncontrollable stations with why and since, counted at their maximum', async () => {
    const { site, ids } = await siteWith(['CP1', 'CP2', 'CP3']);
    await api.registry.update({ id: ids.CP3!, excluded: true });
    const since = new Date(Date.now() - 3_600_000);
    markUncontrollable(ids.CP2!, 'rejected', since);
    const live = await api.sites.get({ id: site.id });
    expect(live.notControlled).toEqual([
      { id: ids.CP2, identity: 'CP2', maxCurrentA: 16, why: 'uncontrollable', reason: 'rejected', since, uncontrollable: true },
      { id: ids.CP3, identity: 'CP3', maxCurrentA: 16, why: 'excluded', reason: null, since: null, uncontrollable: false },
    ]);
    expect(live.budget).toMatchObject({ excludedA: [16, 16, 16], uncontrollableA: [16, 16, 16] });
    expect(live.stations.find((s) => s.identity === 'CP2')).toMatchObject({ uncontrollableReason: 'rejected', uncontrollableSince: since, online: false });
  });
});

describe('the limit change log of sites.limitChanges', () => {
  function logChanges(siteId: number, count: number) {
    const start = Date.now() - count * 1_000;
    const rows = Array.from({ length: count }, (_, i) => ({
      siteId,
      identity: `CP${i % 3}`,
      transactionId: String(i),
      purpose: 'TxProfile',
      fromA: i === 0 ? null : 6 + (i % 10),
      toA: 6 + ((i + 1) % 10),
      reason: 'share',
      outcome: i % 7 === 0 ? 'Rejected' : 'Accepted',
      at: new Date(start + i * 1_000),
    }));
    t.store.db.insert(limitChanges).values(rows).run();
  }

  it('pages through the changes of the site, newest first, 20 by default and at most 200 a page', async () => {
    const site = await api.sites.create({ tenantId, name: 'Depot', gridLimitA: 32 });
    const other = await api.sites.create({ tenantId, name: 'Other', gridLimitA: 32 });
    logChanges(site.id, 450);
    logChanges(other.id, 5);

    const first = await api.sites.limitChanges({ id: site.id });
    expect(first.changes).toHaveLength(20);
    expect(first.more).toBe(true);
    expect(first.changes[0]).toMatchObject({ transactionId: '449', purpose: 'TxProfile', fromA: 15, toA: 6, reason: 'share', outcome: 'Accepted' });

    const seen: string[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await api.sites.limitChanges({ id: site.id, limit: 200, before });
      expect(page.changes.length).toBeLessThanOrEqual(200);
      seen.push(...page.changes.map((c) => c.transactionId!));
      if (!page.more) break;
      before = page.changes.at(-1)!.id;
    }
    expect(seen).toEqual(Array.from({ length: 450 }, (_, i) => String(449 - i)));
    expect(await outcome(api.sites.limitChanges({ id: site.id, limit: 201 }))).toBe('BAD_REQUEST');
    expect(await outcome(api.sites.limitChanges({ id: 999 }))).toBe('NOT_FOUND');
  });
});

describe('clearing the uncontrollable mark through registry.update', () => {
  it('clears the mark with its reason and since, audited with what it was', async () => {
    const { site, ids } = await siteWith(['CP1']);
    const since = new Date(Date.now() - 60_000);
    markUncontrollable(ids.CP1!, 'overdraw', since);
    const after = await api.registry.update({ id: ids.CP1!, uncontrollable: false });
    expect(after).toMatchObject({ uncontrollable: false, uncontrollableReason: null, uncontrollableSince: null, siteId: site.id, maxCurrentA: 16 });
    const [entry] = await api.audit.list({ action: 'station.update', limit: 1 });
    expect(entry).toMatchObject({
      target: 'station:acme/CP1',
      before: expect.objectContaining({ uncontrollable: true, uncontrollableReason: 'overdraw' }),
      after: expect.objectContaining({ uncontrollable: false, uncontrollableReason: null }),
    });
    expect((await api.sites.get({ id: site.id })).notControlled).toEqual([]);
  });

  it('keeps the mark when its audit row cannot be written: one transaction', async () => {
    const { ids } = await siteWith(['CP1']);
    markUncontrollable(ids.CP1!, 'rejected', new Date());
    t.store.db.run(sql`create trigger audit_down before insert on audit_log begin select raise(abort, 'audit log unavailable'); end`);
    await expect(api.registry.update({ id: ids.CP1!, uncontrollable: false })).rejects.toThrow(/audit log unavailable/);
    expect((await api.registry.list({ tenantId }))[0]).toMatchObject({ uncontrollable: true, uncontrollableReason: 'rejected' });
  });

  it('refuses viewers, and setting the mark (only dispatch sets it)', async () => {
    const { ids } = await siteWith(['CP1']);
    markUncontrollable(ids.CP1!, 'rejected', new Date());
    const viewer = (await t.as('watcher', 'viewer')).api;
    expect(await outcome(viewer.registry.update({ id: ids.CP1!, uncontrollable: false }))).toBe('FORBIDDEN');
    expect(await outcome(api.registry.update({ id: ids.CP1!, uncontrollable: true as false }))).toBe('BAD_REQUEST');
    expect((await api.registry.list({ tenantId }))[0]).toMatchObject({ uncontrollable: true });
  });
});

describe('the CPMS charging policy of a tenant', () => {
  it('is forward by default, and stored by tenants.update', async () => {
    expect((await api.tenants.get({ id: tenantId })).cpmsChargingPolicy).toBe('forward');
    expect((await api.tenants.update({ id: tenantId, smartCharging: true, cpmsChargingPolicy: 'reject' })).cpmsChargingPolicy).toBe('reject');
    expect((await api.tenants.get({ id: tenantId })).cpmsChargingPolicy).toBe('reject');
    expect(await outcome(api.tenants.update({ id: tenantId, cpmsChargingPolicy: 'ignore' as 'accept' }))).toBe('BAD_REQUEST');
  });
});
