import { setTimeout as sleep } from 'node:timers/promises';
import { createRPCError } from 'ocpp-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnCallError, type Broker } from '../broker/index.ts';
import { QUEUE_LIMIT } from '../broker/outbox.ts';
import { apiClient, signIn, startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, station, type RpcServerClient, type TestCpms } from './support/ocpp.ts';

let broker: TestBroker;
let proxy: Broker;
let cpms: TestCpms;
let endpoint: string;
let tenantId: number;

beforeAll(async () => {
  broker = await startTestBroker();
  proxy = broker.server.broker;
  cpms = await startCpms();
  const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
  tenantId = tenant.id;
  endpoint = broker.endpoint(tenant.slug);
});

afterAll(async () => {
  await broker?.close();
  await cpms?.close();
});

/** A frame as one side saw it: direction, type, id, and action (of a call). */
interface Seen {
  dir: 'in' | 'out';
  type: number;
  id: string;
  action?: string;
  payload: unknown;
}

function recorder(target: { on(event: 'message', listener: (m: { message: unknown; outbound: boolean }) => void): unknown }): Seen[] {
  const seen: Seen[] = [];
  target.on('message', ({ message, outbound }) => {
    const frame = JSON.parse(String(message)) as unknown[];
    seen.push({
      dir: outbound ? 'out' : 'in',
      type: frame[0] as number,
      id: frame[1] as string,
      ...(frame[0] === 2 ? { action: frame[2] as string, payload: frame[3] } : { payload: frame[2] }),
    });
  });
  return seen;
}

/** A gate a station handler waits on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

async function connect(identity: string, protocol: 'ocpp1.6' | 'ocpp2.0.1') {
  const cp = station(endpoint, identity, [protocol]);
  const atStation = recorder(cp as never);
  const accepted = cpms.nextClient();
  await cp.connect();
  const client: RpcServerClient = await accepted;
  const atCpms = recorder(client as never);
  return { cp, client, atStation, atCpms };
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  expect(condition()).toBe(true);
};

const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as OwnCallError);

describe("the broker's own calls", () => {
  it("reads a 1.6 station's configuration, secrets masked, while the CPMS and the station exchange calls, and the CPMS sees none of it", async () => {
    const { cp, client, atStation, atCpms } = await connect('CP-CONF-16', 'ocpp1.6');
    cp.handle('GetConfiguration', async () => ({
      configurationKey: [
        { key: 'HeartbeatInterval', readonly: false, value: '300' },
        { key: 'NumberOfConnectors', readonly: true, value: '2' },
        { key: 'AuthorizationKey', readonly: false, value: '0011223344556677' }, // a station should not report it
      ],
    }));
    cp.handle('ChangeAvailability', async () => ({ status: 'Accepted' }));

    const traffic = Promise.all([
      cp.call('Heartbeat', {}),
      client.call('ChangeAvailability', { connectorId: 0, type: 'Operative' }),
      cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }),
    ]);
    const table = await broker.api.stations.configuration.mutate({ tenantId, identity: 'CP-CONF-16' });
    await traffic;
    await expect(client.call('ChangeAvailability', { connectorId: 1, type: 'Operative' })).resolves.toEqual({ status: 'Accepted' });

    expect(table).toEqual({
      version: '1.6',
      truncated: false,
      rows: [
        { component: null, key: 'HeartbeatInterval', value: '300', readonly: false },
        { component: null, key: 'NumberOfConnectors', value: '2', readonly: true },
        { component: null, key: 'AuthorizationKey', value: '****', readonly: false },
      ],
    });
    const own = atStation.find((f) => f.dir === 'in' && f.action === 'GetConfiguration')!;
    expect(own.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(atStation.filter((f) => f.dir === 'out' && f.id === own.id)).toHaveLength(1);
    // Everything the CPMS received: the station's two calls and its two answers, nothing of the broker's.
    expect(atCpms.filter((f) => f.dir === 'in').map((f) => f.action ?? f.type)).toEqual(
      expect.arrayContaining(['Heartbeat', 'StatusNotification', 3, 3]),
    );
    expect(atCpms.filter((f) => f.dir === 'in')).toHaveLength(4);
    expect(atCpms.some((f) => f.id === own.id || f.action === 'GetConfiguration')).toBe(false);
    await cp.close();
  });

  it("reads a 2.0.1 station's configuration from its NotifyReport frames, answering them itself; another requestId reaches the CPMS", async () => {
    const { cp, client, atStation, atCpms } = await connect('CS-CONF-201', 'ocpp2.0.1');
    const forCpms: unknown[] = [];
    client.handle('NotifyReport', async ({ params }) => {
      forCpms.push(params);
      return {};
    });
    cp.handle('ChangeAvailability', async () => ({ status: 'Accepted' }));
    const report = (requestId: number, seqNo: number, tbc: boolean, name: string, value: string) => ({
      requestId,
      generatedAt: new Date().toISOString(),
      seqNo,
      tbc,
      reportData: [
        {
          component: { name: 'OCPPCommCtrlr' },
          variable: { name },
          variableAttribute: [{ type: 'Actual', value, mutability: 'ReadWrite' }],
        },
      ],
    });
    cp.handle('GetBaseReport', async ({ params }) => {
      const { requestId } = params as { requestId: number };
      setImmediate(async () => {
        await cp.call('NotifyReport', report(requestId, 0, true, 'HeartbeatInterval', '300'));
        await cp.call('NotifyReport', report(4242, 0, false, 'OfflineThreshold', '60')); // the CPMS's own report
        await cp.call('NotifyReport', {
          ...report(requestId, 1, false, 'MessageTimeout', '30'),
          reportData: [
            {
              component: { name: 'EVSE', evse: { id: 1 } },
              variable: { name: 'Power' },
              variableAttribute: [
                { type: 'Actual', value: '7400', mutability: 'ReadOnly' },
                { type: 'MaxSet', value: '11000', mutability: 'ReadOnly' },
              ],
            },
          ],
        });
      });
      return { status: 'Accepted' };
    });

    const traffic = Promise.all([cp.call('Heartbeat', {}), client.call('ChangeAvailability', { operationalStatus: 'Operative' })]);
    const table = await broker.api.stations.configuration.mutate({ tenantId, identity: 'CS-CONF-201' });
    await traffic;

    expect(table).toEqual({
      version: '2.0.1',
      truncated: false,
      rows: [
        { component: 'OCPPCommCtrlr', key: 'HeartbeatInterval', value: '300', readonly: false },
        { component: 'EVSE EVSE 1', key: 'Power', value: '7400', readonly: true },
        { component: 'EVSE EVSE 1', key: 'Power (MaxSet)', value: '11000', readonly: true },
      ],
    });
    expect(forCpms).toEqual([expect.objectContaining({ requestId: 4242 })]);
    const ownId = atStation.find((f) => f.dir === 'in' && f.action === 'GetBaseReport')!.id;
    const asked = (atStation.find((f) => f.action === 'GetBaseReport')!.payload as { requestId: number }).requestId;
    const received = atCpms.filter((f) => f.dir === 'in');
    expect(received.some((f) => f.id === ownId || f.action === 'GetBaseReport')).toBe(false);
    expect(received.filter((f) => f.action === 'NotifyReport').map((f) => (f.payload as { requestId: number }).requestId)).toEqual([4242]);
    expect(received.some((f) => f.action === 'NotifyReport' && (f.payload as { requestId: number }).requestId === asked)).toBe(false);
    // The station got an empty CALLRESULT for each NotifyReport the broker kept.
    const kept = atStation.filter((f) => f.dir === 'out' && f.action === 'NotifyReport' && (f.payload as { requestId: number }).requestId === asked);
    expect(kept).toHaveLength(2);
    const answeredEmpty = (id: string) => atStation.some((f) => f.dir === 'in' && f.type === 3 && f.id === id && JSON.stringify(f.payload) === '{}');
    await until(() => kept.every((call) => answeredEmpty(call.id)));
    await cp.close();
  });

  it("holds a CPMS call that arrives while the broker's call is out, and delivers it, in order, right after the broker's answer", async () => {
    const { cp, client, atStation } = await connect('CP-HOLD', 'ocpp1.6');
    const answer = gate();
    const reached = gate();
    cp.handle('GetConfiguration', async () => {
      reached.open();
      await answer.opened;
      return { configurationKey: [] };
    });
    cp.handle('ChangeAvailability', async () => ({ status: 'Accepted' }));
    cp.handle('ClearCache', async () => ({ status: 'Accepted' }));
    client.reconfigure({ callConcurrency: 2 } as never);

    const own = proxy.call(tenantId, 'CP-HOLD', 'GetConfiguration', {});
    await reached.opened;
    const first = client.call('ChangeAvailability', { connectorId: 0, type: 'Inoperative' });
    const second = client.call('ClearCache', {});
    await sleep(200);
    expect(atStation.filter((f) => f.dir === 'in').map((f) => f.action)).toEqual(['GetConfiguration']);
    answer.open();
    await expect(own).resolves.toEqual({ configurationKey: [] });
    await expect(Promise.all([first, second])).resolves.toEqual([{ status: 'Accepted' }, { status: 'Accepted' }]);

    const ownId = atStation[0]!.id;
    expect(atStation.filter((f) => f.dir === 'in').map((f) => f.action)).toEqual(['GetConfiguration', 'ChangeAvailability', 'ClearCache']);
    const answered = atStation.findIndex((f) => f.dir === 'out' && f.id === ownId);
    expect(answered).toBe(1); // the broker's answer went out before the held calls came in
    await cp.close();
  });

  it('waits with its call while a CPMS call to the station is unanswered', async () => {
    const { cp, client, atStation } = await connect('CP-WAIT', 'ocpp1.6');
    const answer = gate();
    const reached = gate();
    cp.handle('ChangeAvailability', async () => {
      reached.open();
      await answer.opened;
      return { status: 'Accepted' };
    });
    cp.handle('GetConfiguration', async () => ({ configurationKey: [] }));

    const cpmsCall = client.call('ChangeAvailability', { connectorId: 0, type: 'Operative' });
    await reached.opened;
    const own = proxy.call(tenantId, 'CP-WAIT', 'GetConfiguration', {});
    await sleep(200);
    expect(atStation.some((f) => f.action === 'GetConfiguration')).toBe(false);
    answer.open();
    await expect(cpmsCall).resolves.toEqual({ status: 'Accepted' });
    await expect(own).resolves.toEqual({ configurationKey: [] });
    expect(atStation.map((f) => `${f.dir} ${f.action ?? f.type}`)).toEqual(['in ChangeAvailability', 'out 3', 'in GetConfiguration', 'out 3']);
    await cp.close();
  });

  it('frees the slot when the station never answers, delivers the held CPMS call then, and keeps the late answer from the CPMS', async () => {
    const { cp, client, atStation, atCpms } = await connect('CP-MUTE', 'ocpp1.6');
    const late = gate();
    const reached = gate();
    cp.handle('GetConfiguration', async () => {
      reached.open();
      await late.opened;
      return { configurationKey: [] };
    });
    cp.handle('ChangeAvailability', async () => ({ status: 'Accepted' }));

    const own = failure(proxy.call(tenantId, 'CP-MUTE', 'GetConfiguration', {}, { timeoutMs: 300 }));
    await reached.opened;
    const held = client.call('ChangeAvailability', { connectorId: 0, type: 'Operative' });
    const error = await own;
    expect(error).toBeInstanceOf(OwnCallError);
    expect(error?.code).toBe('TIMEOUT');
    await expect(held).resolves.toEqual({ status: 'Accepted' });

    late.open(); // the station answers at last: the broker keeps it
    await until(() => atStation.filter((f) => f.dir === 'out').length === 2);
    await expect(cp.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    expect(atCpms.filter((f) => f.dir === 'in').map((f) => f.action ?? f.type)).toEqual([3, 'Heartbeat']);
    await cp.close();
  });

  it("gives the broker's call up when the CPMS sends more than 64 calls meanwhile, and releases them all in order", async () => {
    const { cp, client, atStation } = await connect('CP-FLOOD', 'ocpp1.6');
    const reached = gate();
    cp.handle('GetConfiguration', async () => {
      reached.open();
      return new Promise(() => {}); // never
    });
    cp.handle('ChangeAvailability', async () => ({ status: 'Accepted' }));
    client.reconfigure({ callConcurrency: 100 } as never);

    const own = failure(proxy.call(tenantId, 'CP-FLOOD', 'GetConfiguration', {}, { timeoutMs: 60_000 }));
    await reached.opened;
    const calls = Array.from({ length: 65 }, (_, connectorId) => client.call('ChangeAvailability', { connectorId, type: 'Operative' }));
    expect((await own)?.code).toBe('TIMEOUT');
    await Promise.all(calls);
    const delivered = atStation.filter((f) => f.dir === 'in' && f.action === 'ChangeAvailability');
    expect(delivered.map((f) => (f.payload as { connectorId: number }).connectorId)).toEqual(Array.from({ length: 65 }, (_, i) => i));
    const metrics = await (await fetch(`${broker.server.url}/metrics`)).text();
    expect(metrics).toMatch(/ocpp_broker_own_calls_given_up_total\{action="GetConfiguration"\} 1/);
    expect(metrics).toMatch(/ocpp_broker_cpms_frames_held_total [1-9]/);
    await cp.close({ force: true });
  });

  it('comes back with the CALLERROR code the station answered', async () => {
    const { cp } = await connect('CP-ERR', 'ocpp1.6');
    cp.handle('GetConfiguration', async () => {
      throw createRPCError('NotSupported', 'Not here');
    });
    const error = await failure(proxy.call(tenantId, 'CP-ERR', 'GetConfiguration', {}));
    expect(error).toMatchObject({ code: 'CALL_ERROR', errorCode: 'NotSupported', errorDescription: 'Not here' });
    await cp.close();
  });

  it('fails with NOT_CONNECTED for a station that is not connected, GONE when it leaves mid-call, and BUSY past its queue', async () => {
    expect((await failure(proxy.call(tenantId, 'NOBODY', 'Heartbeat', {})))?.code).toBe('NOT_CONNECTED');
    await expect(broker.api.stations.configuration.mutate({ tenantId, identity: 'NOBODY' })).rejects.toMatchObject({
      data: { code: 'NOT_FOUND' },
    });

    const { cp } = await connect('CP-GONE', 'ocpp1.6');
    const reached = gate();
    cp.handle('GetConfiguration', async () => {
      reached.open();
      return new Promise(() => {});
    });
    const out = failure(proxy.call(tenantId, 'CP-GONE', 'GetConfiguration', {}));
    await reached.opened;
    const waiting = Array.from({ length: QUEUE_LIMIT }, () => failure(proxy.call(tenantId, 'CP-GONE', 'GetConfiguration', {})));
    expect((await failure(proxy.call(tenantId, 'CP-GONE', 'GetConfiguration', {})))?.code).toBe('BUSY');
    await cp.close({ force: true });
    expect((await out)?.code).toBe('GONE');
    expect((await Promise.all(waiting)).map((e) => e?.code)).toEqual(Array(QUEUE_LIMIT).fill('GONE'));
  });

  it('triggers a message at the station, which then sends it to the CPMS', async () => {
    const { cp, atCpms } = await connect('CP-TRIG', 'ocpp1.6');
    cp.handle('TriggerMessage', async ({ params }) => {
      if ((params as { requestedMessage: string }).requestedMessage === 'Heartbeat') setImmediate(() => void cp.call('Heartbeat', {}));
      return { status: 'Accepted' };
    });
    await expect(broker.api.stations.trigger.mutate({ tenantId, identity: 'CP-TRIG', message: 'Heartbeat' })).resolves.toEqual({
      status: 'Accepted',
    });
    await until(() => atCpms.some((f) => f.dir === 'in' && f.action === 'Heartbeat'));
    expect(atCpms.some((f) => f.action === 'TriggerMessage')).toBe(false);
    const audit = await broker.api.audit.list.query({ action: 'station.trigger' });
    expect(JSON.stringify(audit)).toContain('station.trigger');
    await cp.close();
  });

  it("sends 'high' priority calls before the 'normal' ones waiting, each kind first in, first out", async () => {
    const { cp, atStation } = await connect('CP-PRIO', 'ocpp1.6');
    const first = gate();
    cp.handle('GetConfiguration', async () => {
      await first.opened;
      return {};
    });
    const calls = [proxy.call(tenantId, 'CP-PRIO', 'GetConfiguration', { key: ['first'] })];
    await until(() => atStation.length === 1);
    calls.push(proxy.call(tenantId, 'CP-PRIO', 'GetConfiguration', { key: ['normal 1'] }));
    calls.push(proxy.call(tenantId, 'CP-PRIO', 'GetConfiguration', { key: ['normal 2'] }));
    calls.push(proxy.call(tenantId, 'CP-PRIO', 'GetConfiguration', { key: ['high'] }, { priority: 'high' }));
    first.open();
    await Promise.all(calls);
    const order = atStation.filter((f) => f.dir === 'in').map((f) => (f.payload as { key: string[] }).key[0]);
    expect(order).toEqual(['first', 'high', 'normal 1', 'normal 2']);
    await cp.close();
  });

  it('lets admins only read a configuration or trigger a message', async () => {
    await broker.api.users.create.mutate({ username: 'viewer', password: 'a viewer password 123', role: 'viewer' });
    const viewer = apiClient(broker.server.url, { cookie: await signIn(broker.server.url, 'viewer', 'a viewer password 123') });
    await expect(viewer.stations.configuration.mutate({ tenantId, identity: 'ANY' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(viewer.stations.trigger.mutate({ tenantId, identity: 'ANY', message: 'Heartbeat' })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
    });
  });

  it("shows the broker's own calls and their answers in the inspector, marked origin broker", async () => {
    const { cp } = await connect('CP-INSPECT', 'ocpp1.6');
    cp.handle('GetConfiguration', async () => ({ configurationKey: [] }));
    await proxy.call(tenantId, 'CP-INSPECT', 'GetConfiguration', {});
    const frames = await broker.api.inspector.frames.query({ tenantId, identity: 'CP-INSPECT' });
    expect(frames.map((f) => [f.origin, f.to, f.type, f.action])).toEqual([
      ['broker', 'station', 'call', 'GetConfiguration'],
      ['station', 'broker', 'result', 'GetConfiguration'],
    ]);
    await cp.close();
  });
});
