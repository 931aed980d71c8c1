import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Broker, Refusal, RouteHooks } from '../broker/index.ts';
import type { WriterEvents } from './observers/writer.ts';

export type Metrics = ReturnType<typeof createMetrics>;

/** Distinct (caller, action) pairs with a call-duration series of their own; more share `other`. */
const MAX_ACTION_SERIES = 200;

/** The broker's Prometheus metrics (served at /metrics), with the process's own. */
export function createMetrics(sources: { broker: () => Broker; observationsPending: () => number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ocpp_broker_' });

  new Gauge({
    name: 'ocpp_broker_stations_connected',
    help: 'Stations connected now, per tenant',
    labelNames: ['tenant'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const station of sources.broker().stations()) counts.set(station.tenantSlug, (counts.get(station.tenantSlug) ?? 0) + 1);
      for (const [tenant, count] of counts) this.set({ tenant }, count);
    },
  });
  // Counted as plain numbers on the forwarding path and handed to prom-client when scraped: a labelled inc() hashes
  // its labels each time, which cost more than forwarding the frame.
  const framesFrom = { station: 0, cpms: 0 };
  new Counter({
    name: 'ocpp_broker_frames_total',
    help: 'OCPP-J frames through the broker, by direction',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ direction: 'station_to_cpms' }, framesFrom.station);
      this.inc({ direction: 'cpms_to_station' }, framesFrom.cpms);
    },
  });
  const cpmsFailures = new Counter({
    name: 'ocpp_broker_cpms_connection_failures_total',
    help: 'Stations refused because the CPMS could not take them, by tenant and HTTP status given to the station',
    labelNames: ['tenant', 'status'],
    registers: [registry],
  });
  const authenticationFailures = new Counter({
    name: 'ocpp_broker_authentication_failures_total',
    help: 'Failed authentications: stations (by tenant) and admin sign-ins (tenant "")',
    labelNames: ['kind', 'tenant'],
    registers: [registry],
  });
  const calls = new Histogram({
    name: 'ocpp_broker_call_duration_seconds',
    help: 'Round-trip time of calls through the broker, from the call to its answer, by caller and action',
    labelNames: ['caller', 'action'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: 'ocpp_broker_observations_pending',
    help: 'Captured frames accepted and not written to the database yet',
    registers: [registry],
    collect() {
      this.set(sources.observationsPending());
    },
  });
  const observationsWritten = new Counter({
    name: 'ocpp_broker_observations_written_total',
    help: 'Captured frames whose observations are written to the database',
    registers: [registry],
  });
  const samplesWritten = new Counter({
    name: 'ocpp_broker_samples_written_total',
    help: 'Meter value samples written to the database (a replayed sample is not written again)',
    registers: [registry],
  });
  const observationsDropped = new Counter({
    name: 'ocpp_broker_observations_dropped_total',
    help: 'Captured frames not written: queue_full (shed at OBSERVATION_QUEUE_MAX_BYTES), write_failed (the database refused them)',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of ['queue_full', 'write_failed']) observationsDropped.inc({ reason }, 0);
  const observationsSkipped = new Counter({
    name: 'ocpp_broker_observations_skipped_total',
    help: 'Captured frames whose payload does not fit the schema the broker reads (forwarded all the same), by action and reason',
    labelNames: ['action', 'reason'],
    registers: [registry],
  });

  /**
   * The call-duration series, by caller and action: the action comes from the wire, so at most MAX_ACTION_SERIES
   * distinct ones get their own series (OCPP has fewer than 100 actions), the rest count as `other`. Each child is
   * looked up once, not hashed from its labels on every call.
   */
  const callSeries = new Map<string, ReturnType<typeof calls.labels>>();
  const callSeriesOf = (caller: string, action: string) => {
    const key = `${caller} ${action}`;
    const known = callSeries.get(key);
    if (known) return known;
    if (callSeries.size >= MAX_ACTION_SERIES) return calls.labels(caller, 'other');
    const series = calls.labels(caller, action);
    callSeries.set(key, series);
    return series;
  };
  const ownCalls = new Counter({
    name: 'ocpp_broker_own_calls_total',
    help: "The broker's own calls to stations, by action and outcome (result, or the OwnCallError code)",
    labelNames: ['action', 'outcome'],
    registers: [registry],
  });
  let heldFrames = 0;
  new Counter({
    name: 'ocpp_broker_cpms_frames_held_total',
    help: "CPMS calls held back from a station while one of the broker's own calls to it was out",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(heldFrames);
    },
  });
  const ownCallsGivenUp = new Counter({
    name: 'ocpp_broker_own_calls_given_up_total',
    help: "The broker's own calls given up because the CPMS sent more than the broker holds while one is out",
    labelNames: ['action'],
    registers: [registry],
  });

  return {
    registry,
    /** Route hooks that count frames and time calls. */
    hooks: {
      observe(_session, from) {
        framesFrom[from]++;
      },
      answered(_session, caller, action, ms) {
        callSeriesOf(caller, action).observe(ms / 1000);
      },
      outbox(_session, event) {
        if (event.kind === 'held') heldFrames++;
        else if (event.kind === 'given_up') ownCallsGivenUp.inc({ action: event.action });
        else ownCalls.inc({ action: event.action, outcome: event.outcome });
      },
    } satisfies RouteHooks,
    /** What becomes of captured frames (server/observers/writer.ts). */
    writer: {
      written(frames, samples) {
        observationsWritten.inc(frames);
        samplesWritten.inc(samples);
      },
      dropped(reason, frames) {
        observationsDropped.inc({ reason }, frames);
      },
      skipped(action, reason, frames) {
        observationsSkipped.inc({ action, reason }, frames);
      },
    } satisfies WriterEvents,
    refused(refusal: Refusal, tenant: string | undefined) {
      // The refusal's kind (broker/refusals.ts) says which it is; THROTTLED is not itself a failed authentication.
      if (refusal.kind === 'cpms') cpmsFailures.inc({ tenant: tenant ?? '', status: String(refusal.status) });
      else if (refusal.kind === 'auth') authenticationFailures.inc({ kind: 'station', tenant: tenant ?? '' });
    },
    adminLoginFailed() {
      authenticationFailures.inc({ kind: 'admin', tenant: '' });
    },
  };
}
