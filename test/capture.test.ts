import { once } from 'node:events';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { count, eq } from 'drizzle-orm';
import { openDatabase } from '../db/index.ts';
import { identifications, meterSamples } from '../db/schema.ts';
import { paths } from '../server/paths.ts';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';
import { eventually } from './support/eventually.ts';

let broker: TestBroker | undefined;
let cpms: TestCpms | undefined;
afterEach(async () => {
  await broker?.close();
  await cpms?.close();
  broker = cpms = undefined;
});

async function setUp(options: Parameters<typeof startTestBroker>[1] = {}) {
  broker = await startTestBroker({}, options);
  cpms = await startCpms();
  const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
  return { broker, tenantId: tenant.id, endpoint: broker.endpoint('acme') };
}


const readyz = async (b: TestBroker) => {
  const response = await fetch(`${b.server.url}/readyz`);
  return { status: response.status, body: (await response.json()) as { ready: boolean; reason?: string } };
};

const meterValues = (n: number) => ({
  connectorId: 1,
  meterValue: [
    {
      timestamp: new Date(Date.UTC(2026, 10, 24) + n * 1000).toISOString(),
      sampledValue: [
        { value: String(n) },
        { value: '7.4', unit: 'kW', measurand: 'Power.Active.Import' },
        { value: '16', unit: 'A', measurand: 'Current.Import', phase: 'L1' },
        { value: '230', unit: 'V', measurand: 'Voltage', phase: 'L1-N' },
      ],
    },
  ],
});

/** A second connection to the broker's database file. */
function database(b: TestBroker) {
  return openDatabase(path.join(b.dataDir, 'broker.db'), paths.migrations);
}

describe('capturing the traffic', () => {
  it('answers /readyz with 503 and the reason while the observation writer is down, and 200 once it is back, losing nothing', async () => {
    const { broker: b, endpoint } = await setUp({ writer: { exitInBatch: 1 } });
    expect(await readyz(b)).toEqual({ status: 200, body: { ready: true } });
    const cp = station(endpoint, 'CP-1', ['ocpp1.6']);
    await cp.connect();
    await cp.call('MeterValues', meterValues(1));
    const down = await eventually(async () => {
      const r = await readyz(b);
      return r.status === 503 && r;
    });
    expect(down.body).toEqual({ ready: false, reason: 'the observation writer is down' });
    await eventually(async () => (await readyz(b)).status === 200);
    const text = await eventually(async () => {
      const metrics = await (await fetch(`${b.server.url}/metrics`)).text();
      return metrics.includes('ocpp_broker_samples_written_total 4') && metrics;
    });
    expect(text).toContain('ocpp_broker_observations_pending 0');
    await cp.close();
  });

  it('writes every observation still pending when the broker closes', async () => {
    const { broker: b, endpoint } = await setUp({ writer: { intervalMs: 60_000 } });
    // A station that does not wait for answers, so that many calls are in the queue at once.
    const ws = new WebSocket(`${endpoint}/CP-FAST`, ['ocpp1.6']);
    await once(ws, 'open');
    const answers = new Promise<void>((resolve) => {
      let n = 0;
      ws.on('message', () => ++n === 1000 && resolve());
    });
    for (let n = 0; n < 1000; n++) ws.send(JSON.stringify([2, `m${n}`, 'MeterValues', meterValues(n)]));
    await answers;
    expect(b.server.observationsPending()).toBe(1000);
    await b.server.close(); // as on SIGTERM; the data directory stays until afterEach
    const store = database(b);
    try {
      expect(store.db.select({ n: count() }).from(meterSamples).get()!.n).toBe(4000);
    } finally {
      store.close();
    }
  });

  it('counts samples written and payloads that do not fit, by action and reason', async () => {
    const { broker: b, endpoint } = await setUp();
    const cp = station(endpoint, 'CP-ODD', ['ocpp1.6'], { strictMode: false });
    await cp.connect();
    await cp.call('MeterValues', meterValues(1));
    await cp.call('StatusNotification', { connectorId: 1, status: 'Available' }).catch(() => {}); // no errorCode: the CPMS refuses it
    await cp.call('StatusNotification', { connectorId: 1, status: 'Available' }).catch(() => {});
    const text = await eventually(async () => {
      const metrics = await (await fetch(`${b.server.url}/metrics`)).text();
      return metrics.includes('ocpp_broker_observations_skipped_total{action="StatusNotification",reason="schema_mismatch"} 2') && metrics;
    });
    expect(text).toContain('ocpp_broker_samples_written_total 4');
    expect(text).toContain('ocpp_broker_observations_written_total 1');
    expect(text).toContain('ocpp_broker_observations_dropped_total{reason="queue_full"} 0');
    await cp.close();
  });

  it('records the broker\'s own answer to an Authorize, carried with the call rather than kept aside', async () => {
    const { broker: b, tenantId, endpoint } = await setUp();
    await b.api.tenants.update.mutate({ id: tenantId, authorizationMode: 'broker' });
    const cp = station(endpoint, 'CP-AUTH', ['ocpp1.6']);
    await cp.connect();
    await expect(cp.call('Authorize', { idTag: 'NOBODY' })).resolves.toEqual({ idTagInfo: { status: 'Invalid' } });
    await cp.call('StartTransaction', { connectorId: 1, idTag: 'NOBODY', meterStart: 0, timestamp: new Date().toISOString() });
    const store = database(b);
    try {
      const rows = await eventually(async () => {
        const all = store.db
          .select({ action: identifications.action, answer: identifications.answer })
          .from(identifications)
          .where(eq(identifications.tenantId, tenantId))
          .all();
        return all.length === 2 && all;
      });
      expect(rows).toEqual([
        { action: 'Authorize', answer: 'Invalid' },
        { action: 'StartTransaction', answer: null },
      ]);
    } finally {
      store.close();
    }
    await cp.close();
  });
});
