/**
 * A site's allocation now, from what the broker has seen (the observers' tables): the open transactions of its
 * stations, their latest current or power readings and connector status. Until dispatch sends profiles and remembers
 * the offers in force, nothing has been offered yet: the car counts as the limit when it draws well below what it
 * would be offered, and every session counts as charging since it started (rotation needs dispatch's memory).
 */
import type { Db } from '../../db/index.ts';
import { openSessions, stationsOfSite, type AssignedStation, type OpenSession, type SiteView } from '../../db/sites.ts';
import { allocate, siteBudget, stationPhases, type Allocation, type SessionDemand, type SiteSettings, type StationLoad } from './allocate.ts';

export function siteSettings(site: SiteView): SiteSettings {
  return {
    gridLimitA: site.gridLimitA,
    gridLimitKw: site.gridLimitKw,
    phases: site.phases === 1 ? 1 : 3,
    voltageV: site.voltageV,
    safetyMarginPct: site.safetyMarginPct,
    minCurrentA: site.minCurrentA,
    timeZone: site.timeZone,
    schedule: site.schedule,
  };
}

export function stationLoad(station: AssignedStation): StationLoad {
  return {
    id: station.id,
    maxCurrentA: station.maxCurrentA,
    phases: station.phases === 1 ? 1 : 3,
    phase: station.phase,
    priority: station.priority,
    excluded: station.excluded,
    uncontrollable: station.uncontrollable,
  };
}

/** The car's current per phase: measured, else from its power over the phases it draws from. */
export function measuredCurrent(session: Pick<OpenSession, 'currentA' | 'powerW'>, voltageV: number, phases: number): number | null {
  if (session.currentA !== null) return session.currentA;
  if (session.powerW !== null) return Math.max(0, session.powerW) / (voltageV * phases);
  return null;
}

export interface LiveSite {
  allocation: Allocation;
  stations: AssignedStation[];
  sessions: (OpenSession & { key: string; stationId: number; measuredA: number | null })[];
}

export function liveAllocation(db: Db, site: SiteView, now: number): LiveSite {
  const settings = siteSettings(site);
  const stations = stationsOfSite(db, site.id);
  const byIdentity = new Map(stations.map((s) => [s.identity, s]));
  const sessions = openSessions(db, site.tenantId, stations.map((s) => s.identity)).map((open) => {
    const station = byIdentity.get(open.identity)!;
    const phases = stationPhases(settings, stationLoad(station)).length;
    return { ...open, key: `${open.identity}/${open.transactionId}`, stationId: station.id, measuredA: measuredCurrent(open, site.voltageV, phases) };
  });
  const loads = stations.map(stationLoad);
  const demands: SessionDemand[] = sessions.map((s) => ({ id: s.key, stationId: s.stationId, chargingSince: s.startedAt?.getTime() ?? now }));
  // What each session would be offered; then, with that as the offer in force, where the car is the limit.
  const first = allocate(settings, loads, demands, now);
  const offered = new Map(first.offers.map((o) => [o.sessionId, o.offerA]));
  const allocation = allocate(
    settings,
    loads,
    demands.map((d, i) => ({ ...d, measuredA: sessions[i]!.measuredA, previousOfferA: offered.get(d.id) ?? null })),
    now,
  );
  return { allocation, stations, sessions };
}

/** The site's limit in kW at `at` (the grid's or the window's, before the margin), for the load chart. */
export function limitKwAt(site: SiteView, at: number): number {
  const budget = siteBudget(siteSettings(site), [], at);
  return (budget.limitA * site.voltageV * budget.phases.length) / 1000;
}
