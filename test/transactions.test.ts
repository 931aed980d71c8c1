import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badgeMatchKey } from '../contract/index.ts';
import { openDatabase, type Store } from '../db/index.ts';
import { badges, drivers } from '../db/schema.ts';
import { paths } from '../server/paths.ts';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';
import { eventually } from './support/eventually.ts';

let broker: TestBroker;
let cpms: TestCpms;
let store: Store;
let tenantId: number;
let endpoint: string;
const people: Record<string, number> = {};


beforeAll(async () => {
  broker = await startTestBroker();
  cpms = await startCpms();
  const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
  tenantId = tenant.id;
  endpoint = broker.endpoint('acme');
  // A second connection to the broker's own database file, to set up the driver list.
  store = openDatabase(path.join(broker.dataDir, 'broker.db'), paths.migrations);
  for (const [email, ids, blocked] of [
    ['john.doe@example.com', ['BADGE001', 'BADGE002'], false],
    ['jane.smith@example.com', ['BADGE003'], false],
    ['blocked@example.com', ['BADGE666'], true],
  ] as const) {
    const driver = store.db.insert(drivers).values({ tenantId, email, blocked }).returning().get();
    for (const badgeId of ids) store.db.insert(badges).values({ tenantId, driverId: driver.id, badgeId, matchKey: badgeMatchKey(badgeId) }).run();
    people[email] = driver.id;
  }
});

afterAll(async () => {
  store?.close();
  await broker?.close();
  await cpms?.close();
});

const iso = (minutes: number) => new Date(Date.UTC(2026, 10, 24, 10, minutes)).toISOString();

async function transaction(identity: string, state: 'active' | 'completed' = 'completed') {
  return eventually(async () => (await broker.api.transactions.list.query({ tenantId, identity })).transactions.find((t) => t.state === state));
}

describe('an OCPP 1.6 charging session', () => {
  it('is stored with its driver, energy, samples, connector state and station facts', async () => {
    const cp = station(endpoint, 'CP16', ['ocpp1.6']);
    await cp.connect();
    await cp.call('BootNotification', { chargePointVendor: 'Alfen', chargePointModel: 'Eve', chargePointSerialNumber: 'SN-1', firmwareVersion: '6.1' });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: iso(0) });
    await cp.call('Authorize', { idTag: 'badge002 ' });
    const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE002', meterStart: 1000, timestamp: iso(0) })) as { transactionId: number };
    await cp.call('MeterValues', {
      connectorId: 1,
      transactionId,
      meterValue: [
        {
          timestamp: iso(10),
          sampledValue: [
            { value: '1.5', unit: 'kWh', measurand: 'Energy.Active.Import.Register', context: 'Sample.Periodic' },
            { value: '7.4', unit: 'kW', measurand: 'Power.Active.Import' },
            { value: '16.1', unit: 'A', measurand: 'Current.Import', phase: 'L1' },
            { value: '231', unit: 'V', measurand: 'Voltage', phase: 'L1-N' },
          ],
        },
      ],
    });
    const live = await transaction('CP16', 'active');
    expect(await eventually(async () => (await transaction('CP16', 'active')).energyWh === 500 || undefined)).toBe(true);
    expect(live).toMatchObject({ meterStartWh: 1000, meterStopWh: null });
    const during = await broker.api.transactions.station.query({ tenantId, identity: 'CP16' });
    expect(during.active).toEqual([expect.objectContaining({ id: live.id, energyWh: 500, powerW: 7400, powerAt: iso(10), lastReadingAt: iso(10) })]);
    expect(Date.parse(during.lastHeardAt!)).toBeGreaterThanOrEqual(Date.parse(iso(10)));
    const stop = { transactionId, meterStop: 3500, timestamp: iso(20), reason: 'Local', transactionData: [{ timestamp: iso(20), sampledValue: [{ value: '3500', context: 'Transaction.End' }] }] };
    await cp.call('StopTransaction', stop);

    const tx = await transaction('CP16');
    expect(tx).toMatchObject({
      ocppVersion: '1.6',
      transactionId: String(transactionId),
      connectorId: 1,
      badgeId: 'BADGE002',
      driverId: people['john.doe@example.com'],
      driverEmail: 'john.doe@example.com',
      meterStartWh: 1000,
      meterStopWh: 3500,
      energyWh: 2500,
      stopReason: 'Local',
      startedAt: iso(0),
      stoppedAt: iso(20),
    });
    const samples = await broker.api.transactions.samples.query({ id: tx.id });
    expect(samples.map((s) => [s.measurand, s.phase, s.unit, s.value, s.context])).toEqual([
      ['Energy.Active.Import.Register', null, 'Wh', 1500, 'Sample.Periodic'],
      ['Power.Active.Import', null, 'W', 7400, null],
      ['Current.Import', 'L1', 'A', 16.1, null],
      ['Voltage', 'L1-N', 'V', 231, null],
      ['Energy.Active.Import.Register', null, 'Wh', 3500, 'Transaction.End'],
    ]);

    const detail = await broker.api.transactions.station.query({ tenantId, identity: 'CP16' });
    expect(detail.facts).toMatchObject({ vendor: 'Alfen', model: 'Eve', serialNumber: 'SN-1', firmwareVersion: '6.1' });
    expect(detail.connectors).toEqual([expect.objectContaining({ evseId: null, connectorId: 1, status: 'Charging', errorCode: 'NoError' })]);

    // Stations repeat StopTransaction after a reboot, and send -1 for transactions nobody numbered.
    await cp.call('StopTransaction', { ...stop, meterStop: 9999, timestamp: iso(50), reason: 'Reboot' });
    await cp.call('StopTransaction', { ...stop, transactionId: -1, meterStop: 1, timestamp: iso(55) });
    await cp.call('MeterValues', { connectorId: 1, meterValue: [{ timestamp: iso(56), sampledValue: [{ value: '42' }] }] });
    await eventually(async () => (await broker.api.transactions.series.query({ tenantId, identity: 'CP16', from: new Date(iso(0)), to: new Date(iso(59)) })).some((s) => s.value === 42));
    expect(await transaction('CP16')).toEqual(tx);
    expect(await broker.api.transactions.samples.query({ id: tx.id })).toHaveLength(5);
    expect((await broker.api.transactions.list.query({ tenantId, identity: 'CP16' })).total).toBe(1);
    await cp.close();
  });
});

describe('an OCPP 2.0.1 charging session', () => {
  it('is stored from TransactionEvents, with multipliers applied, and a replayed Ended changes nothing', async () => {
    const cp = station(endpoint, 'CS201', ['ocpp2.0.1']);
    await cp.connect();
    await cp.call('BootNotification', { reason: 'PowerUp', chargingStation: { vendorName: 'ABB', model: 'Terra', serialNumber: 'T-9' } });
    await cp.call('StatusNotification', { timestamp: iso(0), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    const base = { transactionInfo: { transactionId: 'tx-abc' }, evse: { id: 1, connectorId: 1 } };
    await cp.call('TransactionEvent', {
      ...base,
      eventType: 'Started',
      timestamp: iso(0),
      triggerReason: 'Authorized',
      seqNo: 0,
      idToken: { idToken: 'badge003', type: 'ISO14443' },
      meterValue: [{ timestamp: iso(0), sampledValue: [{ value: 0.5, context: 'Transaction.Begin', unitOfMeasure: { unit: 'kWh' } }] }],
    });
    await cp.call('TransactionEvent', {
      ...base,
      eventType: 'Updated',
      timestamp: iso(5),
      triggerReason: 'MeterValuePeriodic',
      seqNo: 1,
      meterValue: [{ timestamp: iso(5), sampledValue: [{ value: 11, measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'W', multiplier: 3 } }] }],
    });
    const ended = {
      ...base,
      eventType: 'Ended',
      timestamp: iso(30),
      triggerReason: 'EVCommunicationLost',
      seqNo: 2,
      transactionInfo: { transactionId: 'tx-abc', stoppedReason: 'EVDisconnected' },
      meterValue: [{ timestamp: iso(30), sampledValue: [{ value: 12345, context: 'Transaction.End', unitOfMeasure: { unit: 'Wh' } }] }],
    };
    await cp.call('TransactionEvent', ended);

    const tx = await transaction('CS201');
    expect(tx).toMatchObject({
      ocppVersion: '2.0.1',
      transactionId: 'tx-abc',
      evseId: 1,
      connectorId: 1,
      badgeId: 'badge003',
      driverEmail: 'jane.smith@example.com',
      meterStartWh: 500,
      meterStopWh: 12345,
      energyWh: 11845,
      stopReason: 'EVDisconnected',
      startedAt: iso(0),
      stoppedAt: iso(30),
    });
    const power = (await broker.api.transactions.samples.query({ id: tx.id })).find((s) => s.measurand === 'Power.Active.Import');
    expect(power).toMatchObject({ unit: 'W', value: 11000 });

    await cp.call('TransactionEvent', { ...ended, offline: true, seqNo: 3, timestamp: iso(45) });
    await cp.call('Heartbeat', {});
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await transaction('CS201')).toEqual(tx);
    await cp.close();
  });

  it('puts together a session whose events arrive offline and out of order', async () => {
    const cp = station(endpoint, 'CS202', ['ocpp2.0.1']);
    await cp.connect();
    const base = { transactionInfo: { transactionId: 'late-1' }, evse: { id: 2, connectorId: 1 }, offline: true };
    const register = (value: number, minutes: number) => [{ timestamp: iso(minutes), sampledValue: [{ value, unitOfMeasure: { unit: 'Wh' } }] }];
    await cp.call('TransactionEvent', { ...base, eventType: 'Ended', timestamp: iso(40), triggerReason: 'StopAuthorized', seqNo: 2, meterValue: register(9000, 40) });
    await cp.call('TransactionEvent', { ...base, eventType: 'Started', timestamp: iso(10), triggerReason: 'Authorized', seqNo: 0, idToken: { idToken: 'BADGE001', type: 'ISO14443' }, meterValue: register(4000, 10) });
    await cp.call('TransactionEvent', { ...base, eventType: 'Updated', timestamp: iso(20), triggerReason: 'MeterValuePeriodic', seqNo: 1, meterValue: register(6000, 20) });
    const tx = await eventually(async () => {
      const t = await transaction('CS202');
      return t.meterStartWh === 4000 && t;
    });
    expect(tx).toMatchObject({ state: 'completed', startedAt: iso(10), stoppedAt: iso(40), energyWh: 5000, driverEmail: 'john.doe@example.com' });
    await cp.close();
  });
});

describe('authorization', () => {
  it('is left to the CPMS by default: the broker only observes', async () => {
    const before = cpms.calls.filter((c) => c.action === 'Authorize').length;
    const cp = station(endpoint, 'CP-CPMS', ['ocpp1.6']);
    await cp.connect();
    await expect(cp.call('Authorize', { idTag: 'NOBODY' })).resolves.toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(cpms.calls.filter((c) => c.action === 'Authorize').length).toBe(before + 1);
    await cp.close();
  });

  it('is answered by the broker from the driver list in broker mode, without the CPMS seeing it (1.6 and 2.0.1)', async () => {
    await broker.api.tenants.update.mutate({ id: tenantId, authorizationMode: 'broker' });
    const before = cpms.calls.length;
    const cp16 = station(endpoint, 'CP-BRK', ['ocpp1.6']);
    const cp201 = station(endpoint, 'CS-BRK', ['ocpp2.0.1']);
    await cp16.connect();
    await cp201.connect();
    await expect(cp16.call('Authorize', { idTag: ' badge001' })).resolves.toEqual({ idTagInfo: { status: 'Accepted' } });
    await expect(cp16.call('Authorize', { idTag: 'BADGE666' })).resolves.toEqual({ idTagInfo: { status: 'Blocked' } });
    await expect(cp16.call('Authorize', { idTag: 'NOBODY' })).resolves.toEqual({ idTagInfo: { status: 'Invalid' } });
    await expect(cp201.call('Authorize', { idToken: { idToken: 'Badge003', type: 'ISO14443' } })).resolves.toEqual({ idTokenInfo: { status: 'Accepted' } });
    expect(cpms.calls.length).toBe(before);

    // Transactions still go to the CPMS.
    await cp16.call('StartTransaction', { connectorId: 1, idTag: 'NOBODY', meterStart: 0, timestamp: iso(0) });
    expect(cpms.calls.at(-1)).toMatchObject({ identity: 'CP-BRK', action: 'StartTransaction' });
    const unknown = await transaction('CP-BRK', 'active');
    expect(unknown).toMatchObject({ badgeId: 'NOBODY', driverId: null, driverEmail: null });
    await broker.api.tenants.update.mutate({ id: tenantId, authorizationMode: 'cpms' });
    await cp16.close();
    await cp201.close();
  });
});

describe('reports', () => {
  it('sum energy per driver per month and export a tenant\'s transactions as CSV', async () => {
    const rows = await broker.api.transactions.energyByDriverMonth.query({ tenantId });
    expect(rows).toEqual(
      expect.arrayContaining([
        { month: '2026-11', driverId: people['john.doe@example.com'], email: 'john.doe@example.com', sessions: 2, energyWh: 7500 },
        { month: '2026-11', driverId: people['jane.smith@example.com'], email: 'jane.smith@example.com', sessions: 1, energyWh: 11845 },
      ]),
    );
    const csv = await broker.api.transactions.export.query({ tenantId, from: new Date(iso(0)), to: new Date(iso(59)) });
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('station,transaction_id,evse,connector,badge,driver_email,started_at,stopped_at,meter_start_wh,meter_stop_wh,energy_wh,stop_reason,state');
    expect(lines).toContain(`CP16,4711,,1,BADGE002,john.doe@example.com,${iso(0)},${iso(20)},1000,3500,2500,Local,completed`);
  });

  it('escapes what stations chose (identity, badge) against spreadsheet formulas in the CSV export', async () => {
    const cp = station(endpoint, '=1+2', ['ocpp1.6']);
    await cp.connect();
    const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: '@SUM(A1)', meterStart: 0, timestamp: iso(30) })) as { transactionId: number };
    await cp.call('StopTransaction', { transactionId, meterStop: 10, timestamp: iso(31), reason: 'Local' });
    await transaction('=1+2');
    await cp.close();
    const csv = await broker.api.transactions.export.query({ tenantId, from: new Date(iso(30)), to: new Date(iso(32)) });
    expect(csv.trim().split('\n')[1]).toBe(`'=1+2,${transactionId},,1,'@SUM(A1),,${iso(30)},${iso(31)},0,10,10,Local,completed`);
  });
});
