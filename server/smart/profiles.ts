/**
 * The charging profiles the broker writes, and the station capabilities it reads first: pure builders of the payloads
 * (OCPP 1.6 §5.16 / §7.8, 2.0.1 K01 / §2.10) and the readers of GetConfiguration and GetVariables answers.
 */
import { z } from 'zod';

/** Profile ids the broker takes: the CPMS is told to leave this range alone (README "Smart charging"). */
export const PROFILE_ID_BASE = 2_000_000_000;
export const PROFILE_ID_LAST = 2_000_099_999;

/**
 * The broker's profile id for a connector (1.6) or EVSE (2.0.1) of a station; 0 is the station's TxDefaultProfile.
 * One id per place, reused: a new profile there replaces the old one (1.6 §3.13.2, 2.0.1 K01.FR.05).
 */
export function profileIdFor(place: number): number {
  const id = PROFILE_ID_BASE + place;
  if (!Number.isInteger(place) || place < 0 || id > PROFILE_ID_LAST) throw new RangeError(`No broker profile id for connector/EVSE ${place}`);
  return id;
}

export function isBrokerProfileId(id: number): boolean {
  return Number.isInteger(id) && id >= PROFILE_ID_BASE && id <= PROFILE_ID_LAST;
}

/** What a station says it can do with charging profiles. */
export interface Capabilities {
  /** 2.0.1 SmartChargingCtrlr.Enabled; 1.6 has no such switch (true). */
  enabled: boolean;
  /** The highest stackLevel it takes: 1.6 ChargeProfileMaxStackLevel, 2.0.1 ProfileStackLevel. */
  maxStackLevel: number;
  /** Whether it takes limits in A; else they go in W. */
  amps: boolean;
  maxPeriods: number;
  maxProfiles: number | null;
}

/** When a station does not say (no answer, unknown key): what OCPP stations commonly accept. */
export const DEFAULT_CAPABILITIES: Capabilities = { enabled: true, maxStackLevel: 8, amps: true, maxPeriods: 24, maxProfiles: null };

export const CONFIGURATION_KEYS = [
  'ChargeProfileMaxStackLevel',
  'ChargingScheduleAllowedChargingRateUnit',
  'ChargingScheduleMaxPeriods',
  'MaxChargingProfilesInstalled',
] as const;

const SMART_VARIABLES = ['Enabled', 'ProfileStackLevel', 'RateUnit', 'PeriodsPerSchedule', 'Entries'] as const;

/** 2.0.1 GetVariables for the SmartChargingCtrlr variables. */
export function getVariablesRequest() {
  return {
    getVariableData: SMART_VARIABLES.map((name) => ({
      component: { name: 'SmartChargingCtrlr' },
      variable: name === 'Entries' ? { name, instance: 'ChargingProfiles' } : { name },
    })),
  };
}

const configurationAnswer = z.object({
  configurationKey: z.array(z.object({ key: z.string(), value: z.string().optional() })).optional(),
});

const variablesAnswer = z.object({
  getVariableResult: z.array(
    z.object({ attributeStatus: z.string(), attributeValue: z.string().optional(), variable: z.object({ name: z.string() }) }),
  ),
});

const positive = (value: string | undefined): number | undefined => {
  const n = value === undefined ? NaN : Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

/** From a 1.6 GetConfiguration answer; what is missing or unreadable keeps its default. */
export function capabilities16(answer: unknown): Capabilities {
  const keys = new Map((configurationAnswer.safeParse(answer).data?.configurationKey ?? []).map((k) => [k.key, k.value]));
  const units = keys.get('ChargingScheduleAllowedChargingRateUnit');
  return {
    enabled: true,
    maxStackLevel: positive(keys.get('ChargeProfileMaxStackLevel')) ?? DEFAULT_CAPABILITIES.maxStackLevel,
    // "Current", "Power" or both (a CSL); vendors also write "A" and "W".
    amps: units === undefined || units.trim() === '' || /current|\bA\b/i.test(units),
    maxPeriods: positive(keys.get('ChargingScheduleMaxPeriods')) ?? DEFAULT_CAPABILITIES.maxPeriods,
    maxProfiles: positive(keys.get('MaxChargingProfilesInstalled')) ?? null,
  };
}

/** From a 2.0.1 GetVariables answer. */
export function capabilities201(answer: unknown): Capabilities {
  const values = new Map(
    (variablesAnswer.safeParse(answer).data?.getVariableResult ?? [])
      .filter((r) => r.attributeStatus === 'Accepted')
      .map((r) => [r.variable.name, r.attributeValue]),
  );
  const units = values.get('RateUnit');
  return {
    enabled: values.get('Enabled')?.toLowerCase() !== 'false',
    maxStackLevel: positive(values.get('ProfileStackLevel')) ?? DEFAULT_CAPABILITIES.maxStackLevel,
    amps: units === undefined || units.trim() === '' || /\bA\b/.test(units),
    maxPeriods: positive(values.get('PeriodsPerSchedule')) ?? DEFAULT_CAPABILITIES.maxPeriods,
    maxProfiles: positive(values.get('Entries')) ?? null,
  };
}

export type ProfilePurpose = 'TxProfile' | 'TxDefaultProfile';

export interface ProfileSpec {
  version: '1.6' | '2.0.1';
  purpose: ProfilePurpose;
  /** 1.6 connectorId, 2.0.1 evseId; 0 for the TxDefaultProfile of the whole station. */
  place: number;
  /** TxProfile: the transaction it limits (1.6: the CPMS's integer, as text). */
  transactionId: string | null;
  stackLevel: number;
  /** A per phase, a multiple of 0.1. */
  limitA: number;
  /** The phases the session draws from (for a limit in W). */
  phases: number;
  voltageV: number;
  amps: boolean;
}

/** Tenths of an ampere, or whole watts, as the station takes them. */
function limitOf(spec: ProfileSpec): { chargingRateUnit: 'A' | 'W'; limit: number } {
  if (spec.amps) return { chargingRateUnit: 'A', limit: Math.round(spec.limitA * 10) / 10 };
  return { chargingRateUnit: 'W', limit: Math.round(spec.limitA * spec.voltageV * spec.phases) };
}

/**
 * The SetChargingProfile payload. Relative profiles with one period from 0: the limit holds from the start of the
 * transaction (TxProfile) or of each transaction (TxDefaultProfile) until replaced, needing no clock agreement with
 * the station. `numberPhases` is only sent with a limit in W (K01.FR.49: it then says how the power splits).
 */
export function setChargingProfile(spec: ProfileSpec): { payload: Record<string, unknown>; profile: Record<string, unknown> } {
  const id = profileIdFor(spec.place);
  const { chargingRateUnit, limit } = limitOf(spec);
  const period = { startPeriod: 0, limit, ...(chargingRateUnit === 'W' ? { numberPhases: spec.phases } : {}) };
  if (spec.version === '1.6') {
    const profile = {
      chargingProfileId: id,
      ...(spec.transactionId === null ? {} : { transactionId: Number(spec.transactionId) }),
      stackLevel: spec.stackLevel,
      chargingProfilePurpose: spec.purpose,
      chargingProfileKind: 'Relative',
      chargingSchedule: { chargingRateUnit, chargingSchedulePeriod: [period] },
    };
    return { payload: { connectorId: spec.place, csChargingProfiles: profile }, profile };
  }
  const profile = {
    id,
    stackLevel: spec.stackLevel,
    chargingProfilePurpose: spec.purpose,
    chargingProfileKind: 'Relative',
    ...(spec.transactionId === null ? {} : { transactionId: spec.transactionId }),
    chargingSchedule: [{ id, chargingRateUnit, chargingSchedulePeriod: [period] }],
  };
  return { payload: { evseId: spec.place, chargingProfile: profile }, profile };
}

/**
 * The stackLevel above the CPMS's for that purpose (at least 1), or undefined when the station has no level left above
 * it: the broker would then have to loosen or replace the CPMS's limit, which it never does.
 */
export function stackLevelAbove(cpmsMax: number | null, caps: Pick<Capabilities, 'maxStackLevel'>): number | undefined {
  const level = Math.max(1, (cpmsMax ?? 0) + 1);
  return level <= caps.maxStackLevel ? level : undefined;
}

/** SetChargingProfile statuses: 1.6 all three, 2.0.1 the first two. */
const statusAnswer = z.object({ status: z.enum(['Accepted', 'Rejected', 'NotSupported']) });

/**
 * The status of a SetChargingProfile answer; 'Invalid' when unreadable or not one of the spec's (so that what a station
 * writes never becomes a metric label or a log entry of its choosing).
 */
export function answerStatus(answer: unknown): 'Accepted' | 'Rejected' | 'NotSupported' | 'Invalid' {
  return statusAnswer.safeParse(answer).data?.status ?? 'Invalid';
}
