import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stationKey, type Broker, type SessionFacts } from '../broker/index.ts';
import { createMetrics } from '../server/metrics.ts';

const session: SessionFacts = { tenantId: 1, tenantSlug: 't', identity: 'CP1', subprotocol: 'ocpp1.6', key: stationKey(1, 'CP1') };

describe('the call-duration metric', () => {
  it('keeps at most 200 series of actions named on the wire, counting the rest as "other"', async () => {
    const metrics = createMetrics({ broker: () => ({ stations: () => [] }) as unknown as Broker, observationsPending: () => 0 });
    for (let n = 0; n < 1_000; n++) metrics.hooks.answered(session, 'station', `Action${n}`, 5);
    const histogram = (await metrics.registry.getSingleMetric('ocpp_broker_call_duration_seconds')!.get()).values;
    const actions = new Set(histogram.map((v) => v.labels.action));
    expect(actions.size).toBe(201);
    expect(actions.has('other')).toBe(true);
    const count = (action: string) => histogram.find((v) => v.labels.action === action && (v as { metricName?: string }).metricName?.endsWith('_count'))?.value;
    expect(count('Action0')).toBe(1);
    expect(count('other')).toBe(800);
  });

  it('counts each duration in every bucket at or above it, with the sum and the count, as a Prometheus histogram', async () => {
    const bounds = ['0.01', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf'];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.double({ min: 0, max: 60_000, noNaN: true }), fc.constantFrom(10, 50, 1000, 30_000)), { maxLength: 50 }), async (ms) => {
        const metrics = createMetrics({ broker: () => ({ stations: () => [] }) as unknown as Broker, observationsPending: () => 0 });
        for (const d of ms) metrics.hooks.answered(session, 'cpms', 'Heartbeat', d);
        const text = await metrics.registry.getSingleMetricAsString('ocpp_broker_call_duration_seconds');
        const line = (series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? NaN);
        const labels = 'caller="cpms",action="Heartbeat"';
        if (ms.length === 0) {
          expect(text).not.toContain('Heartbeat');
          return;
        }
        for (const le of bounds) {
          const within = ms.filter((d) => le === '+Inf' || d / 1000 <= Number(le)).length;
          expect(line(`ocpp_broker_call_duration_seconds_bucket{${labels},le="${le}"}`)).toBe(within);
        }
        expect(line(`ocpp_broker_call_duration_seconds_count{${labels}}`)).toBe(ms.length);
        expect(line(`ocpp_broker_call_duration_seconds_sum{${labels}}`)).toBeCloseTo(ms.reduce((a, d) => a + d / 1000, 0), 6);
      }),
    );
  });
});
