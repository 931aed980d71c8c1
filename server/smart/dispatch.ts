/**
 * Dispatch: keeps each site of a tenant with smart charging on under its limit by sending its stations charging
 * profiles through the broker's own calls (broker/outbox.ts: neither the calls nor their answers reach the CPMS).
 *
 * When: a site is recomputed after what changes its sessions (a transaction's start or stop, a StatusNotification,
 * MeterValues, a station connecting or going), after its settings or assignments change, and every `tickMs`;
 * debounced per site (`debounceMs` from the first trigger, so steady MeterValues cannot postpone it), one recompute
 * per site at a time (a trigger meanwhile runs it once more after).
 *
 * What it reads: the facts the observers wrote (transactions, readings, connector status), after the writer flushed
 * what came before the trigger (`flushed`). The frame itself is never parsed on the forwarding path: the trigger is an
 * action-name check, and only for stations assigned to a site of a tenant with smart charging on. Reading the database
 * keeps one source of facts, shared with the site page and the metrics, and costs one writer flush per recompute.
 *
 * What it sends, per recompute (server/smart/plan.ts): the failsafe TxDefaultProfile of a station that lacks it and
 * every decrease first, at once (priority `high`); the increases only after every one of those was Accepted.
 * Each call and its consequences: server/smart/send.ts; payloads: server/smart/profiles.ts. What is Accepted is kept in charging_profiles, the offers in smart_offers, and
 * every limit sent with its outcome in limit_changes; a restarted broker reads them and sends only what differs.
 */
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { OwnCallError, type Broker, type ConnectionEvent, type RouteHooks } from '../../broker/index.ts';
import { ocppVersionOf } from '../../contract/index.ts';
import type { Db } from '../../db/index.ts';
import { getSite, openSessions, stationsOfSite, type OpenSession } from '../../db/sites.ts';
import { brokerProfiles, dropBrokerProfiles, dropOffer, releasedBrokerProfiles, saveOffer, siteOffers, smartAssignments, type BrokerProfile } from '../../db/smart.ts';
import { getTenant } from '../../db/tenants.ts';
import { allocate, nextTurn, stationPhases, type SessionDemand, type StationLoad } from './allocate.ts';
import { measuredCurrent, siteSettings, stationLoad } from './live.ts';
import { DEADBAND_A, plan, RAISE_INTERVAL_MS, RAISE_STEP_A, type PlanSession, type Step } from './plan.ts';
import type { CpmsLimits } from './cpms-profiles.ts';
import { createSender, type Send } from './send.ts';

export interface DispatchTimings {
  /** From a site's first trigger to its recompute. */
  debounceMs: number;
  /** Every site is recomputed at least this often. */
  tickMs: number;
  raiseIntervalMs: number;
  raiseStepA: number;
  deadbandA: number;
  /** A session drawing more than its limit plus this … */
  overdrawMarginA: number;
  /** … for longer than this makes its station uncontrollable. */
  overdrawMs: number;
  /** How long a station has to answer each of dispatch's calls. */
  callTimeoutMs: number;
}

export const DISPATCH_TIMINGS: DispatchTimings = {
  debounceMs: 500,
  tickMs: 60_000,
  raiseIntervalMs: RAISE_INTERVAL_MS,
  raiseStepA: RAISE_STEP_A,
  deadbandA: DEADBAND_A,
  overdrawMarginA: 2,
  overdrawMs: 60_000,
  callTimeoutMs: 15_000,
};

export interface DispatchOptions {
  db: Db;
  broker: () => Broker;
  log: Logger;
  cpmsLimits: CpmsLimits;
  /** Resolves once the observations captured so far are in the database (the writer's `flushed`). */
  flushed?: () => Promise<void>;
  registry?: Registry;
  timings?: Partial<DispatchTimings>;
}

export interface Dispatch {
  /** The trigger, composed beside the capture observers. */
  readonly hooks: RouteHooks;
  /** Station connections opened and closed. */
  connection(event: ConnectionEvent): void;
  /** A site's settings changed (or it was removed). */
  siteChanged(siteId: number): void;
  /** Smart charging was turned on or off for a tenant. */
  tenantChanged(tenantId: number): void;
  /** A station's assignment changed (site, maximum, priority, excluded, uncontrollable cleared), or it was removed. */
  stationChanged(tenantId: number, identity: string, previousSiteId?: number | null): void;
  /** Starts the periodic recompute. */
  start(): void;
  /** Stops the timers; waits for the recomputes under way. */
  close(): Promise<void>;
}

/** Actions of the station after which its site is recomputed. */
const TRIGGERS = new Set(['StartTransaction', 'StopTransaction', 'StatusNotification', 'MeterValues', 'TransactionEvent']);
/** Per-session memory (last raise, overdraw start): dropped at the session's end, and past this many, oldest first. */
const SESSIONS_LIMIT = 100_000;

/** A writer that is down or far behind does not hold the site back longer than this: it recomputes on what is written. */
const FLUSH_WAIT_MS = 5_000;

async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function remember(map: Map<string, number>, key: string, value: number): void {
  map.delete(key);
  if (map.size >= SESSIONS_LIMIT) map.delete(map.keys().next().value!);
  map.set(key, value);
}

interface SiteRun {
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  again: boolean;
}

export function createDispatch(options: DispatchOptions): Dispatch {
  const { db, log, cpmsLimits } = options;
  const t: DispatchTimings = { ...DISPATCH_TIMINGS, ...options.timings };
  const key = (tenantId: number, identity: string) => `${tenantId}/${identity}`;
  /** tenant/identity → site, for the stations dispatch controls. */
  let assigned = new Map<string, number>();
  const runs = new Map<number, SiteRun>();
  /** Per session (tenant/identity/transaction): when it was last raised, and since when it draws too much. */
  const raisedAt = new Map<string, number>();
  const overSince = new Map<string, number>();
  /** Uncontrollable stations given one more chance on this connection (their failsafe is sent again). */
  const probed = new Set<string>();
  let started = false;
  let closed = false;
  let tick: NodeJS.Timeout | undefined;

  const sender = createSender({ db, broker: options.broker, log, cpmsLimits, callTimeoutMs: t.callTimeoutMs, registry: options.registry });
  const { send, uncontrollable } = sender;

  function refreshAssignments() {
    assigned = new Map(smartAssignments(db).map((a) => [key(a.tenantId, a.identity), a.siteId]));
  }

  function schedule(siteId: number) {
    if (!started || closed) return;
    let run = runs.get(siteId);
    if (!run) runs.set(siteId, (run = { timer: undefined, running: undefined, again: false }));
    if (run.running) {
      run.again = true;
      return;
    }
    if (run.timer) return;
    run.timer = setTimeout(() => void execute(siteId, run), t.debounceMs);
    run.timer.unref();
  }

  async function execute(siteId: number, run: SiteRun) {
    run.timer = undefined;
    run.again = false;
    run.running = (async () => {
      try {
        if (options.flushed) await waitAtMost(options.flushed(), FLUSH_WAIT_MS);
        if (!closed) await recompute(siteId);
      } catch (error) {
        log.error({ err: error, siteId }, 'smart charging: recomputing a site failed');
      }
    })();
    await run.running;
    run.running = undefined;
    if (run.again) schedule(siteId);
    else if (!run.timer) runs.delete(siteId);
  }

  function trigger(tenantId: number, identity: string) {
    const siteId = assigned.get(key(tenantId, identity));
    if (siteId !== undefined) schedule(siteId);
  }

  async function recompute(siteId: number) {
    const site = getSite(db, siteId);
    if (!site || !getTenant(db, site.tenantId)?.smartCharging) return;
    const { tenantId } = site;
    const now = Date.now();
    const settings = siteSettings(site);
    const stations = stationsOfSite(db, siteId);
    const identities = stations.map((s) => s.identity);
    const links = new Map(options.broker().stations(tenantId).map((l) => [l.identity, l]));
    const versionOf = (identity: string) => ocppVersionOf(links.get(identity)?.subprotocol);
    const open = openSessions(db, tenantId, identities);
    const profiles = brokerProfiles(db, tenantId, identities);
    const offers = new Map(siteOffers(db, siteId).map((o) => [key(tenantId, `${o.identity}/${o.transactionId}`), o]));
    const sessionKey = (o: Pick<OpenSession, 'identity' | 'transactionId'>) => key(tenantId, `${o.identity}/${o.transactionId}`);
    const placeOf = (o: OpenSession) => (versionOf(o.identity) === '2.0.1' ? (o.evseId ?? 1) : (o.connectorId ?? 1));

    // A TxProfile ends with its transaction; so does the offer.
    const openKeys = new Set(open.map(sessionKey));
    for (const p of profiles) {
      if (p.purpose === 'TxProfile' && (p.transactionId === null || !openKeys.has(key(tenantId, `${p.identity}/${p.transactionId}`)))) {
        dropBrokerProfiles(db, tenantId, p.identity, p.profileId);
      }
    }
    for (const [k, o] of offers) {
      if (!openKeys.has(k)) {
        dropOffer(db, tenantId, o.identity, o.transactionId);
        offers.delete(k);
        raisedAt.delete(k);
        overSince.delete(k);
      }
    }
    const txProfile = (o: OpenSession) =>
      profiles.find((p) => p.identity === o.identity && p.purpose === 'TxProfile' && p.transactionId === o.transactionId);
    const failsafeOf = (identity: string) => profiles.find((p) => p.identity === identity && p.purpose === 'TxDefaultProfile');
    /** What the station holds for the session: its TxProfile, else the failsafe, else nothing the broker knows of. */
    const heldOf = (o: OpenSession): BrokerProfile | undefined => txProfile(o) ?? failsafeOf(o.identity);

    // Stations not connected keep what they hold: counted at that, never controlled, until they are back.
    const byIdentity = new Map(stations.map((s) => [s.identity, s]));
    const loads: StationLoad[] = [];
    for (const station of stations) {
      const load = stationLoad(station);
      if (links.has(station.identity) || load.excluded) {
        loads.push(load);
        continue;
      }
      const sessions = open.filter((o) => o.identity === station.identity);
      if (sessions.length === 0) continue;
      const holds = sessions.reduce((sum, o) => sum + (heldOf(o)?.limitA ?? station.maxCurrentA), 0);
      loads.push({ ...load, excluded: true, maxCurrentA: Math.min(station.maxCurrentA, holds) });
    }
    const controlled = open.filter((o) => links.has(o.identity));
    const demands: SessionDemand[] = controlled.map((o) => {
      const station = byIdentity.get(o.identity)!;
      const phases = stationPhases(settings, stationLoad(station)).length;
      const held = heldOf(o);
      const measuredAt = Math.max(o.currentAt?.getTime() ?? 0, o.powerAt?.getTime() ?? 0);
      // A reading taken before the limit in force was installed says nothing about the car under that limit.
      const fresh = held !== undefined && measuredAt >= held.installedAt.getTime();
      const previous = offers.get(sessionKey(o));
      return {
        id: sessionKey(o),
        stationId: station.id,
        cpmsLimitA: cpmsLimits.limitA(tenantId, o.identity, { evseId: o.evseId, connectorId: o.connectorId, transactionId: o.transactionId, startedAt: o.startedAt?.getTime() }, now, site.voltageV),
        measuredA: fresh ? measuredCurrent(o, site.voltageV, phases) : null,
        previousOfferA: held?.limitA ?? null,
        chargingSince: previous?.chargingSince?.getTime() ?? null,
        waitingSince: previous ? (previous.waitingSince?.getTime() ?? null) : (o.startedAt?.getTime() ?? now),
      };
    });
    const allocation = allocate(settings, loads, demands, now);

    // Stations drawing more than they hold for longer than overdrawMs do not comply.
    for (const d of demands) {
      const held = d.previousOfferA;
      if (held == null || d.measuredA == null || d.measuredA <= held + t.overdrawMarginA) {
        overSince.delete(d.id);
        continue;
      }
      const since = overSince.get(d.id) ?? now;
      if (!overSince.has(d.id)) remember(overSince, d.id, since);
      if (now - since > t.overdrawMs) {
        const identity = controlled.find((o) => sessionKey(o) === d.id)!.identity;
        uncontrollable(site, identity, 'overdraw', { measuredA: d.measuredA, limitA: held });
        overSince.delete(d.id);
      }
    }

    const sessionOf = new Map(controlled.map((o) => [sessionKey(o), o]));
    const planned: PlanSession[] = allocation.offers.map((offer) => {
      const o = sessionOf.get(offer.sessionId)!;
      return {
        key: offer.sessionId,
        phases: offer.phases,
        heldA: heldOf(o)?.limitA ?? byIdentity.get(o.identity)!.maxCurrentA,
        targetA: offer.offerA,
        raisedAt: raisedAt.get(offer.sessionId) ?? null,
      };
    });
    const available = Object.fromEntries(allocation.budget.phases.map((p, i) => [p, allocation.budget.availableA[i]!]));
    const steps = plan(planned, available, { ...t, minCurrentA: site.minCurrentA }, now);
    const offerOf = new Map(allocation.offers.map((o) => [o.sessionId, o]));
    const txSend = (step: Step): Send => {
      const o = sessionOf.get(step.key)!;
      const offer = offerOf.get(step.key)!;
      return {
        station: byIdentity.get(o.identity)!,
        version: versionOf(o.identity),
        purpose: 'TxProfile',
        place: placeOf(o),
        transactionId: o.transactionId,
        fromA: txProfile(o)?.limitA ?? null,
        toA: step.toA,
        phases: offer.phases.length,
        reason: offer.reason,
      };
    };

    // The failsafe of each connected station that does not hold it at the site's value (written once: flash wear).
    const failsafes: Send[] = [];
    for (const station of stations) {
      const link = links.get(station.identity);
      if (!link || station.excluded) continue;
      const k = key(tenantId, station.identity);
      const holds = failsafeOf(station.identity)?.limitA === site.failsafeCurrentA;
      if (station.uncontrollable ? probed.has(k) || station.uncontrollableReason === 'overdraw' : holds) continue;
      probed.add(k); // an uncontrollable station is given this one chance per connection
      failsafes.push({
        station,
        version: versionOf(station.identity),
        purpose: 'TxDefaultProfile',
        place: 0,
        transactionId: null,
        fromA: failsafeOf(station.identity)?.limitA ?? null,
        toA: site.failsafeCurrentA,
        phases: station.phases === 1 || site.phases === 1 ? 1 : 3,
        reason: 'failsafe',
      });
    }

    const first = await Promise.all([
      ...failsafes.map((s) => send(site, s, 'high')),
      ...steps.decreases.map((step) => send(site, txSend(step), 'high')),
    ]);
    const decreasesDone = first.slice(failsafes.length).every((o) => o === 'Accepted');
    let again = first.some((o) => o !== 'Accepted');
    if (decreasesDone && steps.increases.length > 0) {
      const second = await Promise.all(
        steps.increases.map(async (step) => {
          const outcome = await send(site, txSend(step), 'normal');
          if (outcome === 'Accepted') remember(raisedAt, step.key, Date.now());
          return outcome;
        }),
      );
      if (second.some((o) => o !== 'Accepted')) again = true;
    } else if (steps.increases.length > 0) {
      again = true;
    }

    for (const offer of allocation.offers) {
      const o = sessionOf.get(offer.sessionId)!;
      const previous = offers.get(offer.sessionId);
      const turn = nextTurn({ chargingSince: previous?.chargingSince?.getTime() ?? null, waitingSince: previous?.waitingSince?.getTime() ?? null }, offer, now);
      saveOffer(db, {
        tenantId,
        identity: o.identity,
        transactionId: o.transactionId,
        siteId,
        offerA: offer.offerA,
        reason: offer.reason,
        chargingSince: turn.chargingSince === null ? null : new Date(turn.chargingSince),
        waitingSince: turn.waitingSince === null ? null : new Date(turn.waitingSince),
      });
    }
    // A refusal changes the allocation (that station now counts at its maximum); a failure is tried again.
    if (again) setTimeout(() => schedule(siteId), t.debounceMs).unref();
  }

  /** Profiles being cleared now (tenant/identity/id): one ClearChargingProfile each at a time. */
  const clearing = new Set<string>();
  /**
   * The broker's profiles on stations it no longer controls, by tenant/identity: read again whenever what dispatch
   * controls may have changed (and every tick), so that a station connecting costs one map lookup, not a query.
   */
  let toRelease = new Map<string, BrokerProfile[]>();

  /**
   * Clears, by their ids only, the broker's profiles on a station it no longer controls (smart charging off, no site,
   * excluded, removed): otherwise the station would keep its failsafe, and a session its TxProfile, for good. The
   * rows stay until the station answers; a station not connected now is cleared when it is back.
   */
  function release(tenantId: number, identity: string, subprotocol: string | null) {
    const version = ocppVersionOf(subprotocol);
    for (const profile of toRelease.get(key(tenantId, identity)) ?? []) {
      const k = `${key(tenantId, identity)}/${profile.profileId}`;
      if (clearing.has(k)) continue;
      clearing.add(k);
      const payload = version === '1.6' ? { id: profile.profileId } : { chargingProfileId: profile.profileId };
      void options
        .broker()
        .call(tenantId, identity, 'ClearChargingProfile', payload, { timeoutMs: t.callTimeoutMs })
        .then((answer) => {
          // Unknown: the station holds no such profile (any more): nothing is left to clear either way.
          const status = (answer as { status?: unknown } | null)?.status;
          const cleared = status === 'Accepted' || status === 'Unknown';
          if (cleared) dropBrokerProfiles(db, tenantId, identity, profile.profileId);
          log.info({ event: 'smart.profile_cleared', tenantId, identity, profileId: profile.profileId, cleared }, 'smart charging: a profile of the broker no longer needed');
        })
        .catch((error: unknown) => {
          if (!(error instanceof OwnCallError)) log.error({ err: error, tenantId, identity }, 'smart charging: clearing a profile failed');
        })
        .finally(() => clearing.delete(k));
    }
  }

  /** Reads again what is to be released, and releases it on the stations connected now. */
  function releaseConnected() {
    if (!started || closed) return;
    toRelease = new Map();
    for (const profile of releasedBrokerProfiles(db)) {
      const k = key(profile.tenantId, profile.identity);
      const list = toRelease.get(k);
      if (list) list.push(profile);
      else toRelease.set(k, [profile]);
    }
    if (toRelease.size === 0) return;
    for (const link of options.broker().stations()) release(link.tenantId, link.identity, link.subprotocol);
  }

  const unwatch = cpmsLimits.onChange((change) => {
    // An accepted broad clear may have removed the broker's profiles: forget them, so that they are written again.
    if (change.broadClear) dropBrokerProfiles(db, change.tenantId, change.identity);
    trigger(change.tenantId, change.identity);
  });

  return {
    hooks: {
      observe({ tenantId, identity }, from, envelope, _frame, call, local) {
        if (local) return;
        if (from === 'station' && envelope.kind === 'call') {
          if (TRIGGERS.has(envelope.action)) trigger(tenantId, identity);
        } else if (from === 'cpms' && envelope.kind === 'result' && call?.action === 'StartTransaction') {
          trigger(tenantId, identity); // 1.6: the transaction id comes with the CPMS's answer
        }
      },
    },
    connection(event) {
      if (event.kind === 'refused') return;
      const k = key(event.tenantId, event.identity);
      if (event.kind === 'closed') {
        sender.forget(event.tenantId, event.identity);
        probed.delete(k);
      }
      trigger(event.tenantId, event.identity);
      if (event.kind === 'opened' && toRelease.has(k)) release(event.tenantId, event.identity, event.subprotocol);
    },
    siteChanged(siteId) {
      refreshAssignments();
      schedule(siteId);
      releaseConnected();
    },
    tenantChanged(tenantId) {
      refreshAssignments();
      for (const [k, siteId] of assigned) if (k.startsWith(`${tenantId}/`)) schedule(siteId);
      releaseConnected();
    },
    stationChanged(tenantId, identity, previousSiteId) {
      refreshAssignments();
      if (previousSiteId != null) schedule(previousSiteId);
      trigger(tenantId, identity);
      releaseConnected();
    },
    start() {
      if (started) return;
      started = true;
      refreshAssignments();
      const everySite = () => {
        try {
          refreshAssignments();
          for (const siteId of new Set(assigned.values())) schedule(siteId);
          releaseConnected();
        } catch (error) {
          log.error({ err: error }, 'smart charging: the periodic recompute failed');
        }
      };
      everySite();
      tick = setInterval(everySite, t.tickMs).unref();
    },
    async close() {
      closed = true;
      clearInterval(tick);
      unwatch();
      for (const run of runs.values()) clearTimeout(run.timer);
      await Promise.all([...runs.values()].map((r) => r.running));
    },
  };
}
