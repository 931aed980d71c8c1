import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/index.ts';
import { limitChangesOfSite } from '../db/sites.ts';
import { siteOffers } from '../db/smart.ts';
import { chargingProfiles } from '../db/schema.ts';
import type { CpmsLimits } from '../server/smart/cpms-profiles.ts';
import type { DispatchTimings } from '../server/smart/dispatch.ts';
import { PROFILE_ID_BASE } from '../server/smart/profiles.ts';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, type TestCpms } from './support/ocpp.ts';
import { within } from './support/eventually.ts';
import { SimStation, type Received } from './support/smart.ts';

/**
 * A fake CPMS-limit table, standing in for the CPMS watch (server/smart/cpms-profiles.ts): per station, the limit its
 * CPMS profiles set for any session and the highest stackLevel they use; `change` plays an Accepted CPMS command.
 */
function fakeCpmsLimits() {
  const limits = new Map<string, number>();
  const levels = new Map<string, number>();
  const listeners = new Set<Parameters<CpmsLimits['onChange']>[0]>();
  const table: CpmsLimits & { limits: typeof limits; levels: typeof levels; change(tenantId: number, identity: string, broadClear: boolean): void } = {
    limits,
    levels,
    limitA: (_tenantId, identity) => limits.get(identity) ?? null,
    maxStackLevel: (_tenantId, identity) => levels.get(identity) ?? null,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    change(tenantId, identity, broadClear) {
      for (const l of listeners) l({ tenantId, identity, kind: broadClear ? 'clear' : 'set', broadClear });
    },
  };
  return table;
}

/** Short timers for tests; raising is still stepped (8 A at a time). */
const TIMINGS: Partial<DispatchTimings> = { debounceMs: 100, tickMs: 1_000, raiseIntervalMs: 0, raiseStepA: 8, callTimeoutMs: 3_000 };

interface StationSpec {
  identity: string;
  maxA?: number;
  carMaxA?: number;
}

interface Rig {
  broker: TestBroker;
  cpms: TestCpms;
  /** Every frame the CPMS received or sent. */
  cpmsFrames: unknown[][];
  received: Received[];
  sims: SimStation[];
  tenantId: number;
  siteId: number;
  stationIds: number[];
  cpmsLimits: ReturnType<typeof fakeCpmsLimits>;
  db(): ReturnType<typeof openDatabase>;
}

let rigs: Rig[] = [];
let dataDirs: string[] = [];
afterEach(async () => {
  for (const rig of rigs) {
    for (const sim of rig.sims) await sim.close();
    await rig.broker.close();
    await rig.cpms.close();
  }
  for (const dir of dataDirs) await fs.rm(dir, { recursive: true, force: true });
  rigs = [];
  dataDirs = [];
});

async function rig(
  version: '1.6' | '2.0.1',
  stations: StationSpec[],
  site: { gridLimitA: number; failsafeCurrentA?: number } = { gridLimitA: 32 },
  dataDir?: string,
  existing?: Partial<Rig>,
  timings: Partial<DispatchTimings> = TIMINGS,
): Promise<Rig> {
  const cpmsLimits = existing?.cpmsLimits ?? fakeCpmsLimits();
  const broker = await startTestBroker(dataDir ? { dataDir } : {}, { smart: { cpmsLimits, timings }, writer: { intervalMs: 100 } });
  const cpms = existing?.cpms ?? (await startCpms());
  const cpmsFrames: unknown[][] = existing?.cpmsFrames ?? [];
  if (!existing) {
    cpms.rpc.on('client', (client: { on(e: 'message', l: (m: { message: unknown }) => void): void }) =>
      client.on('message', ({ message }) => cpmsFrames.push(JSON.parse(String(message)) as unknown[])),
    );
  }
  let tenantId: number;
  let siteId: number;
  let stationIds: number[];
  if (existing) {
    ({ tenantId, siteId, stationIds } = existing as Rig);
  } else {
    tenantId = (await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, ocppVersion: version === '1.6' ? '1.6' : '2.0.1' })).id;
    await broker.api.tenants.update.mutate({ id: tenantId, smartCharging: true });
    siteId = (await broker.api.sites.create.mutate({ tenantId, name: 'Depot', phases: 3, minCurrentA: 6, ...site })).id;
    stationIds = [];
    for (const s of stations) {
      const { id } = await broker.api.registry.create.mutate({ tenantId, identity: s.identity });
      await broker.api.registry.update.mutate({ id, siteId, maxCurrentA: s.maxA ?? 32, phases: 3 });
      stationIds.push(id);
    }
  }
  const received: Received[] = existing?.received ?? [];
  const sims = stations.map((s) => {
    const sim = new SimStation(broker.endpoint('acme'), s.identity, version, received);
    sim.maxA = s.maxA ?? 32;
    sim.carMaxA = s.carMaxA ?? 32;
    return sim;
  });
  const r: Rig = {
    broker,
    cpms,
    cpmsFrames,
    received,
    sims,
    tenantId,
    siteId,
    stationIds,
    cpmsLimits,
    db: () => openDatabase(path.join(dataDir ?? broker.dataDir, 'broker.db')),
  };
  rigs.push(r);
  return r;
}

/** The limits of the open sessions, in station order (0 for a station without a session is left out). */
const held = (sims: SimStation[]) => sims.filter((s) => s.transactionId !== null).map((s) => s.limitA());
const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 10) / 10;

/**
 * Samples what the stations hold every 50 ms: the longest time the sum of the limits of the open sessions stayed
 * above `limitA` in one stretch, and any limit between 0 and the minimum.
 */
function watch(sims: SimStation[], limitA: number, minA: number) {
  let over: number | undefined;
  let longestOverMs = 0;
  const between: number[] = [];
  const timer = setInterval(() => {
    const limits = held(sims);
    for (const l of limits) if (l > 0 && l < minA) between.push(l);
    if (sum(limits) > limitA) {
      over ??= Date.now();
      longestOverMs = Math.max(longestOverMs, Date.now() - over);
    } else {
      over = undefined;
    }
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return { longestOverMs, between };
    },
  };
}

const ownActions = ['SetChargingProfile', 'ClearChargingProfile', 'GetConfiguration', 'GetVariables'];

/** The CPMS saw none of the broker's calls, nor any answer (it sent no calls of its own here). */
function cpmsSawNothingOfTheBroker(frames: unknown[][]) {
  expect(frames.filter((f) => f[0] === 2 && ownActions.includes(f[2] as string))).toEqual([]);
  expect(frames.filter((f) => f[0] === 3 && f.length === 3 && (frames.some((g) => g[0] === 2 && g[1] === f[1]) === false))).toEqual([]);
  expect(frames.filter((f) => f[0] === 4)).toEqual([]);
}

const txProfiles = (received: Received[], identity?: string) =>
  received.filter((r) => r.action === 'SetChargingProfile' && (identity === undefined || r.identity === identity)).filter((r) => {
    const p = (r.payload.csChargingProfiles ?? r.payload.chargingProfile) as { chargingProfilePurpose: string };
    return p.chargingProfilePurpose === 'TxProfile';
  });
const limitOf = (r: Received) => {
  const p = (r.payload.csChargingProfiles ?? r.payload.chargingProfile) as { chargingSchedule: unknown };
  const schedule = (Array.isArray(p.chargingSchedule) ? p.chargingSchedule[0] : p.chargingSchedule) as { chargingSchedulePeriod: { limit: number }[] };
  return schedule.chargingSchedulePeriod[0]!.limit;
};

describe('dispatch over real sockets (OCPP 1.6)', () => {
  it('keeps four stations on a 32 A site within 32 A as sessions start one after the other and stop, each at 0 or at least 6 A, the CPMS seeing none of it', async () => {
    const r = await rig('1.6', [{ identity: 'CP1' }, { identity: 'CP2' }, { identity: 'CP3', carMaxA: 7 }, { identity: 'CP4' }]);
    for (const sim of r.sims) await sim.connect();
    // Each station gets its failsafe TxDefaultProfile at 6 A on connector 0, after its capabilities were read.
    expect(await within(5_000, () => r.sims.every((s) => [...s.profiles.values()].some((p) => p.purpose === 'TxDefaultProfile' && p.limit === 6 && p.place === 0)))).toBe(true);
    for (const sim of r.sims) {
      const calls = r.received.filter((c) => c.identity === sim.identity).map((c) => c.action);
      expect(calls.slice(0, 2)).toEqual(['GetConfiguration', 'SetChargingProfile']);
    }

    const watcher = watch(r.sims, 32, 6);
    const expected = [[32], [16, 16], [12, 12, 8], [8, 8, 8, 8]];
    for (const [i, sim] of r.sims.entries()) {
      await sim.start(`BADGE${i}`);
      expect(await within(5_000, () => JSON.stringify(held(r.sims)) === JSON.stringify(expected[i])), `after session ${i + 1}: ${held(r.sims)}`).toBe(true);
    }
    await r.sims[0]!.stop();
    expect(await within(5_000, () => JSON.stringify(held(r.sims)) === JSON.stringify([12, 8, 12])), `after a stop: ${held(r.sims)}`).toBe(true);
    const { longestOverMs, between } = watcher.stop();
    expect(longestOverMs).toBeLessThan(5_000);
    expect(between).toEqual([]);

    // The second session's start: CP1 was lowered to 16 A before CP2 was raised above its failsafe.
    const cp1Down = txProfiles(r.received, 'CP1').find((c) => limitOf(c) === 16)!;
    const cp2Up = txProfiles(r.received, 'CP2')[0]!;
    expect(cp1Down.seq).toBeLessThan(cp2Up.seq);
    // The third's: CP1 and CP2 lowered from 16 A before CP3 was raised above its failsafe.
    const cp3Up = txProfiles(r.received, 'CP3')[0]!;
    for (const identity of ['CP1', 'CP2']) {
      const down = txProfiles(r.received, identity).find((c) => limitOf(c) < 16 && limitOf(c) > 8)!;
      expect(down.seq).toBeLessThan(cp3Up.seq);
    }
    // The TxProfile: the broker's id for connector 1, a stackLevel above the CPMS's (none: 1), the CPMS's integer transaction id.
    expect(cp2Up.payload).toMatchObject({
      connectorId: 1,
      csChargingProfiles: { chargingProfileId: PROFILE_ID_BASE + 1, stackLevel: 1, chargingProfilePurpose: 'TxProfile', transactionId: Number(r.sims[1]!.transactionId), chargingSchedule: { chargingRateUnit: 'A' } },
    });
    // Capabilities once per connection; the failsafe once per station.
    expect(r.received.filter((c) => c.action === 'GetConfiguration')).toHaveLength(4);
    expect(r.received.filter((c) => c.action === 'SetChargingProfile' && limitOf(c) === 6 && (c.payload.connectorId as number) === 0)).toHaveLength(4);
    expect(r.received.filter((c) => c.action === 'ClearChargingProfile')).toEqual([]);

    cpmsSawNothingOfTheBroker(r.cpmsFrames);
    expect(r.cpmsFrames.filter((f) => f[2] === 'StartTransaction')).toHaveLength(4);

    // The stopped session's TxProfile row and offer are gone; every limit sent is in the log with its answer.
    const store = r.db();
    try {
      // The station holds a limit once it has the call; dispatch records it once the answer is back.
      const offers = () => JSON.stringify(siteOffers(store.db, r.siteId).map((o) => [o.identity, o.offerA]).sort());
      expect(await within(5_000, () => offers() === JSON.stringify([['CP2', 12], ['CP3', 8], ['CP4', 12]])), offers()).toBe(true);
      const rows = store.db.select().from(chargingProfiles).all();
      expect(rows.filter((p) => p.identity === 'CP1' && p.purpose === 'TxProfile')).toEqual([]);
      expect(rows.filter((p) => p.purpose === 'TxDefaultProfile').map((p) => [p.identity, p.limitA]).sort()).toEqual([['CP1', 6], ['CP2', 6], ['CP3', 6], ['CP4', 6]]);
      const log = limitChangesOfSite(store.db, r.siteId, { limit: 200 }).changes;
      expect(log.length).toBe(r.received.filter((c) => c.action === 'SetChargingProfile').length);
      expect(new Set(log.map((l) => l.outcome))).toEqual(new Set(['Accepted']));
    } finally {
      store.close();
    }
  }, 60_000);

  it('sends nothing to the stations of a tenant with smart charging off, and starts when it is turned on', async () => {
    const r = await rig('1.6', [{ identity: 'CP1' }]);
    await r.broker.api.tenants.update.mutate({ id: r.tenantId, smartCharging: false });
    const [sim] = r.sims as [SimStation];
    await sim.connect();
    await sim.start('B1');
    await sleep(2_500); // meter readings and periodic recomputes meanwhile
    expect(r.received).toEqual([]);
    await r.broker.api.tenants.update.mutate({ id: r.tenantId, smartCharging: true });
    expect(await within(5_000, () => sim.limitA() === 32 && r.received.some((c) => c.action === 'SetChargingProfile'))).toBe(true);
  }, 30_000);

  it('clears its own profiles by their ids when smart charging is turned off, so that the station is held back no longer', async () => {
    const r = await rig('1.6', [{ identity: 'CP1' }, { identity: 'CP2' }]);
    const [cp1, cp2] = r.sims as [SimStation, SimStation];
    for (const sim of r.sims) await sim.connect();
    await cp1.start('B1');
    await cp2.start('B2');
    expect(await within(5_000, () => cp1.limitA() === 16 && cp2.limitA() === 16), `${held(r.sims)}`).toBe(true);

    await r.broker.api.tenants.update.mutate({ id: r.tenantId, smartCharging: false });
    expect(await within(5_000, () => cp1.profiles.size === 0 && cp2.profiles.size === 0), `${[...cp1.profiles.keys()]}`).toBe(true);
    expect(cp1.limitA()).toBe(32);
    const clears = r.received.filter((c) => c.action === 'ClearChargingProfile');
    // Only qualified clears, of the broker's own ids: the failsafe (connector 0) and the TxProfile (connector 1) of each.
    expect(clears.map((c) => [c.identity, c.payload]).sort()).toEqual([
      ['CP1', { id: PROFILE_ID_BASE }],
      ['CP1', { id: PROFILE_ID_BASE + 1 }],
      ['CP2', { id: PROFILE_ID_BASE }],
      ['CP2', { id: PROFILE_ID_BASE + 1 }],
    ]);
    const store = r.db();
    try {
      expect(await within(5_000, () => store.db.select().from(chargingProfiles).all().length === 0)).toBe(true);
    } finally {
      store.close();
    }
    cpmsSawNothingOfTheBroker(r.cpmsFrames);
  }, 30_000);

  it('marks a station that rejects profiles uncontrollable and counts it at its maximum, until an admin clears it and it accepts', async () => {
    const r = await rig('1.6', [{ identity: 'REJ', maxA: 16 }, { identity: 'OK' }]);
    const [rej, ok] = r.sims as [SimStation, SimStation];
    rej.answer = 'Rejected';
    for (const sim of r.sims) await sim.connect();
    await rej.start('B1');
    await ok.start('B2');
    const station = async (identity: string) => (await r.broker.api.registry.list.query({ tenantId: r.tenantId })).find((s) => s.identity === identity)!;
    expect(await within(5_000, async () => (await station('REJ')).uncontrollable)).toBe(true);
    expect(await station('REJ')).toMatchObject({ uncontrollable: true, uncontrollableReason: 'rejected' });
    // 32 A less REJ at its maximum (16 A).
    expect(await within(5_000, () => ok.limitA() === 16), `OK holds ${ok.limitA()}`).toBe(true);
    const warnings = r.broker.logs.filter((l) => l.event === 'smart.uncontrollable');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, identity: 'REJ', reason: 'rejected' });
    const metrics = await (await fetch(`${r.broker.server.url}/metrics`)).text();
    expect(metrics).toMatch(/ocpp_broker_smart_profile_calls_total\{outcome="Rejected"\} [1-9]/);
    expect(metrics).toMatch(/ocpp_broker_smart_uncontrollable\{tenant="acme",site="Depot"\} 1/);
    expect(metrics).toMatch(/ocpp_broker_alerts\{kind="station_uncontrollable",tenant="acme"\} 1/);
    const { alerts } = await r.broker.api.connections.dashboard.query();
    expect(alerts).toEqual([expect.objectContaining({ kind: 'station_uncontrollable', identity: 'REJ', siteId: r.siteId, reason: 'rejected' })]);

    rej.answer = 'Accepted';
    await r.broker.api.registry.update.mutate({ id: r.stationIds[0]!, uncontrollable: false });
    expect(await within(5_000, () => rej.limitA() === 16 && ok.limitA() === 16), `REJ ${rej.limitA()}, OK ${ok.limitA()}`).toBe(true);
    expect(await station('REJ')).toMatchObject({ uncontrollable: false, uncontrollableReason: null });
    expect((await r.broker.api.connections.dashboard.query()).alerts).toEqual([]);
    cpmsSawNothingOfTheBroker(r.cpmsFrames);
  }, 30_000);

  it('marks a station whose car keeps drawing more than its limit (plus the margin) for longer than the overdraw time uncontrollable', async () => {
    const r = await rig('1.6', [{ identity: 'OVER', maxA: 20 }, { identity: 'OK' }], { gridLimitA: 32 }, undefined, undefined, { ...TIMINGS, overdrawMs: 800 });
    const [over, ok] = r.sims as [SimStation, SimStation];
    over.ignoresLimits = true;
    over.carMaxA = 20;
    for (const sim of r.sims) await sim.connect();
    await over.start('B1');
    await ok.start('B2');
    const station = async () => (await r.broker.api.registry.list.query({ tenantId: r.tenantId })).find((s) => s.identity === 'OVER')!;
    expect(await within(8_000, async () => (await station()).uncontrollable)).toBe(true);
    expect(await station()).toMatchObject({ uncontrollableReason: 'overdraw' });
    // Counted at its maximum from then on: 32 - 20 A for the other.
    expect(await within(5_000, () => ok.limitA() === 12), `OK holds ${ok.limitA()}`).toBe(true);
  }, 30_000);

  it('writes the failsafe once per station, not again on a reconnect while unchanged, and again when the site failsafe changes', async () => {
    const r = await rig('1.6', [{ identity: 'CP1' }]);
    const [sim] = r.sims as [SimStation];
    await sim.connect();
    const failsafes = () => r.received.filter((c) => c.action === 'SetChargingProfile' && (c.payload.connectorId as number) === 0);
    expect(await within(5_000, () => failsafes().length === 1)).toBe(true);
    await sim.reconnect();
    await sleep(2_500); // more than two periodic recomputes
    expect(failsafes()).toHaveLength(1);
    await r.broker.api.sites.update.mutate({ id: r.siteId, failsafeCurrentA: 8 });
    expect(await within(5_000, () => failsafes().length === 2)).toBe(true);
    expect(limitOf(failsafes()[1]!)).toBe(8);
    expect(failsafes()[1]!.payload).toMatchObject({ connectorId: 0, csChargingProfiles: { chargingProfileId: PROFILE_ID_BASE, chargingProfilePurpose: 'TxDefaultProfile' } });
  }, 30_000);

  it('resumes after a restart with the same data directory: offers back from smart_offers, no profile sent again to a station that holds it', async () => {
    const first = await rig('1.6', [{ identity: 'CP1' }, { identity: 'CP2' }]);
    for (const sim of first.sims) await sim.connect();
    for (const sim of first.sims) await sim.start('B');
    expect(await within(5_000, () => JSON.stringify(held(first.sims)) === '[16,16]')).toBe(true);
    await sleep(500);
    const before = first.db();
    const offersBefore = siteOffers(before.db, first.siteId).map((o) => [o.identity, o.offerA, o.chargingSince?.getTime()]);
    before.close();

    // The broker stops (the stations lose their link, their sessions go on) and starts again on the same data.
    rigs = rigs.filter((x) => x !== first);
    const dataDir = first.broker.dataDir;
    await first.broker.server.close();
    const sent = first.received.length;
    for (const sim of first.sims) await sim.close();
    const second = await rig('1.6', [{ identity: 'CP1' }, { identity: 'CP2' }], { gridLimitA: 32 }, dataDir, first);
    second.sims.forEach((sim, i) => {
      for (const [id, p] of first.sims[i]!.profiles) sim.profiles.set(id, p);
      sim.transactionId = first.sims[i]!.transactionId;
    });
    for (const sim of second.sims) await sim.reconnect();
    await sleep(3_000); // meter readings and periodic recomputes meanwhile
    expect(first.received.slice(sent)).toEqual([]);
    expect(held(second.sims)).toEqual([16, 16]);
    const after = second.db();
    expect(siteOffers(after.db, first.siteId).map((o) => [o.identity, o.offerA, o.chargingSince?.getTime()])).toEqual(offersBefore);
    after.close();
    dataDirs.push(dataDir);
  }, 40_000);

  it('writes a stackLevel above the CPMS, never more than its limit, re-applies after its broad clear, and leaves alone a station without a level above the CPMS', async () => {
    const r = await rig('1.6', [{ identity: 'CP1' }, { identity: 'FULL', maxA: 16 }]);
    r.cpmsLimits.levels.set('CP1', 3);
    r.cpmsLimits.limits.set('CP1', 10);
    r.cpmsLimits.levels.set('FULL', 8); // the station's ChargeProfileMaxStackLevel
    for (const sim of r.sims) await sim.connect();
    await r.sims[0]!.start('B1');
    await r.sims[1]!.start('B2');
    expect(await within(5_000, () => r.sims[0]!.limitA() === 10), `CP1 holds ${r.sims[0]!.limitA()}`).toBe(true);
    expect(txProfiles(r.received, 'CP1').every((c) => (c.payload.csChargingProfiles as { stackLevel: number }).stackLevel === 4 && limitOf(c) <= 10)).toBe(true);
    const list = async () => (await r.broker.api.registry.list.query({ tenantId: r.tenantId })).find((s) => s.identity === 'FULL')!;
    expect(await within(5_000, async () => (await list()).uncontrollable)).toBe(true);
    expect(await list()).toMatchObject({ uncontrollableReason: 'stack-level' });
    expect(r.received.filter((c) => c.identity === 'FULL' && c.action === 'SetChargingProfile')).toEqual([]);

    // The CPMS cleared everything on CP1 (Accepted): the broker writes its profiles there again.
    const sent = r.received.filter((c) => c.identity === 'CP1' && c.action === 'SetChargingProfile').length;
    r.sims[0]!.profiles.clear();
    r.cpmsLimits.change(r.tenantId, 'CP1', true);
    expect(await within(5_000, () => r.received.filter((c) => c.identity === 'CP1' && c.action === 'SetChargingProfile').length >= sent + 2)).toBe(true);
    expect(await within(5_000, () => r.sims[0]!.limitA() === 10)).toBe(true);
    expect(r.received.filter((c) => c.action === 'ClearChargingProfile')).toEqual([]);
  }, 30_000);
});

describe('dispatch over real sockets (OCPP 2.0.1)', () => {
  it('shares a 32 A site between two stations with TxProfiles per EVSE and transaction, reading SmartChargingCtrlr first, the CPMS seeing none of it', async () => {
    const r = await rig('2.0.1', [{ identity: 'EV1' }, { identity: 'EV2' }]);
    for (const sim of r.sims) await sim.connect();
    const watcher = watch(r.sims, 32, 6);
    await r.sims[0]!.start('B1');
    expect(await within(5_000, () => JSON.stringify(held(r.sims)) === '[32]'), `${held(r.sims)}`).toBe(true);
    await r.sims[1]!.start('B2');
    expect(await within(5_000, () => JSON.stringify(held(r.sims)) === '[16,16]'), `${held(r.sims)}`).toBe(true);
    await r.sims[0]!.stop();
    expect(await within(5_000, () => JSON.stringify(held(r.sims)) === '[32]'), `${held(r.sims)}`).toBe(true);
    const { longestOverMs, between } = watcher.stop();
    expect(longestOverMs).toBeLessThan(5_000);
    expect(between).toEqual([]);

    for (const sim of r.sims) {
      const calls = r.received.filter((c) => c.identity === sim.identity);
      expect(calls[0]!.action).toBe('GetVariables');
      expect(calls[0]!.payload.getVariableData).toContainEqual({ component: { name: 'SmartChargingCtrlr' }, variable: { name: 'ProfileStackLevel' } });
      expect(calls[1]!.payload).toMatchObject({ evseId: 0, chargingProfile: { id: PROFILE_ID_BASE, chargingProfilePurpose: 'TxDefaultProfile' } });
    }
    expect(txProfiles(r.received, 'EV2')[0]!.payload).toMatchObject({
      evseId: 1,
      chargingProfile: { id: PROFILE_ID_BASE + 1, stackLevel: 1, chargingProfilePurpose: 'TxProfile', transactionId: 'EV2-tx', chargingSchedule: [{ chargingRateUnit: 'A' }] },
    });
    cpmsSawNothingOfTheBroker(r.cpmsFrames);
    expect(r.cpmsFrames.filter((f) => f[2] === 'TransactionEvent').length).toBeGreaterThan(3);
  }, 40_000);
});
