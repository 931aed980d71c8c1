/**
 * Load allocation for one site, as a pure function of the site's settings, its stations and its sessions at a moment:
 * no I/O, no clock of its own, no state kept between calls (the caller passes what it remembers: each session's
 * previous offer and since when it charges or waits). Dispatch turns the offers into TxProfiles.
 *
 * The practice of load managers (/work/shared/SMART-CHARGING.md "How load managers allocate"):
 * 1. Budget per phase: min(grid limit, the schedule's window now) minus the safety margin, minus excluded and
 *    uncontrollable stations at their maximum.
 * 2. Each session gets 0 or at least the minimum (IEC 61851-1: 6 A): in priority order, and within a priority by
 *    turns (rotation), the minimum for each session that still fits; the others are paused.
 * 3. The rest is shared equally within a priority tier, higher tiers first, each session capped by its station's
 *    maximum, the CPMS's limit and the car's observed maximum; what a capped session cannot take goes to the others
 *    (water-filling, i.e. max-min fair over every phase and station).
 * Everything is computed in whole tenths of an ampere, rounded down: OCPP 1.6 limits are multiples of 0.1 A.
 */
import { activeWindow, localTime, type ScheduleWindow } from '../../contract/schedule.ts';

export type PhaseName = 'L1' | 'L2' | 'L3';

export interface SiteSettings {
  /** The grid connection's limit per phase; with `gridLimitKw`, the lower of the two applies. */
  gridLimitA: number | null;
  /** The same limit as total power, over `phases` × `voltageV`. */
  gridLimitKw: number | null;
  phases: 1 | 3;
  voltageV: number;
  /** Kept free of the limit, in percent. */
  safetyMarginPct: number;
  /** The least current a charging session is offered (IEC 61851-1: 6 A); below it a session is paused (0). */
  minCurrentA: number;
  /** IANA name, for the schedule's local times. */
  timeZone: string;
  schedule: readonly ScheduleWindow[];
}

/** A station assigned to the site. */
export interface StationLoad {
  id: number;
  /** Per phase, for all its sessions together. */
  maxCurrentA: number;
  phases: 1 | 3;
  /** Which phase of a 3-phase site a 1-phase station is on; L1 when not told. */
  phase?: PhaseName | null;
  /** Higher goes first. */
  priority: number;
  /** Counted at its maximum, never controlled. */
  excluded: boolean;
  /** Rejects profiles or draws more than it is offered: counted at its maximum like an excluded one. */
  uncontrollable: boolean;
}

/** A charging session (an open transaction) on one of the site's stations. */
export interface SessionDemand {
  /** The caller's key (dispatch: tenant, station and transaction). */
  id: string;
  stationId: number;
  /** The CPMS's own limit for this session now (its profiles), per phase; null when it sets none. */
  cpmsLimitA?: number | null;
  /** The car's current (the highest phase's), from Current.Import or Power.Active.Import samples. */
  measuredA?: number | null;
  /** The offer in force when `measuredA` was taken. */
  previousOfferA?: number | null;
  /** Since when (ms) the session has been paused; for a session that arrives, the time it arrived. */
  waitingSince?: number | null;
  /** Since when (ms) the session has been offered a current without a pause. */
  chargingSince?: number | null;
}

export type OfferReason =
  /** An equal share of what is left in its tier. */
  | 'share'
  | 'station-max'
  | 'cpms-limit'
  /** The car takes less than it was offered: it gets what it takes, rounded up to the ampere (see `carCeiling`). */
  | 'car-limit'
  /** No room for the minimum now: it waits for its turn. */
  | 'paused-rotation'
  /** Its own limit (station or CPMS) is below the minimum. */
  | 'below-minimum';

export interface Offer {
  sessionId: string;
  stationId: number;
  /** Per phase, a multiple of 0.1 A: 0 or at least the minimum. */
  offerA: number;
  reason: OfferReason;
  /** The phases of the site it draws from. */
  phases: PhaseName[];
  priority: number;
  /** The session's own ceiling: min(station maximum, the CPMS's limit, the car's observed maximum). */
  capA: number;
}

export interface Budget {
  phases: PhaseName[];
  /** Before margin and reservations: min(grid limit, the window's limit), per phase. */
  limitA: number;
  /** Which of the two set `limitA`. */
  source: 'grid' | 'schedule';
  /** The schedule window in force, if any. */
  window: ScheduleWindow | null;
  marginA: number;
  /** Per phase, held for excluded stations at their maximum. */
  excludedA: number[];
  /** Per phase, held for uncontrollable stations at their maximum. */
  uncontrollableA: number[];
  /** Per phase, what the sessions share: never negative, a multiple of 0.1 A. */
  availableA: number[];
}

export interface Allocation {
  at: number;
  budget: Budget;
  /** One per session of a controlled station, in the order given. */
  offers: Offer[];
  /** Per phase, the sum of the offers. */
  offeredA: number[];
}

export interface AllocateOptions {
  /** How long a session charges before a paused one may take its place. */
  rotationMs?: number;
  /** A car that stays this far below its offer is the limit. */
  carSlackA?: number;
}

export const ROTATION_MS = 15 * 60_000;
export const CAR_SLACK_A = 0.8;

const ALL_PHASES: PhaseName[] = ['L1', 'L2', 'L3'];
/** Tenths of an ampere, rounded down (with a little slack for floating-point input like 0.3 * 3). */
const down = (a: number) => Math.max(0, Math.floor(a * 10 + 1e-6));
const up = (a: number) => Math.max(0, Math.ceil(a * 10 - 1e-6));
const amps = (tenths: number) => tenths / 10;

/**
 * What a car that takes less than its offer is offered: the whole ampere above what it takes plus the slack. Plain
 * ceil(measured) would let a car that takes all of that offer look like one that wants more at the next reading (it
 * is not `carSlackA` below it), and the offer would swing up and down; one step higher it stays where it is.
 */
export function carCeiling(measuredA: number, carSlackA: number = CAR_SLACK_A): number {
  return Math.floor(measuredA + carSlackA + 1e-6) + 1;
}

/** The phases of the site a station draws from. */
export function stationPhases(site: Pick<SiteSettings, 'phases'>, station: Pick<StationLoad, 'phases' | 'phase'>): PhaseName[] {
  if (site.phases === 1) return ['L1'];
  return station.phases === 3 ? ALL_PHASES : [station.phase ?? 'L1'];
}

/** The site's limit per phase at `at`, before the margin: the grid's, or the schedule window's when lower. */
export function siteLimitAt(site: SiteSettings, at: number): { limitA: number; source: 'grid' | 'schedule'; window: ScheduleWindow | null } {
  const fromKw = site.gridLimitKw === null ? Infinity : (site.gridLimitKw * 1000) / (site.voltageV * site.phases);
  const grid = Math.min(site.gridLimitA ?? Infinity, fromKw);
  const window = site.schedule.length === 0 ? undefined : activeWindow(site.schedule, localTime(at, site.timeZone));
  const gridA = Number.isFinite(grid) ? grid : 0;
  if (window && window.limitA < gridA) return { limitA: window.limitA, source: 'schedule', window };
  return { limitA: gridA, source: 'grid', window: window ?? null };
}

/** The budget per phase at `at`. */
export function siteBudget(site: SiteSettings, stations: readonly StationLoad[], at: number): Budget {
  const phases = site.phases === 1 ? ['L1' as const] : ALL_PHASES;
  const { limitA, source, window } = siteLimitAt(site, at);
  const marginA = (limitA * site.safetyMarginPct) / 100;
  const held = (which: (s: StationLoad) => boolean) =>
    phases.map((phase) => stations.filter((s) => which(s) && stationPhases(site, s).includes(phase)).reduce((sum, s) => sum + s.maxCurrentA, 0));
  const excludedA = held((s) => s.excluded);
  const uncontrollableA = held((s) => !s.excluded && s.uncontrollable);
  const availableA = phases.map((_, i) => amps(down(limitA - marginA - excludedA[i]! - uncontrollableA[i]!)));
  return { phases, limitA, source, window, marginA, excludedA, uncontrollableA, availableA };
}

interface Claim {
  index: number;
  session: SessionDemand;
  station: StationLoad;
  /** Resource keys: the site's phases it uses and its station. */
  uses: string[];
  cap: number;
  capReason: OfferReason;
  level: number;
  reason: OfferReason;
}

/**
 * The offers for `sessions` at `at` (ms). Sessions of excluded or uncontrollable stations, and of stations not in
 * `stations`, get no offer: they are not controlled.
 */
export function allocate(
  site: SiteSettings,
  stations: readonly StationLoad[],
  sessions: readonly SessionDemand[],
  at: number,
  options: AllocateOptions = {},
): Allocation {
  const rotationMs = options.rotationMs ?? ROTATION_MS;
  const carSlackA = options.carSlackA ?? CAR_SLACK_A;
  const budget = siteBudget(site, stations, at);
  const min = Math.max(1, up(site.minCurrentA));
  const byId = new Map(stations.map((s) => [s.id, s]));

  const remaining = new Map<string, number>();
  budget.phases.forEach((phase, i) => remaining.set(phase, down(budget.availableA[i]!)));
  for (const station of stations) remaining.set(`station:${station.id}`, down(station.maxCurrentA));

  const claims: Claim[] = [];
  sessions.forEach((session, index) => {
    const station = byId.get(session.stationId);
    if (!station || station.excluded || station.uncontrollable) return;
    const limits: [number, OfferReason][] = [[down(station.maxCurrentA), 'station-max']];
    if (session.cpmsLimitA != null) limits.push([down(session.cpmsLimitA), 'cpms-limit']);
    const { measuredA, previousOfferA } = session;
    if (measuredA != null && previousOfferA != null && measuredA < previousOfferA - carSlackA) {
      limits.push([Math.max(min, carCeiling(measuredA, carSlackA) * 10), 'car-limit']);
    }
    const [cap, capReason] = limits.reduce((a, b) => (b[0] < a[0] ? b : a));
    const uses = [...stationPhases(site, station), `station:${station.id}`];
    claims.push({ index, session, station, uses, cap, capReason, level: 0, reason: cap < min ? 'below-minimum' : 'paused-rotation' });
  });

  // The minimum, in priority order and by turns; what does not fit waits.
  for (const claim of claims.toSorted((a, b) => compareTurns(a, b, at, rotationMs))) {
    if (claim.cap < min || !claim.uses.every((r) => remaining.get(r)! >= min)) continue;
    for (const r of claim.uses) remaining.set(r, remaining.get(r)! - min);
    claim.level = min;
    claim.reason = 'share';
  }

  // The rest, tier by tier, water-filling.
  const tiers = [...new Set(claims.map((c) => c.station.priority))].sort((a, b) => b - a);
  for (const tier of tiers) fill(claims.filter((c) => c.station.priority === tier && c.level > 0), remaining);

  const offers = claims.map((c) => ({
    sessionId: c.session.id,
    stationId: c.station.id,
    offerA: amps(c.level),
    reason: c.reason,
    phases: stationPhases(site, c.station),
    priority: c.station.priority,
    capA: amps(c.cap),
  }));
  const offeredA = budget.phases.map((phase) => amps(claims.filter((c) => c.uses.includes(phase)).reduce((sum, c) => sum + c.level, 0)));
  return { at, budget, offers, offeredA };
}

/**
 * Who gets the minimum first: higher priority; then, by turns, sessions within their first `rotationMs` of charging
 * (longest charging first), then paused sessions (longest waiting first), then sessions whose turn is over (the
 * longest charging last). A session with neither time arrived just now.
 */
function compareTurns(a: Claim, b: Claim, at: number, rotationMs: number): number {
  const turn = (c: Claim): [number, number] => {
    const { chargingSince, waitingSince } = c.session;
    if (chargingSince != null) return at < chargingSince + rotationMs ? [0, chargingSince] : [2, -chargingSince];
    return [1, waitingSince ?? at];
  };
  const [ga, ka] = turn(a);
  const [gb, kb] = turn(b);
  return b.station.priority - a.station.priority || ga - gb || ka - kb || a.index - b.index;
}

/**
 * Raises the levels of `claims` together, a step as large as every phase and station they share allows, freezing each
 * at its cap or when something it draws from is used up; tenths that cannot be split evenly go one each, in order.
 */
function fill(claims: Claim[], remaining: Map<string, number>): void {
  let active = claims.filter((c) => c.level < c.cap);
  for (const c of claims) if (c.level >= c.cap) c.reason = c.capReason;
  while (active.length > 0) {
    active = active.filter((c) => {
      if (c.level >= c.cap) {
        c.reason = c.capReason;
        return false;
      }
      const empty = c.uses.find((r) => remaining.get(r)! <= 0);
      if (empty !== undefined) {
        c.reason = empty.startsWith('station:') ? 'station-max' : 'share';
        return false;
      }
      return true;
    });
    if (active.length === 0) return;
    const users = new Map<string, number>();
    for (const c of active) for (const r of c.uses) users.set(r, (users.get(r) ?? 0) + 1);
    let step = Math.min(...active.map((c) => c.cap - c.level));
    for (const [r, n] of users) step = Math.min(step, Math.floor(remaining.get(r)! / n));
    if (step > 0) {
      for (const c of active) {
        c.level += step;
        for (const r of c.uses) remaining.set(r, remaining.get(r)! - step);
      }
      continue;
    }
    // Some phase or station has fewer tenths left than sessions drawing from it: one tenth each while they last.
    const [scarce] = [...users].find(([r, n]) => remaining.get(r)! < n)!;
    for (const c of active) {
      if (!c.uses.includes(scarce) || !c.uses.every((r) => remaining.get(r)! > 0)) continue;
      c.level += 1;
      for (const r of c.uses) remaining.set(r, remaining.get(r)! - 1);
    }
  }
}

/** Since when a session charges or waits, as the next allocation needs it, from the offer it got at `at`. */
export function nextTurn(
  previous: Pick<SessionDemand, 'waitingSince' | 'chargingSince'>,
  offer: Pick<Offer, 'offerA'>,
  at: number,
): { waitingSince: number | null; chargingSince: number | null } {
  return offer.offerA > 0
    ? { chargingSince: previous.chargingSince ?? at, waitingSince: null }
    : { waitingSince: previous.waitingSince ?? at, chargingSince: null };
}
