/**
 * What the site page shows (`sites.get`): the budget now, each open session's offer in force (the one dispatch sent,
 * from smart_offers, or else what the live allocation would offer, marked as not sent) against its measured current,
 * whether that reading is stale, the stations that are not controlled, and the totals.
 */
import type { StationInfo } from '../../broker/index.ts';
import type { Db } from '../../db/index.ts';
import type { SiteView } from '../../db/sites.ts';
import { siteOffers } from '../../db/smart.ts';
import { silentSince } from '../dashboard.ts';
import { stationPhases, type PhaseName } from './allocate.ts';
import { liveAllocation, siteSettings, stationLoad } from './live.ts';

/** A reading older than this is shown as stale: the car may draw something else by now. */
export const READING_STALE_MS = 2 * 60_000;

/** Why a session's measured current may no longer be what it draws: its reading is old, or its station is offline. */
export type Staleness = 'old' | 'offline' | null;

export function staleness(measuredAt: Date | null, online: boolean, now: number): Staleness {
  if (!online) return 'offline';
  return measuredAt !== null && now - measuredAt.getTime() > READING_STALE_MS ? 'old' : null;
}

export interface SiteViewInputs {
  db: Db;
  /** The tenant's live station links. */
  links: StationInfo[];
  /** Silent this long without a Heartbeat interval from the CPMS, a linked station counts as offline. */
  silentAfterMs: number;
  now: number;
}

export function siteView(site: SiteView, { db, links, silentAfterMs, now }: SiteViewInputs) {
  const { allocation, stations, sessions } = liveAllocation(db, site, now);
  const settings = siteSettings(site);
  const at = new Date(now);
  const linkOf = new Map(links.map((link) => [link.identity, link]));
  const online = (identity: string) => {
    const link = linkOf.get(identity);
    return link !== undefined && silentSince(link, at, silentAfterMs) === undefined;
  };
  const sent = new Map(siteOffers(db, site.id).map((o) => [`${o.identity}\n${o.transactionId}`, o]));
  const sessionOf = new Map(sessions.map((s) => [s.key, s]));

  const offers = allocation.offers.map((offer) => {
    const session = sessionOf.get(offer.sessionId)!;
    const inForce = sent.get(`${session.identity}\n${session.transactionId}`);
    const measuredAt = session.currentAt ?? session.powerAt;
    return {
      sessionId: offer.sessionId,
      stationId: offer.stationId,
      phases: offer.phases,
      priority: offer.priority,
      capA: offer.capA,
      /** The offer in force: the one sent when there is one, else what the allocation would offer now. */
      offerA: inForce?.offerA ?? offer.offerA,
      reason: inForce?.reason ?? offer.reason,
      /** Whether the station was sent this offer (dispatch remembers it); false: computed, not sent. */
      sent: inForce !== undefined,
      offeredAt: inForce?.updatedAt ?? null,
      /** What the allocation would offer now (dispatch moves toward it in steps). */
      allocatedA: offer.offerA,
      identity: session.identity,
      transactionRef: session.id,
      transactionId: session.transactionId,
      evseId: session.evseId,
      connectorId: session.connectorId,
      startedAt: session.startedAt,
      status: session.status,
      measuredA: session.measuredA,
      measuredAt,
      stale: staleness(measuredAt, online(session.identity), now),
    };
  });

  const offered = new Set(allocation.offers.map((o) => o.sessionId));
  const stationOf = new Map(stations.map((s) => [s.id, s]));
  const uncontrolled = sessions
    .filter((s) => !offered.has(s.key))
    .map((s) => {
      const station = stationOf.get(s.stationId)!;
      const measuredAt = s.currentAt ?? s.powerAt;
      return {
        identity: s.identity,
        transactionRef: s.id,
        transactionId: s.transactionId,
        phases: stationPhases(settings, stationLoad(station)),
        status: s.status,
        measuredA: s.measuredA,
        measuredAt,
        stale: staleness(measuredAt, online(s.identity), now),
        why: station.excluded ? ('excluded' as const) : ('uncontrollable' as const),
      };
    });

  const perPhase = (items: { phases: PhaseName[]; amps: number | null }[]) =>
    allocation.budget.phases.map((phase) => items.reduce((sum, item) => sum + (item.phases.includes(phase) ? (item.amps ?? 0) : 0), 0));
  // In kW: a reading of the power where there is one (as the metric does), else amperes × voltage × phases.
  const kw = (items: { phases: PhaseName[]; amps: number | null; watts?: number | null }[]) =>
    items.reduce((sum, item) => sum + (item.watts ?? (item.amps ?? 0) * site.voltageV * item.phases.length) / 1000, 0);
  const powerOf = new Map(sessions.map((s) => [s.id, s.powerW]));
  const offeredItems = offers.map((o) => ({ phases: o.phases, amps: o.offerA }));
  const measuredItems = [...offers, ...uncontrolled].map((s) => ({ phases: s.phases, amps: s.measuredA, watts: powerOf.get(s.transactionRef) }));

  return {
    site,
    at,
    budget: allocation.budget,
    offers,
    uncontrolled,
    stations: stations.map((s) => ({ ...s, online: online(s.identity) })),
    /** Counted at their maximum, never controlled: excluded by an admin, or marked uncontrollable by dispatch. */
    notControlled: stations
      .filter((s) => s.excluded || s.uncontrollable)
      .map((s) => ({
        id: s.id,
        identity: s.identity,
        maxCurrentA: s.maxCurrentA,
        why: s.excluded ? ('excluded' as const) : ('uncontrollable' as const),
        reason: s.excluded ? null : s.uncontrollableReason,
        since: s.excluded ? null : s.uncontrollableSince,
        /** Excluded and marked uncontrollable as well: clearing the mark changes nothing until it is included. */
        uncontrollable: s.uncontrollable,
      })),
    totals: {
      /** Per phase of the site, the offers in force (A). */
      offeredA: perPhase(offeredItems),
      /** Per phase, what the sessions draw by their latest readings (A), controlled or not. */
      measuredA: perPhase(measuredItems),
      offeredKw: kw(offeredItems),
      /** From the power readings where there are some. */
      measuredKw: kw(measuredItems),
    },
  };
}
