import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  apply,
  composite,
  endTransaction,
  maxStackLevel,
  parseCommand,
  PROFILES_PER_STATION_LIMIT,
  profileLimitA,
  startTransaction,
  toAmpsPerPhase,
  toWatts,
  type ChargingProfile,
  type InstalledProfile,
  type OcppVersion,
  type ProfileCommand,
} from '../server/smart/charging-profiles.ts';

const T0 = Date.parse('2026-12-03T08:00:00Z');
const HOUR = 3_600_000;

/** A 1.6 SetChargingProfile payload. */
function set16(connectorId: number, profile: Record<string, unknown>) {
  return { connectorId, csChargingProfiles: profile };
}

function command(version: OcppVersion, action: string, payload: unknown): ProfileCommand {
  const parsed = parseCommand(version, action, payload);
  if (!parsed) throw new Error(`not a valid ${action}`);
  return parsed;
}

/** Applies the commands in order, each at T0 + its index (ms), as a station accepting them would. */
function station(version: OcppVersion, ...commands: ProfileCommand[]): InstalledProfile[] {
  return commands.reduce<InstalledProfile[]>((set, c, i) => apply(set, c, version, T0 + i).profiles, []);
}

const tx16 = (id: number, limit: number, extra: Record<string, unknown> = {}) =>
  command('1.6', 'SetChargingProfile', set16(1, {
    chargingProfileId: id,
    transactionId: 4711,
    stackLevel: 0,
    chargingProfilePurpose: 'TxProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: { startSchedule: new Date(T0).toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
    ...extra,
  }));

const session = { evseId: 1, transactionId: '4711' };

function txPayload16() {
  return set16(1, {
    chargingProfileId: 1,
    transactionId: 4711,
    stackLevel: 0,
    chargingProfilePurpose: 'TxProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: { startSchedule: new Date(T0).toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] },
  });
}

describe('parsing the CPMS commands', () => {
  it('reads a 1.6 SetChargingProfile, ignoring fields it does not know', () => {
    const parsed = parseCommand('1.6', 'SetChargingProfile', {
      connectorId: 2,
      vendorExtension: true,
      csChargingProfiles: {
        chargingProfileId: 7,
        transactionId: 4711,
        stackLevel: 1,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        unknown: 'x',
        chargingSchedule: { duration: 3600, chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 600, limit: 7360, numberPhases: 1 }, { startPeriod: 0, limit: 11040 }], minChargingRate: 6 },
      },
    });
    expect(parsed).toMatchObject({
      action: 'SetChargingProfile',
      evseId: 2,
      profile: {
        id: 7,
        stackLevel: 1,
        purpose: 'TxProfile',
        kind: 'Relative',
        transactionId: '4711',
        schedules: [{ duration: 3600, unit: 'W', periods: [{ startPeriod: 0, limit: 11040 }, { startPeriod: 600, limit: 7360, numberPhases: 1 }] }],
      },
    });
    if (parsed?.action === 'SetChargingProfile') expect(parsed.sent).toHaveProperty('unknown', 'x'); // kept as sent
  });

  it('reads a 2.0.1 SetChargingProfile with its schedules and its transaction', () => {
    const parsed = parseCommand('2.0.1', 'SetChargingProfile', {
      evseId: 1,
      chargingProfile: {
        id: 12,
        stackLevel: 0,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Absolute',
        transactionId: 'tx-abc',
        validTo: '2026-12-04T00:00:00Z',
        chargingSchedule: [{ id: 1, startSchedule: '2026-12-03T08:00:00.000Z', chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] }],
      },
    });
    expect(parsed).toMatchObject({
      evseId: 1,
      profile: { id: 12, transactionId: 'tx-abc', validTo: Date.parse('2026-12-04T00:00:00Z'), schedules: [{ startSchedule: T0, unit: 'A' }] },
    });
  });

  it('reads clears by id and by criteria, 1.6 and 2.0.1, and an unqualified one', () => {
    expect(parseCommand('1.6', 'ClearChargingProfile', { id: 7 })).toEqual({ action: 'ClearChargingProfile', id: 7 });
    expect(parseCommand('1.6', 'ClearChargingProfile', { connectorId: 1, chargingProfilePurpose: 'TxProfile', stackLevel: 2 })).toEqual({
      action: 'ClearChargingProfile',
      evseId: 1,
      purpose: 'TxProfile',
      stackLevel: 2,
    });
    expect(parseCommand('2.0.1', 'ClearChargingProfile', { chargingProfileCriteria: { evseId: 0, chargingProfilePurpose: 'TxDefaultProfile' } })).toEqual({
      action: 'ClearChargingProfile',
      evseId: 0,
      purpose: 'TxDefaultProfile',
    });
    expect(parseCommand('2.0.1', 'ClearChargingProfile', { chargingProfileId: 3 })).toEqual({ action: 'ClearChargingProfile', id: 3 });
    expect(parseCommand('2.0.1', 'ClearChargingProfile', {})).toEqual({ action: 'ClearChargingProfile' });
  });

  it('refuses payloads that do not fit, and other actions', () => {
    expect(parseCommand('1.6', 'SetChargingProfile', { connectorId: 1 })).toBeUndefined();
    expect(parseCommand('1.6', 'SetChargingProfile', { connectorId: 1, csChargingProfiles: { chargingProfileId: 'x' } })).toBeUndefined();
    expect(parseCommand('2.0.1', 'SetChargingProfile', set16(1, {}))).toBeUndefined();
    expect(parseCommand('1.6', 'ClearChargingProfile', { id: 'seven' })).toBeUndefined();
    expect(parseCommand('1.6', 'GetCompositeSchedule', { connectorId: 1, duration: 60 })).toBeUndefined();
  });
});

describe('a station applying the commands it accepted', () => {
  it('replaces a profile with the same id', () => {
    const set = station('1.6', tx16(1, 16), tx16(1, 10));
    expect(set.map((p) => [p.id, p.schedules[0]!.periods[0]!.limit])).toEqual([[1, 10]]);
  });

  it('replaces a 1.6 profile of the same stackLevel, purpose and connector under another id', () => {
    expect(station('1.6', tx16(1, 16), tx16(2, 10)).map((p) => p.id)).toEqual([2]);
  });

  it('keeps two 2.0.1 profiles of the same stackLevel, purpose and evse whose validity does not overlap (K01.FR.06), and replaces overlapping ones', () => {
    const def = (id: number, validFrom: string, validTo: string) =>
      command('2.0.1', 'SetChargingProfile', {
        evseId: 1,
        chargingProfile: {
          id,
          stackLevel: 0,
          chargingProfilePurpose: 'TxDefaultProfile',
          chargingProfileKind: 'Absolute',
          validFrom,
          validTo,
          chargingSchedule: [{ id: 1, startSchedule: '2026-12-01T00:00:00Z', chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
        },
      });
    expect(station('2.0.1', def(1, '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z'), def(2, '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z')).map((p) => p.id)).toEqual([1, 2]);
    expect(station('2.0.1', def(1, '2026-12-01T00:00:00Z', '2026-12-03T00:00:00Z'), def(2, '2026-12-02T00:00:00Z', '2026-12-04T00:00:00Z')).map((p) => p.id)).toEqual([2]);
  });

  it('clears by criteria only what matches every criterion, and everything when none is given', () => {
    const cap = command('1.6', 'SetChargingProfile', set16(0, {
      chargingProfileId: 9,
      stackLevel: 0,
      chargingProfilePurpose: 'ChargePointMaxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { startSchedule: new Date(T0).toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 32 }] },
    }));
    const set = station('1.6', cap, tx16(1, 16));
    expect(apply(set, command('1.6', 'ClearChargingProfile', { chargingProfilePurpose: 'TxProfile' }), '1.6', T0).profiles.map((p) => p.id)).toEqual([9]);
    expect(apply(set, command('1.6', 'ClearChargingProfile', { connectorId: 0, chargingProfilePurpose: 'TxProfile' }), '1.6', T0).removed).toEqual([]);
    expect(apply(set, command('1.6', 'ClearChargingProfile', {}), '1.6', T0).profiles).toEqual([]);
  });

  it(`keeps at most ${PROFILES_PER_STATION_LIMIT} profiles per station, dropping the oldest`, () => {
    const commands = Array.from({ length: PROFILES_PER_STATION_LIMIT + 1 }, (_, i) => tx16(i + 1, 16, { stackLevel: i }));
    const set = station('1.6', ...commands.slice(0, -1));
    const applied = apply(set, commands.at(-1)!, '1.6', T0 + HOUR);
    expect(applied.profiles).toHaveLength(PROFILES_PER_STATION_LIMIT);
    expect(applied.dropped.map((p) => p.id)).toEqual([1]);
  });

  it("forgets a transaction's TxProfiles when it ends, and a 1.6 TxProfile without transactionId when its connector starts anew", () => {
    const set = station('1.6', tx16(1, 16), tx16(2, 10, { transactionId: undefined, stackLevel: 1 }));
    expect(endTransaction(set, '4711').map((p) => p.id)).toEqual([1]);
    expect(startTransaction(set, 1).map((p) => p.id)).toEqual([2]);
    expect(startTransaction(set, 2)).toEqual([]);
  });
});

describe("the CPMS's limit for a session", () => {
  const def16 = (id: number, limit: number, extra: Record<string, unknown> = {}, schedule: Record<string, unknown> = {}) =>
    command('1.6', 'SetChargingProfile', set16(0, {
      chargingProfileId: id,
      stackLevel: 0,
      chargingProfilePurpose: 'TxDefaultProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { startSchedule: new Date(T0).toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }], ...schedule },
      ...extra,
    }));

  it("is the session's TxProfile over the TxDefaultProfile, capped by the station maximum", () => {
    const max = command('1.6', 'SetChargingProfile', set16(0, {
      chargingProfileId: 3,
      stackLevel: 0,
      chargingProfilePurpose: 'ChargePointMaxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { startSchedule: new Date(T0).toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 12 }] },
    }));
    expect(composite(station('1.6', def16(1, 8), tx16(2, 10)), session, T0 + HOUR).limitA).toBe(10);
    expect(composite(station('1.6', def16(1, 8), tx16(2, 16), max), session, T0 + HOUR).limitA).toBe(12);
    expect(composite(station('1.6', def16(1, 8)), session, T0 + HOUR).limitA).toBe(8);
    expect(composite(station('1.6', tx16(2, 10)), { evseId: 1, transactionId: '4712' }, T0 + HOUR).limitA).toBeNull(); // another transaction
    expect(composite([], session, T0).limitA).toBeNull();
  });

  it('takes the highest stackLevel in force, and the lower one once its duration or validity is over', () => {
    const set = station('1.6', def16(1, 16), def16(2, 6, { stackLevel: 1 }, { duration: 3600 }), def16(3, 4, { stackLevel: 2, validTo: new Date(T0 + 30 * 60_000).toISOString() }));
    expect(composite(set, session, T0 + 10 * 60_000).limitA).toBe(4);
    expect(composite(set, session, T0 + 40 * 60_000).limitA).toBe(6);
    expect(composite(set, session, T0 + 2 * HOUR).limitA).toBe(16);
  });

  it('follows the periods of a schedule, and repeats a Daily recurring one every day', () => {
    const evening = def16(1, 0, { chargingProfileKind: 'Recurring', recurrencyKind: 'Daily' }, {
      startSchedule: '2026-11-01T00:00:00Z',
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 32 }, { startPeriod: 17 * 3600, limit: 10 }, { startPeriod: 21 * 3600, limit: 32 }],
    });
    const set = station('1.6', evening);
    expect(composite(set, session, Date.parse('2026-12-03T18:00:00Z')).limitA).toBe(10);
    expect(composite(set, session, Date.parse('2026-12-03T22:00:00Z')).limitA).toBe(32);
    expect(composite(set, session, Date.parse('2026-12-04T16:59:59Z')).limitA).toBe(32);
  });

  it('starts a Relative schedule when the session started, and takes its lowest period when that is not known', () => {
    const relative = def16(1, 0, { chargingProfileKind: 'Relative' }, { startSchedule: undefined, chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }, { startPeriod: 1800, limit: 8 }] });
    const set = station('1.6', relative);
    expect(composite(set, { ...session, startedAt: T0 }, T0 + 60_000).limitA).toBe(16);
    expect(composite(set, { ...session, startedAt: T0 }, T0 + HOUR).limitA).toBe(8);
    expect(composite(set, session, T0 + 60_000).limitA).toBe(8);
  });

  it('converts W to A per phase over the voltage and numberPhases, 3 when not given', () => {
    const watts = (numberPhases?: number) => def16(1, 11_040, {}, { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 11_040, ...(numberPhases && { numberPhases }) }] });
    expect(composite(station('1.6', watts()), session, T0, 230).limitA).toBeCloseTo(16);
    expect(composite(station('1.6', watts(1)), session, T0, 230).limitA).toBeCloseTo(48);
  });

  it('reads a 2.0.1 TxProfile for its transaction on its evse, and the lowest of its schedules', () => {
    const set = station('2.0.1', command('2.0.1', 'SetChargingProfile', {
      evseId: 1,
      chargingProfile: {
        id: 5,
        stackLevel: 3,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Absolute',
        transactionId: 'tx-1',
        chargingSchedule: [
          { id: 1, startSchedule: '2026-12-03T08:00:00Z', chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] },
          { id: 2, startSchedule: '2026-12-03T08:00:00Z', chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 14 }] },
        ],
      },
    }));
    expect(composite(set, { evseId: 1, transactionId: 'tx-1' }, T0 + HOUR).limitA).toBe(14);
    expect(composite(set, { evseId: 1, transactionId: 'tx-2' }, T0 + HOUR).limitA).toBeNull();
    expect(maxStackLevel(set, 'TxProfile')).toBe(3);
    expect(maxStackLevel(set, 'TxDefaultProfile')).toBeNull();
  });
});

// Random stations: profiles of every 1.6 purpose on connectors 0-2, for two transactions, with random schedules.
const limitArb = fc.integer({ min: 0, max: 320 }).map((l) => l / 10);
const profileArb: fc.Arbitrary<{ evseId: number; profile: ChargingProfile }> = fc
  .record({
    id: fc.integer({ min: 1, max: 30 }),
    stackLevel: fc.integer({ min: 0, max: 3 }),
    purpose: fc.constantFrom('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'),
    evseId: fc.integer({ min: 0, max: 2 }),
    transactionId: fc.constantFrom(null, '1', '2'),
    startOffsetH: fc.integer({ min: -3, max: 3 }),
    durationH: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    unit: fc.constantFrom('A' as const, 'W' as const),
    periods: fc.uniqueArray(fc.record({ startPeriod: fc.integer({ min: 0, max: 4 * 3600 }), limit: limitArb, numberPhases: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) }), {
      minLength: 1,
      maxLength: 3,
      selector: (p) => p.startPeriod,
    }),
    validToH: fc.option(fc.integer({ min: -2, max: 6 }), { nil: undefined }),
  })
  .map((r) => ({
    evseId: r.purpose === 'ChargePointMaxProfile' ? 0 : r.evseId,
    profile: {
      id: r.id,
      stackLevel: r.stackLevel,
      purpose: r.purpose,
      kind: 'Absolute' as const,
      transactionId: r.purpose === 'TxProfile' ? r.transactionId : null,
      ...(r.validToH !== undefined && { validTo: T0 + r.validToH * HOUR }),
      schedules: [
        {
          startSchedule: T0 + r.startOffsetH * HOUR,
          ...(r.durationH !== undefined && { duration: r.durationH * 3600 }),
          unit: r.unit,
          periods: [{ ...r.periods[0]!, startPeriod: 0 }, ...r.periods.slice(1)].sort((a, b) => a.startPeriod - b.startPeriod),
        },
      ],
    },
  }));
const setCommand = (p: { evseId: number; profile: ChargingProfile }): ProfileCommand => ({ action: 'SetChargingProfile', evseId: p.evseId, profile: p.profile, sent: {} });
const stationArb = fc.tuple(fc.constantFrom<OcppVersion>('1.6', '2.0.1'), fc.array(profileArb, { maxLength: 12 }));
const targetArb = fc.record({ evseId: fc.integer({ min: 1, max: 2 }), transactionId: fc.constantFrom('1', '2', '3') });
const atArb = fc.integer({ min: -4 * 60, max: 8 * 60 }).map((m) => T0 + m * 60_000);

describe('properties', () => {
  it('applying a profile then clearing it by id leaves the set as it was, when it replaced nothing', () => {
    fc.assert(
      fc.property(stationArb, profileArb, ([version, profiles], extra) => {
        const before = station(version, ...profiles.map(setCommand));
        fc.pre(!before.some((p) => p.id === extra.profile.id));
        const set = apply(before, setCommand(extra), version, T0 + HOUR);
        fc.pre(set.removed.length === 0);
        expect(apply(set.profiles, { action: 'ClearChargingProfile', id: extra.profile.id }, version, T0 + HOUR).profiles).toEqual(before);
      }),
    );
  });

  it('a station never holds two profiles with the same id', () => {
    fc.assert(
      fc.property(stationArb, ([version, profiles]) => {
        const ids = station(version, ...profiles.map(setCommand)).map((p) => p.id);
        expect(new Set(ids).size).toBe(ids.length);
      }),
    );
  });

  it('the limit is never above the limit of any profile in force at the winning stackLevel of each purpose that counts', () => {
    fc.assert(
      fc.property(stationArb, targetArb, atArb, ([version, profiles], target, at) => {
        const set = station(version, ...profiles.map(setCommand));
        const { limitA, prevailing } = composite(set, target, at, 230);
        const inForce = (p: InstalledProfile) => profileLimitA(p, at, undefined, 230);
        const relevant = (purpose: string) =>
          set.filter((p) =>
            p.purpose === purpose &&
            (purpose === 'TxProfile' ? (p.transactionId === null ? p.evseId === target.evseId : p.transactionId === target.transactionId) : p.evseId === 0 || p.evseId === target.evseId) &&
            inForce(p) !== undefined,
          );
        const caps = relevant('ChargePointMaxProfile');
        const tx = relevant('TxProfile');
        const sessionProfiles = tx.length > 0 ? tx : relevant('TxDefaultProfile');
        for (const group of [caps, sessionProfiles]) {
          if (group.length === 0) continue;
          const top = Math.max(...group.map((p) => p.stackLevel));
          const winners = group.filter((p) => p.stackLevel === top);
          // A tie within a level (evse 0 and the evse's own) goes to the evse's own: the limit is at most that one's.
          const own = winners.filter((p) => p.evseId !== 0);
          for (const p of own.length > 0 ? own : winners) {
            expect(limitA).not.toBeNull();
            expect(limitA!).toBeLessThanOrEqual(inForce(p)! + 1e-9);
          }
        }
        expect(limitA === null).toBe(caps.length === 0 && sessionProfiles.length === 0);
        for (const p of prevailing) expect(limitA!).toBeLessThanOrEqual(p.limitA);
      }),
    );
  });

  it('a command reads the same with fields added that the broker does not know', () => {
    const extra = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['__proto__', 'constructor'].includes(k)), fc.jsonValue(), { maxKeys: 4 });
    fc.assert(
      fc.property(extra, extra, (outer, inner) => {
        const payload = txPayload16();
        const widened = { ...outer, ...payload, csChargingProfiles: { ...inner, ...payload.csChargingProfiles } };
        const read = (p: unknown) => {
          const c = command('1.6', 'SetChargingProfile', p) as Extract<ProfileCommand, { action: 'SetChargingProfile' }>;
          return { evseId: c.evseId, profile: c.profile };
        };
        expect(read(widened)).toEqual(read(payload));
      }),
    );
  });

  it('W converted to A per phase and back is the same limit', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1000, noNaN: true }), fc.integer({ min: 100, max: 480 }), fc.integer({ min: 1, max: 3 }), (amps, voltageV, phases) => {
        expect(toAmpsPerPhase(toWatts(amps, voltageV, phases), 'W', voltageV, phases)).toBeCloseTo(amps, 6);
      }),
    );
  });
});
