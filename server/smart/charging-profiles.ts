/**
 * Charging profiles as a station holds them, with no I/O: the CPMS's SetChargingProfile / ClearChargingProfile payloads
 * (OCPP 1.6 Smart Charging, OCPP 2.0.1 K01 / K10) parsed, applied to a station's set of installed profiles, and the
 * limit that set puts on one session at one time (the composite schedule, 1.6 §3.13 and 2.0.1 K08), in A per phase.
 * ../shared/SMART-CHARGING.md has the rules; the departures from the specification are all on the safe side (a lower
 * limit), each said where it is made.
 */
import { z } from 'zod';
import type { OcppVersion } from '../../contract/index.ts';

export type { OcppVersion };

/** 1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile and ChargingStationExternalConstraints: caps on the station. */
const STATION_CAPS = new Set(['ChargePointMaxProfile', 'ChargingStationMaxProfile', 'ChargingStationExternalConstraints']);
/** Profiles kept per station: one more, and the oldest goes. */
export const PROFILES_PER_STATION_LIMIT = 64;
/** The voltage used for W limits when the caller gives none. */
export const DEFAULT_VOLTAGE_V = 230;
const DAY_MS = 24 * 60 * 60_000;

export interface SchedulePeriod {
  /** Seconds from the schedule's start. */
  startPeriod: number;
  limit: number;
  numberPhases?: number;
}

export interface ChargingSchedule {
  /** ms since the epoch. */
  startSchedule?: number;
  /** Seconds. */
  duration?: number;
  unit: 'A' | 'W';
  /** Sorted by startPeriod. */
  periods: SchedulePeriod[];
}

export interface ChargingProfile {
  id: number;
  stackLevel: number;
  purpose: string;
  kind: 'Absolute' | 'Relative' | 'Recurring';
  recurrency?: 'Daily' | 'Weekly';
  /** ms since the epoch. */
  validFrom?: number;
  validTo?: number;
  /** 1.6 transactionId (a number, kept as its decimal text), 2.0.1 transactionId. */
  transactionId: string | null;
  /** 1.6: one; 2.0.1: one to three (ISO 15118 offers the car a choice). */
  schedules: ChargingSchedule[];
}

/** A profile on a station: where, since when, and its JSON as the CPMS sent it (1.6 csChargingProfiles, 2.0.1 chargingProfile). */
export interface InstalledProfile extends ChargingProfile {
  /** 1.6 connectorId, 2.0.1 evseId; 0 is the whole station. */
  evseId: number;
  installedAt: number;
  sent: Record<string, unknown>;
}

export type ProfileCommand =
  | { action: 'SetChargingProfile'; evseId: number; profile: ChargingProfile; sent: Record<string, unknown> }
  | { action: 'ClearChargingProfile'; id?: number; evseId?: number; purpose?: string; stackLevel?: number };

// Lenient schemas: extra fields are ignored (zod strips them), what the broker reads must be there and well typed.
const int = z.number().int();
const time = z.iso.datetime({ offset: true }).transform((t) => Date.parse(t));
const kind = z.enum(['Absolute', 'Relative', 'Recurring']);
const recurrency = z.enum(['Daily', 'Weekly']);
const period = z.object({ startPeriod: int.min(0), limit: z.number().min(0), numberPhases: int.min(1).max(3).optional() });
const schedule = z.object({
  startSchedule: time.optional(),
  duration: int.min(0).optional(),
  chargingRateUnit: z.enum(['A', 'W']),
  chargingSchedulePeriod: z.array(period).min(1),
});

const profile16 = z.object({
  chargingProfileId: int,
  transactionId: int.optional(),
  stackLevel: int.min(0),
  chargingProfilePurpose: z.enum(['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile']),
  chargingProfileKind: kind,
  recurrencyKind: recurrency.optional(),
  validFrom: time.optional(),
  validTo: time.optional(),
  chargingSchedule: schedule,
});
const profile201 = z.object({
  id: int,
  stackLevel: int.min(0),
  chargingProfilePurpose: z.enum(['ChargingStationMaxProfile', 'TxDefaultProfile', 'TxProfile', 'ChargingStationExternalConstraints']),
  chargingProfileKind: kind,
  recurrencyKind: recurrency.optional(),
  validFrom: time.optional(),
  validTo: time.optional(),
  transactionId: z.string().max(36).optional(),
  chargingSchedule: z.array(schedule).min(1).max(3),
});
const record = z.record(z.string(), z.unknown());

const set16 = z.object({ connectorId: int.min(0), csChargingProfiles: record });
const set201 = z.object({ evseId: int.min(0), chargingProfile: record });
const clear16 = z.object({
  id: int.optional(),
  connectorId: int.optional(),
  chargingProfilePurpose: z.string().optional(),
  stackLevel: int.optional(),
});
const clear201 = z.object({
  chargingProfileId: int.optional(),
  chargingProfileCriteria: z
    .object({ evseId: int.optional(), chargingProfilePurpose: z.string().optional(), stackLevel: int.optional() })
    .optional(),
});

function toSchedule(s: z.infer<typeof schedule>): ChargingSchedule {
  return {
    ...(s.startSchedule !== undefined && { startSchedule: s.startSchedule }),
    ...(s.duration !== undefined && { duration: s.duration }),
    unit: s.chargingRateUnit,
    periods: [...s.chargingSchedulePeriod].sort((a, b) => a.startPeriod - b.startPeriod),
  };
}

/** The fields a 1.6 and a 2.0.1 profile name alike. */
function sharedFields(p: z.infer<typeof profile16> | z.infer<typeof profile201>) {
  return {
    stackLevel: p.stackLevel,
    purpose: p.chargingProfilePurpose,
    kind: p.chargingProfileKind,
    ...(p.recurrencyKind && { recurrency: p.recurrencyKind }),
    ...(p.validFrom !== undefined && { validFrom: p.validFrom }),
    ...(p.validTo !== undefined && { validTo: p.validTo }),
  };
}

/** A profile as sent (1.6 csChargingProfiles, 2.0.1 chargingProfile), whichever version its shape is; undefined when it is not one. */
export function parseProfile(sent: unknown, version?: OcppVersion): ChargingProfile | undefined {
  if (version !== '2.0.1') {
    const p = profile16.safeParse(sent);
    if (p.success) {
      return {
        id: p.data.chargingProfileId,
        ...sharedFields(p.data),
        transactionId: p.data.transactionId === undefined ? null : String(p.data.transactionId),
        schedules: [toSchedule(p.data.chargingSchedule)],
      };
    }
    if (version === '1.6') return undefined;
  }
  const p = profile201.safeParse(sent);
  if (!p.success) return undefined;
  return {
    id: p.data.id,
    ...sharedFields(p.data),
    transactionId: p.data.transactionId ?? null,
    schedules: p.data.chargingSchedule.map(toSchedule),
  };
}

/** A SetChargingProfile or ClearChargingProfile payload of the CPMS; undefined for another action or a payload that does not fit. */
export function parseCommand(version: OcppVersion, action: string, payload: unknown): ProfileCommand | undefined {
  if (action === 'SetChargingProfile') {
    const set = version === '1.6' ? set16.safeParse(payload) : set201.safeParse(payload);
    if (!set.success) return undefined;
    const evseId = 'connectorId' in set.data ? set.data.connectorId : set.data.evseId;
    const sent = 'csChargingProfiles' in set.data ? set.data.csChargingProfiles : set.data.chargingProfile;
    const profile = parseProfile(sent, version);
    return profile && { action, evseId, profile, sent };
  }
  if (action === 'ClearChargingProfile') {
    if (version === '1.6') {
      const clear = clear16.safeParse(payload);
      if (!clear.success) return undefined;
      const { id, connectorId, chargingProfilePurpose, stackLevel } = clear.data;
      return clearOf({ id, evseId: connectorId, purpose: chargingProfilePurpose, stackLevel });
    }
    const clear = clear201.safeParse(payload);
    if (!clear.success) return undefined;
    const criteria = clear.data.chargingProfileCriteria;
    return clearOf({
      id: clear.data.chargingProfileId,
      evseId: criteria?.evseId,
      purpose: criteria?.chargingProfilePurpose,
      stackLevel: criteria?.stackLevel,
    });
  }
  return undefined;
}

type Clear = Extract<ProfileCommand, { action: 'ClearChargingProfile' }>;

/** A clear with only the criteria it names. */
function clearOf(criteria: { [K in keyof Omit<Clear, 'action'>]: Clear[K] | undefined }): Clear {
  const clear: Clear = { action: 'ClearChargingProfile' };
  for (const [key, value] of Object.entries(criteria)) if (value !== undefined) Object.assign(clear, { [key]: value });
  return clear;
}

/** Whether two profiles' validity (validFrom..validTo) overlaps; open ends overlap everything. */
function overlaps(a: ChargingProfile, b: ChargingProfile): boolean {
  return (a.validFrom ?? -Infinity) < (b.validTo ?? Infinity) && (b.validFrom ?? -Infinity) < (a.validTo ?? Infinity);
}

/**
 * Whether `incoming` replaces `existing` on a station: the same id (1.6; 2.0.1 K01.FR.05), or the same stackLevel and
 * purpose on the same evse, a TxProfile of the same transaction (1.6 replaces it; 2.0.1 K01.FR.06 / K01.FR.39: a
 * station accepts it only when the validity does not overlap, and then keeps both).
 */
export function replaces(incoming: InstalledProfile, existing: InstalledProfile, version: OcppVersion): boolean {
  if (incoming.id === existing.id) return true;
  if (incoming.purpose !== existing.purpose || incoming.stackLevel !== existing.stackLevel) return false;
  const sameSlot =
    incoming.purpose === 'TxProfile' && incoming.transactionId !== null && existing.transactionId !== null
      ? incoming.transactionId === existing.transactionId
      : incoming.evseId === existing.evseId;
  return sameSlot && (version === '1.6' || overlaps(incoming, existing));
}

export interface Applied {
  profiles: InstalledProfile[];
  /** What left the set: replaced, cleared, or dropped for the bound. */
  removed: InstalledProfile[];
  added: InstalledProfile[];
  /** Dropped because the station already held PROFILES_PER_STATION_LIMIT (the oldest first). */
  dropped: InstalledProfile[];
}

/** Whether a clear's criteria (id, or evse, purpose, stackLevel; none: all) take this profile. */
export function clearMatches(clear: Clear, p: Pick<InstalledProfile, 'id' | 'evseId' | 'purpose' | 'stackLevel'>): boolean {
  // An id names one profile; the other criteria then do not count (1.6 ClearChargingProfile, 2.0.1 K10.FR.02).
  if (clear.id !== undefined) return p.id === clear.id;
  return (
    (clear.evseId === undefined || p.evseId === clear.evseId) &&
    (clear.purpose === undefined || p.purpose === clear.purpose) &&
    (clear.stackLevel === undefined || p.stackLevel === clear.stackLevel)
  );
}

/** Whether a clear names nothing: it removes every profile of the station (the broker's too). */
export function isUnqualified(clear: Clear): boolean {
  return clear.id === undefined && clear.evseId === undefined && clear.purpose === undefined && clear.stackLevel === undefined;
}

/** The station's set after it accepted `command`. The set given is not changed. */
export function apply(profiles: readonly InstalledProfile[], command: ProfileCommand, version: OcppVersion, now: number): Applied {
  if (command.action === 'ClearChargingProfile') {
    const removed = profiles.filter((p) => clearMatches(command, p));
    return { profiles: profiles.filter((p) => !removed.includes(p)), removed, added: [], dropped: [] };
  }
  const incoming: InstalledProfile = { ...command.profile, evseId: command.evseId, installedAt: now, sent: command.sent };
  const removed = profiles.filter((p) => replaces(incoming, p, version));
  const kept = profiles.filter((p) => !removed.includes(p));
  const dropped: InstalledProfile[] = [];
  while (kept.length >= PROFILES_PER_STATION_LIMIT) {
    let oldest = 0;
    for (let i = 1; i < kept.length; i++) if (kept[i]!.installedAt < kept[oldest]!.installedAt) oldest = i;
    dropped.push(...kept.splice(oldest, 1));
  }
  return { profiles: [...kept, incoming], removed: [...removed, ...dropped], added: [incoming], dropped };
}

/** The profiles a transaction's end removes: its TxProfiles (1.6 §3.13.1, 2.0.1 K01: a TxProfile ends with its transaction). */
export function endTransaction(profiles: readonly InstalledProfile[], transactionId: string): InstalledProfile[] {
  return profiles.filter((p) => p.purpose === 'TxProfile' && p.transactionId === transactionId);
}

/**
 * The TxProfiles a 1.6 StartTransaction on `connectorId` makes stale: those sent without a transactionId, which applied
 * to the transaction running on that connector then (a 1.6 station rejects a TxProfile with no transaction running).
 */
export function startTransaction(profiles: readonly InstalledProfile[], connectorId: number): InstalledProfile[] {
  return profiles.filter((p) => p.purpose === 'TxProfile' && p.transactionId === null && p.evseId === connectorId);
}

/** A limit converted to A per phase: W over the voltage and the phases (2.0.1 K01.FR.49/50: numberPhases defaults to 3). */
export function toAmpsPerPhase(limit: number, unit: 'A' | 'W', voltageV: number, numberPhases = 3): number {
  return unit === 'A' ? limit : limit / (voltageV * numberPhases);
}

/** The inverse, for what the broker writes in W: A per phase back to W. */
export function toWatts(amps: number, voltageV: number, numberPhases = 3): number {
  return amps * voltageV * numberPhases;
}

export interface LimitTarget {
  /** 1.6 connectorId, 2.0.1 evseId. */
  evseId: number | null;
  transactionId: string;
  /** When the session began charging (ms), the start of Relative schedules; unknown: see scheduleLimitA. */
  startedAt?: number;
}

/**
 * The limit (A per phase) one schedule sets at `at`; undefined when it is not in force then (not begun, or past its
 * duration). A Relative schedule, or an Absolute one without startSchedule, starts when charging started (1.6 and 2.0.1
 * say so); when that is not known, the lowest of its periods counts (never above what the CPMS allows).
 * Recurring schedules repeat every day / week from startSchedule, before it as after.
 */
export function scheduleLimitA(p: ChargingProfile, s: ChargingSchedule, at: number, startedAt: number | undefined, voltageV: number): number | undefined {
  let start: number | undefined = p.kind === 'Relative' ? startedAt : (s.startSchedule ?? startedAt);
  if (start === undefined) return Math.min(...s.periods.map((q) => toAmpsPerPhase(q.limit, s.unit, voltageV, q.numberPhases)));
  let offsetS = (at - start) / 1000;
  if (p.kind === 'Recurring') {
    const cycleS = (p.recurrency === 'Weekly' ? 7 * DAY_MS : DAY_MS) / 1000;
    offsetS = ((offsetS % cycleS) + cycleS) % cycleS;
  }
  if (offsetS < 0 || (s.duration !== undefined && offsetS >= s.duration)) return undefined;
  let current: SchedulePeriod | undefined;
  for (const q of s.periods) {
    if (q.startPeriod > offsetS) break;
    current = q;
  }
  return current && toAmpsPerPhase(current.limit, s.unit, voltageV, current.numberPhases);
}

/**
 * A profile's limit at `at`, or undefined when it is not in force (outside validFrom..validTo, or no schedule covers
 * `at`). Of a 2.0.1 profile's schedules (the car chooses one), the lowest.
 */
export function profileLimitA(p: ChargingProfile, at: number, startedAt: number | undefined, voltageV: number): number | undefined {
  if ((p.validFrom !== undefined && at < p.validFrom) || (p.validTo !== undefined && at >= p.validTo)) return undefined;
  let limit: number | undefined;
  for (const s of p.schedules) {
    const l = scheduleLimitA(p, s, at, startedAt, voltageV);
    if (l !== undefined) limit = limit === undefined ? l : Math.min(limit, l);
  }
  return limit;
}

/** Of these profiles of one purpose, the one in force at `at` with the highest stackLevel (on a tie, the evse's own over evse 0). */
function prevailing(candidates: InstalledProfile[], target: LimitTarget, at: number, voltageV: number): { profile: InstalledProfile; limitA: number } | undefined {
  let best: { profile: InstalledProfile; limitA: number } | undefined;
  for (const profile of candidates) {
    const limitA = profileLimitA(profile, at, target.startedAt, voltageV);
    if (limitA === undefined) continue;
    const own = profile.evseId !== 0;
    const better =
      !best ||
      profile.stackLevel > best.profile.stackLevel ||
      (profile.stackLevel === best.profile.stackLevel && (own !== (best.profile.evseId !== 0) ? own : limitA < best.limitA));
    if (better) best = { profile, limitA };
  }
  return best;
}

/** The profiles that decide a session's limit at `at`, and that limit. */
export interface Composite {
  limitA: number | null;
  /** The prevailing profile of each purpose that counts. */
  prevailing: { profile: InstalledProfile; limitA: number }[];
}

/**
 * The limit a station's profiles put on one session at `at` (A per phase): the lowest of the station caps
 * (ChargePointMax / ChargingStationMax / ExternalConstraints, each purpose's prevailing profile) and of the session's
 * TxProfile (its transaction, or with none given its evse), else its TxDefaultProfile (its evse, or 0), the highest
 * stackLevel in force winning within a purpose (1.6 §3.13.2, 2.0.1 K08). null when none sets one.
 */
export function composite(profiles: readonly InstalledProfile[], target: LimitTarget, at: number, voltageV = DEFAULT_VOLTAGE_V): Composite {
  const onEvse = (p: InstalledProfile) => p.evseId === 0 || p.evseId === target.evseId;
  const groups = new Map<string, InstalledProfile[]>();
  const tx: InstalledProfile[] = [];
  const txDefault: InstalledProfile[] = [];
  for (const p of profiles) {
    if (STATION_CAPS.has(p.purpose)) {
      if (!onEvse(p)) continue;
      const group = groups.get(p.purpose);
      if (group) group.push(p);
      else groups.set(p.purpose, [p]);
    } else if (p.purpose === 'TxProfile') {
      if (p.transactionId === null ? p.evseId === target.evseId : p.transactionId === target.transactionId) tx.push(p);
    } else if (p.purpose === 'TxDefaultProfile' && onEvse(p)) {
      txDefault.push(p);
    }
  }
  const chosen: { profile: InstalledProfile; limitA: number }[] = [];
  for (const group of groups.values()) {
    const won = prevailing(group, target, at, voltageV);
    if (won) chosen.push(won);
  }
  const session = prevailing(tx, target, at, voltageV) ?? prevailing(txDefault, target, at, voltageV);
  if (session) chosen.push(session);
  return { limitA: chosen.length === 0 ? null : Math.min(...chosen.map((c) => c.limitA)), prevailing: chosen };
}

/** The highest stackLevel of the profiles of this purpose; null when there are none. */
export function maxStackLevel(profiles: readonly InstalledProfile[], purpose: string): number | null {
  let max: number | null = null;
  for (const p of profiles) if (p.purpose === purpose && (max === null || p.stackLevel > max)) max = p.stackLevel;
  return max;
}
