import { collectDefaultMetrics, Counter, Gauge, Registry, type MetricValueWithName } from 'prom-client';
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
  const calls = new CallDurations();
  registry.registerMetric(calls as unknown as Parameters<Registry['registerMetric']>[0]);
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
        calls.observe(caller, action, ms / 1000);
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

const CALL_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * ocpp_broker_call_duration_seconds, by caller and action: a histogram whose every observation is one array
 * increment, handed to prom-client's registry (which formats it) when scraped. prom-client's own Histogram hashes the
 * labels and a bucket's name on every observation: about 2 % of the forwarding thread at saturation. The action comes
 * from the wire, so at most MAX_ACTION_SERIES distinct pairs get their own series; the rest count as `other`.
 */
class CallDurations {
  readonly name = 'ocpp_broker_call_duration_seconds';
  readonly help = 'Round-trip time of calls through the broker, from the call to its answer, by caller and action';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** caller → action → the count in each bucket (not cumulative), then the count over the last, then the sum. */
  private series = new Map<string, Map<string, Float64Array>>();
  private size = 0;

  observe(caller: string, action: string, seconds: number): void {
    const counts = this.countsOf(caller, action);
    let bucket = 0;
    while (bucket < CALL_BUCKETS.length && seconds > CALL_BUCKETS[bucket]!) bucket++;
    counts[bucket]!++;
    counts[CALL_BUCKETS.length + 1]! += seconds;
  }

  private countsOf(caller: string, action: string): Float64Array {
    let byAction = this.series.get(caller);
    if (!byAction) this.series.set(caller, (byAction = new Map()));
    let counts = byAction.get(action);
    if (!counts) {
      if (this.size >= MAX_ACTION_SERIES && action !== 'other') return this.countsOf(caller, 'other');
      byAction.set(action, (counts = new Float64Array(CALL_BUCKETS.length + 2)));
      this.size++;
    }
    return counts;
  }

  get() {
    const values: MetricValueWithName<string>[] = [];
    for (const [caller, byAction] of this.series) {
      for (const [action, counts] of byAction) {
        let cumulative = 0;
        CALL_BUCKETS.forEach((le, i) => {
          cumulative += counts[i]!;
          values.push({ metricName: `${this.name}_bucket`, labels: { caller, action, le }, value: cumulative });
        });
        const count = cumulative + counts[CALL_BUCKETS.length]!;
        values.push(
          { metricName: `${this.name}_bucket`, labels: { caller, action, le: '+Inf' }, value: count },
          { metricName: `${this.name}_sum`, labels: { caller, action }, value: counts[CALL_BUCKETS.length + 1]! },
          { metricName: `${this.name}_count`, labels: { caller, action }, value: count },
        );
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
    this.size = 0;
  }
}
