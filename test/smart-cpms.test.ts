import { afterEach, describe, expect, it } from 'vitest';
import type { DispatchTimings } from '../server/smart/dispatch.ts';
import { PROFILE_ID_BASE } from '../server/smart/profiles.ts';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, type TestCpms } from './support/ocpp.ts';
import { within } from './support/eventually.ts';
import { SimStation, type Received } from './support/smart.ts';

/**
 * Smart charging with the CPMS's own limits, end to end: the CPMS watch (server/smart/cpms-profiles.ts) reads the
 * CPMS's SetChargingProfile and the station's answer, and dispatch (server/smart/dispatch.ts) never offers more.
 */
const TIMINGS: Partial<DispatchTimings> = { debounceMs: 100, tickMs: 1_000, raiseIntervalMs: 0, raiseStepA: 8, callTimeoutMs: 3_000 };

let running: { broker: TestBroker; cpms: TestCpms; sims: SimStation[] }[] = [];
afterEach(async () => {
  for (const r of running) {
    for (const sim of r.sims) await sim.close();
    await r.broker.close();
    await r.cpms.close();
  }
  running = [];
});

async function twoStationsOnA32ASite(version: '1.6' | '2.0.1', policy: 'forward' | 'accept' = 'forward') {
  const broker = await startTestBroker({}, { smart: { timings: TIMINGS }, writer: { intervalMs: 100 } });
  const cpms = await startCpms();
  const received: Received[] = [];
  const sims = ['CP1', 'CP2'].map((identity) => new SimStation(broker.endpoint('acme'), identity, version, received));
  running.push({ broker, cpms, sims });
  const tenantId = (await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, ocppVersion: version })).id;
  await broker.api.tenants.update.mutate({ id: tenantId, smartCharging: true, cpmsChargingPolicy: policy });
  const siteId = (await broker.api.sites.create.mutate({ tenantId, name: 'Depot', gridLimitA: 32, phases: 3, minCurrentA: 6 })).id;
  for (const sim of sims) {
    const { id } = await broker.api.registry.create.mutate({ tenantId, identity: sim.identity });
    await broker.api.registry.update.mutate({ id, siteId, maxCurrentA: 32, phases: 3 });
  }
  for (const sim of sims) await sim.connect();
  await sims[0]!.start('BADGE1');
  await sims[1]!.start('BADGE2');
  expect(await within(5_000, () => sims[0]!.limitA() === 16 && sims[1]!.limitA() === 16), `${sims.map((s) => s.limitA())}`).toBe(true);
  return { broker, cpms, sims, received };
}

/** The CPMS's TxProfile of `limit` A for the station's session, sent by the CPMS (through the broker). */
async function cpmsLimitsSession(cpms: TestCpms, sim: SimStation, limit: number): Promise<unknown> {
  const client = cpms.clients.find((c) => c.identity === sim.identity)!;
  const schedule = { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] };
  const payload =
    sim.version === '1.6'
      ? { connectorId: 1, csChargingProfiles: { chargingProfileId: 7, stackLevel: 0, chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative', transactionId: Number(sim.transactionId), chargingSchedule: schedule } }
      : { evseId: 1, chargingProfile: { id: 7, stackLevel: 0, chargingProfilePurpose: 'TxProfile', chargingProfileKind: 'Relative', transactionId: sim.transactionId, chargingSchedule: [{ id: 1, ...schedule }] } };
  return client.call('SetChargingProfile', payload);
}

/** The limits of the broker's TxProfiles that the station received after `seq`. */
function brokerLimitsAfter(received: Received[], identity: string, seq: number): number[] {
  return received
    .filter((r) => r.seq > seq && r.identity === identity && r.action === 'SetChargingProfile')
    .map((r) => (r.payload.csChargingProfiles ?? r.payload.chargingProfile) as { id?: number; chargingProfileId?: number; chargingProfilePurpose: string; chargingSchedule: unknown })
    .filter((p) => (p.chargingProfileId ?? p.id)! >= PROFILE_ID_BASE && p.chargingProfilePurpose === 'TxProfile')
    .map((p) => (Array.isArray(p.chargingSchedule) ? p.chargingSchedule[0] : p.chargingSchedule) as { chargingSchedulePeriod: { limit: number }[] })
    .map((s) => s.chargingSchedulePeriod[0]!.limit);
}

describe.each(['1.6', '2.0.1'] as const)('the CPMS keeps its word (OCPP %s)', (version) => {
  it("reaches the station with the CPMS's 10 A TxProfile, and the broker never offers that session more, giving the rest to the other", async () => {
    const { cpms, sims, received } = await twoStationsOnA32ASite(version);
    const [cp1, cp2] = sims as [SimStation, SimStation];
    const before = received.length === 0 ? -1 : received.at(-1)!.seq;

    expect(await cpmsLimitsSession(cpms, cp1, 10)).toEqual({ status: 'Accepted' });
    // The station holds the CPMS's profile itself, and the broker's (a stackLevel above) at no more than 10 A.
    expect(received.some((r) => r.identity === 'CP1' && r.action === 'SetChargingProfile' && JSON.stringify(r.payload).includes('"stackLevel":0'))).toBe(true);
    expect(await within(5_000, () => cp1.limitA() === 10 && cp2.limitA() === 22), `${sims.map((s) => s.limitA())}`).toBe(true);

    // With the other session gone, the whole site is free: the CPMS's limit still holds.
    await cp2.stop();
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // recomputes on the stop and on the periodic tick
    expect(cp1.limitA()).toBe(10);
    expect(brokerLimitsAfter(received, 'CP1', before).every((limit) => limit <= 10)).toBe(true);
  }, 60_000);
});

describe('the CPMS charging policy "accept" with dispatch', () => {
  it('answers the CPMS itself, keeps its profile from the station, and still holds the session to the CPMS limit', async () => {
    const { cpms, sims, received } = await twoStationsOnA32ASite('1.6', 'accept');
    const [cp1, cp2] = sims as [SimStation, SimStation];
    const before = received.at(-1)!.seq;

    expect(await cpmsLimitsSession(cpms, cp1, 10)).toEqual({ status: 'Accepted' });
    expect(await within(5_000, () => cp1.limitA() === 10 && cp2.limitA() === 22), `${sims.map((s) => s.limitA())}`).toBe(true);
    // Only the broker's own profiles reached the station.
    const toCp1 = received.filter((r) => r.seq > before && r.identity === 'CP1' && r.action === 'SetChargingProfile');
    expect(toCp1.length).toBeGreaterThan(0);
    expect(toCp1.every((r) => (r.payload.csChargingProfiles as { chargingProfileId: number }).chargingProfileId >= PROFILE_ID_BASE)).toBe(true);
  }, 60_000);
});
