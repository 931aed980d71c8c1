import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';

const now = () => new Date().toISOString();

let broker: TestBroker;
let cpms: TestCpms;
let endpoint: string;

beforeAll(async () => {
  broker = await startTestBroker();
  cpms = await startCpms();
  const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
  endpoint = broker.endpoint(tenant.slug);
});

afterAll(async () => {
  await broker?.close();
  await cpms?.close();
});

describe('OCPP 1.6J through the broker', () => {
  it('forwards the station calls to the CPMS and returns its results, with identity, subprotocol and Authorization unchanged', async () => {
    const password = Buffer.from('00112233445566778899aabbccddeeff', 'hex'); // a binary 1.6 AuthorizationKey
    const cp = station(endpoint, 'RDAM 123', ['ocpp1.6'], { password });
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;

    expect(client.identity).toBe('RDAM 123');
    expect(client.protocol).toBe('ocpp1.6');
    expect(cp.protocol).toBe('ocpp1.6');
    expect(client.handshake.password).toEqual(password);

    const boot = (await cp.call('BootNotification', { chargePointVendor: 'Vendor', chargePointModel: 'Model' })) as { status: string };
    expect(boot.status).toBe('Accepted');
    const heartbeat = (await cp.call('Heartbeat', {})) as { currentTime: string };
    expect(Date.parse(heartbeat.currentTime)).not.toBeNaN();
    await expect(
      cp.call('MeterValues', {
        connectorId: 1,
        meterValue: [{ timestamp: now(), sampledValue: [{ value: '1234.5', measurand: 'Energy.Active.Import.Register' }] }],
      }),
    ).resolves.toEqual({});

    const live = await broker.api.stations.list.query();
    expect(live).toEqual([
      // heartbeatIntervalS: what the CPMS answered the station's BootNotification with (test/support/ocpp.ts: 300 s)
      expect.objectContaining({ tenantSlug: 'acme', identity: 'RDAM 123', subprotocol: 'ocpp1.6', framesIn: 3, framesOut: 3, heartbeatIntervalS: 300 }),
    ]);
    await cp.close();
  });

  it('delivers RemoteStartTransaction from the CPMS to the station and returns its answer', async () => {
    const cp = station(endpoint, 'CP-16', ['ocpp1.6']);
    cp.handle('RemoteStartTransaction', async ({ params }) => ({
      status: params?.idTag === 'BADGE001' ? 'Accepted' : 'Rejected',
    }));
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;

    await expect(client.call('RemoteStartTransaction', { idTag: 'BADGE001', connectorId: 1 })).resolves.toEqual({ status: 'Accepted' });
    await expect(client.call('RemoteStartTransaction', { idTag: 'OTHER' })).resolves.toEqual({ status: 'Rejected' });
    await cp.close();
  });
});

describe('OCPP 2.0.1 through the broker', () => {
  it('forwards BootNotification, Heartbeat and MeterValues and returns the results', async () => {
    const cp = station(endpoint, 'CS-201', ['ocpp2.0.1']);
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;
    expect(client.protocol).toBe('ocpp2.0.1');

    const boot = (await cp.call('BootNotification', {
      reason: 'PowerUp',
      chargingStation: { model: 'Model', vendorName: 'Vendor' },
    })) as { status: string };
    expect(boot.status).toBe('Accepted');
    await expect(cp.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    await expect(
      cp.call('MeterValues', {
        evseId: 1,
        meterValue: [{ timestamp: now(), sampledValue: [{ value: 7.4, measurand: 'Power.Active.Import' }] }],
      }),
    ).resolves.toEqual({});
    await cp.close();
  });

  it('delivers RequestStartTransaction from the CPMS to the station and returns its answer', async () => {
    const cp = station(endpoint, 'CS-202', ['ocpp2.0.1']);
    cp.handle('RequestStartTransaction', async ({ params }) => ({
      status: 'Accepted',
      transactionId: `tx-${params?.remoteStartId}`,
    }));
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;

    await expect(
      client.call('RequestStartTransaction', { idToken: { idToken: 'BADGE003', type: 'ISO14443' }, remoteStartId: 42 }),
    ).resolves.toEqual({ status: 'Accepted', transactionId: 'tx-42' });
    await cp.close();
  });

  it('keeps the calls crossing in both directions at once apart', async () => {
    const cp = station(endpoint, 'CS-203', ['ocpp2.0.1']);
    cp.handle('GetVariables', async () => ({
      getVariableResult: [{ attributeStatus: 'Accepted', component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' }, attributeValue: '300' }],
    }));
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;

    const [fromStation, fromCpms] = await Promise.all([
      cp.call('Heartbeat', {}),
      client.call('GetVariables', { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } }] }),
    ]);
    expect(fromStation).toHaveProperty('currentTime');
    expect(fromCpms).toMatchObject({ getVariableResult: [{ attributeValue: '300' }] });
    await cp.close();
  });
});

describe('subprotocol negotiation', () => {
  it('offers the CPMS exactly the station offer and hands the station the CPMS choice', async () => {
    const only16 = await startCpms({ protocols: ['ocpp1.6'] });
    const tenant = await broker.api.tenants.create.mutate({ name: 'Legacy', slug: 'legacy', cpmsUrl: only16.url, allowUnknownStations: true });
    const cp = station(broker.endpoint(tenant.slug), 'CP-NEG', ['ocpp2.0.1', 'ocpp1.6']);
    const accepted = only16.nextClient();
    await cp.connect();
    const client = await accepted;

    expect([...client.handshake.protocols]).toEqual(['ocpp2.0.1', 'ocpp1.6']);
    expect(client.protocol).toBe('ocpp1.6');
    expect(cp.protocol).toBe('ocpp1.6');
    await cp.close();
    await only16.close();
  });

  it('proxies OCPP 2.1 stations (ocpp2.1) as well', async () => {
    // ocpp-rpc has no OCPP 2.1 schemas: both sides run without strict validation here.
    const cpms21 = await startCpms({ protocols: ['ocpp2.1'], strictMode: false });
    const tenant = await broker.api.tenants.create.mutate({ name: 'New', slug: 'v21', cpmsUrl: cpms21.url, allowUnknownStations: true });
    const cp = station(broker.endpoint(tenant.slug), 'CS-21', ['ocpp2.1'], { strictMode: false });
    cp.handle('GetBaseReport', async () => ({ status: 'Accepted' }));
    const accepted = cpms21.nextClient();
    await cp.connect();
    const client = await accepted;
    expect([cp.protocol, client.protocol]).toEqual(['ocpp2.1', 'ocpp2.1']);
    await expect(cp.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    await expect(client.call('GetBaseReport', { requestId: 1, reportBase: 'FullInventory' })).resolves.toEqual({ status: 'Accepted' });
    await cp.close();
    await cpms21.close();
  });

  it('proxies a station that offers no subprotocol as such', async () => {
    const lenient = await startCpms({ protocols: [], strictMode: false });
    const tenant = await broker.api.tenants.create.mutate({ name: 'Lenient', slug: 'lenient', cpmsUrl: lenient.url, allowUnknownStations: true });
    const cp = station(broker.endpoint(tenant.slug), 'CP-NONE', []);
    const accepted = lenient.nextClient();
    await cp.connect();
    const client = await accepted;

    expect(client.handshake.headers['sec-websocket-protocol']).toBeUndefined();
    expect(client.protocol).toBeFalsy();
    expect(cp.protocol).toBeFalsy();
    await expect(cp.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    await cp.close();
    await lenient.close();
  });
});
