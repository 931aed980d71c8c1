import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PhaseName } from '../server/smart/allocate.ts';
import { plan, type PlanRules, type PlanSession } from '../server/smart/plan.ts';
import {
  answerStatus,
  capabilities16,
  capabilities201,
  DEFAULT_CAPABILITIES,
  isBrokerProfileId,
  PROFILE_ID_BASE,
  PROFILE_ID_LAST,
  profileIdFor,
  setChargingProfile,
  stackLevelAbove,
} from '../server/smart/profiles.ts';

const RULES: PlanRules = { raiseStepA: 4, raiseIntervalMs: 120_000, deadbandA: 1, minCurrentA: 6 };
const PHASES: PhaseName[] = ['L1', 'L2', 'L3'];

/** 0 or from the minimum to 32 A, in tenths. */
const current = fc.oneof(fc.constant(0), fc.integer({ min: 60, max: 320 }).map((t) => t / 10));
const session = fc.record({
  phases: fc.oneof(fc.constant(PHASES), fc.constantFrom<PhaseName[]>(['L1'], ['L2'], ['L3'])),
  heldA: current,
  targetA: current,
  raisedAt: fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: null }),
});
/** Sessions and a budget per phase their offers fit in (as the allocation's do), with some slack. */
const situation = fc
  .tuple(fc.array(session, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 1_000_000 }))
  .map(([list, slack, now]) => {
    const sessions: PlanSession[] = list.map((s, i) => ({ ...s, key: `s${i}` }));
    const available = Object.fromEntries(
      PHASES.map((p, i) => [p, sessions.filter((s) => s.phases.includes(p)).reduce((sum, s) => sum + s.targetA, 0) + slack[i]! / 10]),
    ) as Record<PhaseName, number>;
    return { sessions, available, now };
  });

function heldPerPhase(sessions: PlanSession[], limits: Map<string, number>): Record<PhaseName, number> {
  const sums = { L1: 0, L2: 0, L3: 0 };
  for (const s of sessions) for (const p of s.phases) sums[p] += limits.get(s.key) ?? s.heldA;
  return sums;
}

describe('the dispatch plan', () => {
  it('keeps the sum held within the budget on every phase after the decreases and after the increases', () => {
    fc.assert(
      fc.property(situation, ({ sessions, available, now }) => {
        const { decreases, increases } = plan(sessions, available, RULES, now);
        const limits = new Map<string, number>();
        for (const d of decreases) limits.set(d.key, d.toA);
        const midway = heldPerPhase(sessions, limits);
        for (const i of increases) limits.set(i.key, i.toA);
        const after = heldPerPhase(sessions, limits);
        for (const p of PHASES) {
          expect(midway[p]).toBeLessThanOrEqual(available[p] + 1e-6);
          expect(after[p]).toBeLessThanOrEqual(available[p] + 1e-6);
        }
      }),
    );
  });

  it('lowers straight to the offer, raises by at most the step toward it, never to a current between 0 and the minimum', () => {
    fc.assert(
      fc.property(situation, ({ sessions, available, now }) => {
        const { decreases, increases } = plan(sessions, available, RULES, now);
        const byKey = new Map(sessions.map((s) => [s.key, s]));
        for (const d of decreases) {
          const s = byKey.get(d.key)!;
          expect(d.toA).toBe(s.targetA);
          expect(d.toA).toBeLessThan(s.heldA);
        }
        for (const i of increases) {
          const s = byKey.get(i.key)!;
          expect(i.toA).toBeGreaterThan(s.heldA);
          expect(i.toA).toBeLessThanOrEqual(s.targetA);
          expect(i.toA - i.fromA).toBeLessThanOrEqual(Math.max(RULES.raiseStepA, s.heldA === 0 ? RULES.minCurrentA : 0) + 1e-6);
          expect(i.toA >= RULES.minCurrentA).toBe(true);
          if (s.raisedAt !== null) expect(now - s.raisedAt).toBeGreaterThanOrEqual(RULES.raiseIntervalMs);
        }
        expect(new Set([...decreases, ...increases].map((x) => x.key)).size).toBe(decreases.length + increases.length);
      }),
    );
  });

  it('skips changes below the deadband, except to and from 0, and a small decrease only while the budget allows', () => {
    const s = (key: string, heldA: number, targetA: number): PlanSession => ({ key, phases: ['L1'], heldA, targetA, raisedAt: null });
    expect(plan([s('a', 10, 10.5), s('b', 0, 6), s('c', 6, 0)], { L1: 20 }, RULES, 0)).toEqual({
      decreases: [{ key: 'c', fromA: 6, toA: 0 }],
      increases: [{ key: 'b', fromA: 0, toA: 6 }],
    });
    // 10.5 → 10 is kept while 10.5 + 9 fits in 20; not when the budget is 19.
    expect(plan([s('a', 10.5, 10), s('b', 9, 9)], { L1: 20 }, RULES, 0).decreases).toEqual([]);
    expect(plan([s('a', 10.5, 10), s('b', 9, 9)], { L1: 19 }, RULES, 0).decreases).toEqual([{ key: 'a', fromA: 10.5, toA: 10 }]);
    // Raised at most once per interval; a paused session resumes at the minimum, then steps.
    expect(plan([{ ...s('a', 8, 20), raisedAt: 1_000 }], { L1: 32 }, RULES, 60_000).increases).toEqual([]);
    expect(plan([{ ...s('a', 8, 20), raisedAt: 1_000 }], { L1: 32 }, RULES, 121_000).increases).toEqual([{ key: 'a', fromA: 8, toA: 12 }]);
  });
});

describe('the profiles the broker writes', () => {
  it('takes one id per connector or EVSE from the reserved range, 0 for the station failsafe', () => {
    expect(profileIdFor(0)).toBe(2_000_000_000);
    expect(profileIdFor(1)).toBe(2_000_000_001);
    expect(() => profileIdFor(100_000)).toThrow(RangeError);
    expect(() => profileIdFor(-1)).toThrow(RangeError);
    fc.assert(fc.property(fc.integer({ min: 0, max: 99_999 }), (place) => isBrokerProfileId(profileIdFor(place)) && profileIdFor(place) <= PROFILE_ID_LAST));
    expect(isBrokerProfileId(PROFILE_ID_BASE - 1)).toBe(false);
  });

  it('writes a 1.6 TxProfile with the integer transaction id and a 2.0.1 one with the EVSE and text id, in A to the tenth', () => {
    const spec = { purpose: 'TxProfile' as const, place: 1, transactionId: '4711', stackLevel: 3, limitA: 10.66, phases: 3, voltageV: 230, amps: true };
    expect(setChargingProfile({ ...spec, version: '1.6' }).payload).toEqual({
      connectorId: 1,
      csChargingProfiles: {
        chargingProfileId: 2_000_000_001,
        transactionId: 4711,
        stackLevel: 3,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 10.7 }] },
      },
    });
    expect(setChargingProfile({ ...spec, version: '2.0.1' }).payload).toEqual({
      evseId: 1,
      chargingProfile: {
        id: 2_000_000_001,
        stackLevel: 3,
        chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative',
        transactionId: '4711',
        chargingSchedule: [{ id: 2_000_000_001, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 10.7 }] }],
      },
    });
  });

  it('writes W = A × voltage × phases, with numberPhases, for a station that takes no limit in A', () => {
    const { payload } = setChargingProfile({ version: '1.6', purpose: 'TxDefaultProfile', place: 0, transactionId: null, stackLevel: 1, limitA: 6, phases: 3, voltageV: 230, amps: false });
    expect(payload).toMatchObject({
      connectorId: 0,
      csChargingProfiles: { chargingProfileId: 2_000_000_000, chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 4140, numberPhases: 3 }] } },
    });
    expect((payload.csChargingProfiles as Record<string, unknown>).transactionId).toBeUndefined();
  });

  it('reads the capabilities of 1.6 GetConfiguration and 2.0.1 GetVariables, with defaults for what a station does not say', () => {
    expect(capabilities16({ configurationKey: [{ key: 'ChargeProfileMaxStackLevel', value: '3' }, { key: 'ChargingScheduleAllowedChargingRateUnit', value: 'Power' }] })).toMatchObject({ maxStackLevel: 3, amps: false });
    expect(capabilities16({ configurationKey: [{ key: 'ChargingScheduleAllowedChargingRateUnit', value: 'Current,Power' }, { key: 'MaxChargingProfilesInstalled', value: '10' }] })).toMatchObject({ amps: true, maxProfiles: 10, maxStackLevel: DEFAULT_CAPABILITIES.maxStackLevel });
    expect(capabilities16('nonsense')).toEqual(DEFAULT_CAPABILITIES);
    const result = (name: string, value: string, status = 'Accepted') => ({ attributeStatus: status, attributeValue: value, component: { name: 'SmartChargingCtrlr' }, variable: { name } });
    expect(capabilities201({ getVariableResult: [result('Enabled', 'false'), result('ProfileStackLevel', '2'), result('RateUnit', 'W')] })).toMatchObject({ enabled: false, maxStackLevel: 2, amps: false });
    expect(capabilities201({ getVariableResult: [result('ProfileStackLevel', '2', 'UnknownVariable'), result('RateUnit', 'A,W')] })).toMatchObject({ enabled: true, maxStackLevel: DEFAULT_CAPABILITIES.maxStackLevel, amps: true });
  });

  it("reads a SetChargingProfile answer's status, anything else as Invalid", () => {
    expect(answerStatus({ status: 'Accepted' })).toBe('Accepted');
    expect(answerStatus({ status: 'NotSupported' })).toBe('NotSupported');
    expect(answerStatus({ status: 'x'.repeat(10_000) })).toBe('Invalid');
    expect(answerStatus(undefined)).toBe('Invalid');
  });

  it('stacks one level above the CPMS, at least 1, and not at all without room', () => {
    expect(stackLevelAbove(null, { maxStackLevel: 8 })).toBe(1);
    expect(stackLevelAbove(0, { maxStackLevel: 8 })).toBe(1);
    expect(stackLevelAbove(3, { maxStackLevel: 8 })).toBe(4);
    expect(stackLevelAbove(8, { maxStackLevel: 8 })).toBeUndefined();
  });
});
