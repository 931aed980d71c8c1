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
});
