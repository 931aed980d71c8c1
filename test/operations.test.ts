import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { freePort, startCpms, station, type TestCpms } from './support/ocpp.ts';

const TOKEN = 'metrics-token-0123456789';
let broker: TestBroker;
let cpms: TestCpms;

beforeAll(async () => {
  broker = await startTestBroker({ metricsToken: TOKEN });
  cpms = await startCpms();
});
afterAll(async () => {
  await broker?.close();
  await cpms?.close();
});

const metrics = async () => (await fetch(`${broker.server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
/** The value of one series in Prometheus text format, or undefined when it is absent. */
const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('/readyz', () => {
  it('answers 200 while the broker serves', async () => {
    const response = await fetch(`${broker.server.url}/readyz`);
    expect([response.status, await response.json()]).toEqual([200, { ready: true }]);
  });
});

describe('/metrics', () => {
  it('needs the token when one is set', async () => {
    expect((await fetch(`${broker.server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${broker.server.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${broker.server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('counts stations per tenant, frames per direction, call round trips, CPMS and authentication failures', async () => {
    await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
    await broker.api.tenants.create.mutate({ name: 'Down', slug: 'down', cpmsUrl: `ws://127.0.0.1:${await freePort()}`, allowUnknownStations: true });
    const cp = station(broker.endpoint('acme'), 'CP-1', ['ocpp1.6']);
    await cp.connect();
    await cp.call('Heartbeat', {});
    await cp.call('Heartbeat', {});
    await expect(station(broker.endpoint('down'), 'CP-2', ['ocpp1.6']).connect()).rejects.toMatchObject({ code: 502 });
    await fetch(`${broker.server.url}/trpc/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'not the password' }),
    });

    const text = await metrics();
    expect(value(text, 'ocpp_broker_stations_connected{tenant="acme"}')).toBe(1);
    expect(value(text, 'ocpp_broker_frames_total{direction="station_to_cpms"}')).toBe(2);
    expect(value(text, 'ocpp_broker_frames_total{direction="cpms_to_station"}')).toBe(2);
    expect(value(text, 'ocpp_broker_call_duration_seconds_count{caller="station",action="Heartbeat"}')).toBe(2);
    expect(value(text, 'ocpp_broker_cpms_connection_failures_total{tenant="down",status="502"}')).toBe(1);
    expect(value(text, 'ocpp_broker_authentication_failures_total{kind="admin",tenant=""}')).toBe(1);
    expect(value(text, 'ocpp_broker_observations_pending')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'ocpp_broker_observations_dropped_total{reason="queue_full"}')).toBe(0);
    expect(text).toContain('ocpp_broker_process_resident_memory_bytes');
    await cp.close();
  });
});
