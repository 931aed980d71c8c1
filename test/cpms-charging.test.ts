import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CpmsChange } from '../server/smart/cpms-profiles.ts';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, station, type RpcServerClient, type TestCpms } from './support/ocpp.ts';

let broker: TestBroker;
let cpms: TestCpms;
const changes: CpmsChange[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  cpms = await startCpms();
  broker.server.cpmsLimits.onChange((change) => changes.push(change));
});

afterAll(async () => {
  await broker?.close();
  await cpms?.close();
});

let slugs = 0;
/** A tenant with smart charging on (unless said otherwise) and this policy for the CPMS's charging commands. */
async function tenant(settings: { smartCharging?: boolean; cpmsChargingPolicy?: 'forward' | 'accept' | 'reject' } = {}) {
  const created = await broker.api.tenants.create.mutate({ name: 'Acme', slug: `cpms${++slugs}`, cpmsUrl: cpms.url, allowUnknownStations: true });
  await broker.api.tenants.update.mutate({ id: created.id, smartCharging: true, ...settings });
  return { id: created.id, endpoint: broker.endpoint(created.slug) };
}

/** The text frames one end sent and received. */
function frames(end: { on(event: 'message', listener: (m: { message: unknown; outbound: boolean }) => void): unknown }) {
  const seen: { outbound: boolean; text: string; action?: string }[] = [];
  end.on('message', ({ message, outbound }) => {
    const text = String(message);
    const parsed = JSON.parse(text) as unknown[];
    seen.push({ outbound, text, ...(parsed[0] === 2 && { action: parsed[2] as string }) });
  });
  return seen;
}

/** A station of that tenant, answering SetChargingProfile and ClearChargingProfile with `answers`. */
async function connect(t: { endpoint: string }, identity: string, protocol: 'ocpp1.6' | 'ocpp2.0.1', answers: { set?: string; clear?: string } = {}) {
  const cp = station(t.endpoint, identity, [protocol]);
  const atStation = frames(cp as never);
  cp.handle('SetChargingProfile', async () => ({ status: answers.set ?? 'Accepted' }));
  cp.handle('ClearChargingProfile', async () => ({ status: answers.clear ?? 'Accepted' }));
  cp.handle('GetCompositeSchedule', async () => ({ status: 'Rejected' }));
  const accepted = cpms.nextClient();
  await cp.connect();
  const client: RpcServerClient = await accepted;
  const atCpms = frames(client as never);
  return { cp, client, atStation, atCpms };
}

const now = () => new Date().toISOString();

function txProfile16(id: number, transactionId: number, limit: number) {
  return {
    connectorId: 1,
    csChargingProfiles: {
      chargingProfileId: id,
      transactionId,
      stackLevel: 2,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { startSchedule: now(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
    },
  };
}

function txProfile201(id: number, transactionId: string, limit: number) {
  return {
    evseId: 1,
    chargingProfile: {
      id,
      stackLevel: 2,
      chargingProfilePurpose: 'TxProfile',
      chargingProfileKind: 'Absolute',
      transactionId,
      chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] }],
    },
  };
}

async function start16(cp: ReturnType<typeof station>): Promise<number> {
  const result = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'TAG-1', meterStart: 0, timestamp: now() })) as { transactionId: number };
  return result.transactionId;
}

describe("the CPMS's charging profiles, watched with the station's answer (OCPP 1.6)", () => {
  it('gives the limit of a 10 A TxProfile the station accepted to that session, until a clear by its id removes it', async () => {
    const t = await tenant();
    const { cp, client } = await connect(t, 'CP16-A', 'ocpp1.6');
    const transactionId = await start16(cp);
    const target = { evseId: null, connectorId: 1, transactionId: String(transactionId) };
    const limits = broker.server.cpmsLimits;

    expect(await client.call('SetChargingProfile', txProfile16(100, transactionId, 10))).toEqual({ status: 'Accepted' });
    expect(limits.limitA(t.id, 'CP16-A', target, Date.now(), 230)).toBe(10);
    expect(limits.limitA(t.id, 'CP16-A', { ...target, transactionId: '1' }, Date.now(), 230)).toBeNull();
    expect(limits.maxStackLevel(t.id, 'CP16-A', 'TxProfile')).toBe(2);
    expect(changes.at(-1)).toEqual({ tenantId: t.id, identity: 'CP16-A', kind: 'set', broadClear: false });

    expect(await client.call('ClearChargingProfile', { id: 100 })).toEqual({ status: 'Accepted' });
    expect(limits.limitA(t.id, 'CP16-A', target, Date.now(), 230)).toBeNull();
    expect(changes.at(-1)).toEqual({ tenantId: t.id, identity: 'CP16-A', kind: 'clear', broadClear: false });
    await cp.close({ force: true });
  });

  it('records nothing the station rejected', async () => {
    const t = await tenant();
    const { cp, client } = await connect(t, 'CP16-R', 'ocpp1.6', { set: 'Rejected' });
    const transactionId = await start16(cp);
    const before = changes.length;
    expect(await client.call('SetChargingProfile', txProfile16(101, transactionId, 10))).toEqual({ status: 'Rejected' });
    expect(broker.server.cpmsLimits.limitA(t.id, 'CP16-R', { evseId: null, connectorId: 1, transactionId: String(transactionId) }, Date.now(), 230)).toBeNull();
    expect(broker.server.cpmsLimits.profiles(t.id, 'CP16-R')).toEqual([]);
    expect(changes.length).toBe(before);
    await cp.close({ force: true });
  });

  it('calls onChange with broadClear when the station accepted a clear without an id', async () => {
    const t = await tenant();
    const { cp, client } = await connect(t, 'CP16-B', 'ocpp1.6');
    const transactionId = await start16(cp);
    await client.call('SetChargingProfile', txProfile16(102, transactionId, 10));
    expect(await client.call('ClearChargingProfile', {})).toEqual({ status: 'Accepted' });
    expect(changes.at(-1)).toEqual({ tenantId: t.id, identity: 'CP16-B', kind: 'clear', broadClear: true });
    expect(broker.server.cpmsLimits.profiles(t.id, 'CP16-B')).toEqual([]);
    await cp.close({ force: true });
  });

  it("forgets a session's TxProfile when its transaction stops", async () => {
    const t = await tenant();
    const { cp, client } = await connect(t, 'CP16-S', 'ocpp1.6');
    const transactionId = await start16(cp);
    await client.call('SetChargingProfile', txProfile16(103, transactionId, 10));
    expect(broker.server.cpmsLimits.profiles(t.id, 'CP16-S')).toHaveLength(1);
    await cp.call('StopTransaction', { transactionId, meterStop: 1000, timestamp: now() });
    expect(broker.server.cpmsLimits.profiles(t.id, 'CP16-S')).toEqual([]);
    await cp.close({ force: true });
  });

  it('records nothing while the tenant has smart charging off, and forwards every command', async () => {
    const t = await tenant({ smartCharging: false, cpmsChargingPolicy: 'reject' });
    const { cp, client, atStation } = await connect(t, 'CP16-OFF', 'ocpp1.6');
    const transactionId = await start16(cp);
    expect(await client.call('SetChargingProfile', txProfile16(104, transactionId, 10))).toEqual({ status: 'Accepted' });
    expect(atStation.some((f) => f.action === 'SetChargingProfile')).toBe(true);
    expect(broker.server.cpmsLimits.profiles(t.id, 'CP16-OFF')).toEqual([]);
    await cp.close({ force: true });
  });
});

describe("the CPMS's charging profiles, watched with the station's answer (OCPP 2.0.1)", () => {
  it('gives the limit of a 10 A TxProfile to its transaction, forgets it when the transaction ends, and tells a broad clear', async () => {
    const t = await tenant();
    const { cp, client } = await connect(t, 'CP201-A', 'ocpp2.0.1');
    const target = { evseId: 1, connectorId: 1, transactionId: 'tx-201' };
    const limits = broker.server.cpmsLimits;

    expect(await client.call('SetChargingProfile', txProfile201(200, 'tx-201', 10))).toEqual({ status: 'Accepted' });
    expect(limits.limitA(t.id, 'CP201-A', target, Date.now(), 230)).toBe(10);
    expect(await client.call('ClearChargingProfile', { chargingProfileId: 200 })).toEqual({ status: 'Accepted' });
    expect(limits.limitA(t.id, 'CP201-A', target, Date.now(), 230)).toBeNull();

    await client.call('SetChargingProfile', txProfile201(201, 'tx-201', 12));
    expect(limits.limitA(t.id, 'CP201-A', target, Date.now(), 230)).toBe(12);
    await cp.call('TransactionEvent', { eventType: 'Ended', timestamp: now(), triggerReason: 'StopAuthorized', seqNo: 3, transactionInfo: { transactionId: 'tx-201' } });
    expect(limits.limitA(t.id, 'CP201-A', target, Date.now(), 230)).toBeNull();

    await client.call('SetChargingProfile', txProfile201(202, 'tx-202', 8));
    expect(await client.call('ClearChargingProfile', { chargingProfileCriteria: { chargingProfilePurpose: 'TxProfile' } })).toEqual({ status: 'Accepted' });
    expect(changes.at(-1)).toEqual({ tenantId: t.id, identity: 'CP201-A', kind: 'clear', broadClear: false }); // no broker profile matches
    expect(limits.profiles(t.id, 'CP201-A')).toEqual([]);
    expect(await client.call('ClearChargingProfile', {})).toEqual({ status: 'Accepted' });
    expect(changes.at(-1)).toEqual({ tenantId: t.id, identity: 'CP201-A', kind: 'clear', broadClear: true });
    await cp.close({ force: true });
  });

  it('records nothing the station rejected', async () => {
    const t = await tenant();
    const { cp, client } = await connect(t, 'CP201-R', 'ocpp2.0.1', { set: 'Rejected' });
    expect(await client.call('SetChargingProfile', txProfile201(203, 'tx-r', 10))).toEqual({ status: 'Rejected' });
    expect(broker.server.cpmsLimits.profiles(t.id, 'CP201-R')).toEqual([]);
    await cp.close({ force: true });
  });
});

describe("the tenant's policy for the CPMS's charging commands", () => {
  it('stores the policy the API is given', async () => {
    const t = await tenant();
    expect((await broker.api.tenants.get.query({ id: t.id })).cpmsChargingPolicy).toBe('forward');
    expect((await broker.api.tenants.update.mutate({ id: t.id, cpmsChargingPolicy: 'accept' })).cpmsChargingPolicy).toBe('accept');
    expect((await broker.api.tenants.get.query({ id: t.id })).cpmsChargingPolicy).toBe('accept');
  });

  for (const protocol of ['ocpp1.6', 'ocpp2.0.1'] as const) {
    const v16 = protocol === 'ocpp1.6';

    it(`forward: passes the commands and the answers through byte for byte (${protocol})`, async () => {
      const t = await tenant({ cpmsChargingPolicy: 'forward' });
      const { cp, client, atStation, atCpms } = await connect(t, `FWD-${protocol}`, protocol);
      await client.call('SetChargingProfile', v16 ? txProfile16(300, 4711, 10) : txProfile201(300, 'tx-f', 10));
      await client.call('ClearChargingProfile', v16 ? { id: 300 } : { chargingProfileId: 300 });
      const sent = atCpms.filter((f) => f.outbound).map((f) => f.text);
      const received = atStation.filter((f) => !f.outbound).map((f) => f.text);
      expect(received).toEqual(sent);
      expect(atCpms.filter((f) => !f.outbound).map((f) => f.text)).toEqual(atStation.filter((f) => f.outbound).map((f) => f.text));
      expect(sent).toHaveLength(2);
      await cp.close({ force: true });
    });

    it(`accept: answers the CPMS Accepted itself, the station receives nothing, and the limit is recorded (${protocol})`, async () => {
      const t = await tenant({ cpmsChargingPolicy: 'accept' });
      const identity = `ACC-${protocol}`;
      const { cp, client, atStation } = await connect(t, identity, protocol);
      const target = { evseId: v16 ? null : 1, connectorId: 1, transactionId: v16 ? '4711' : 'tx-a' };
      const before = changes.length;
      expect(await client.call('SetChargingProfile', v16 ? txProfile16(400, 4711, 10) : txProfile201(400, 'tx-a', 10))).toEqual({ status: 'Accepted' });
      expect(broker.server.cpmsLimits.limitA(t.id, identity, target, Date.now(), 230)).toBe(10);
      expect(changes.slice(before)).toEqual([{ tenantId: t.id, identity, kind: 'set', broadClear: false }]);
      expect(await client.call('ClearChargingProfile', v16 ? { id: 400 } : { chargingProfileId: 400 })).toEqual({ status: 'Accepted' });
      expect(broker.server.cpmsLimits.limitA(t.id, identity, target, Date.now(), 230)).toBeNull();
      expect(await client.call('ClearChargingProfile', v16 ? { id: 401 } : { chargingProfileId: 401 })).toEqual({ status: 'Unknown' });
      await sleep(50);
      expect(atStation.filter((f) => !f.outbound)).toEqual([]);
      const shown = await broker.api.inspector.frames.query({ tenantId: t.id, identity });
      expect(shown.filter((f) => f.action === 'SetChargingProfile').map((f) => [f.origin, f.to])).toEqual([
        ['cpms', 'broker'],
        ['broker', 'cpms'],
      ]);
      await cp.close({ force: true });
    });

    it(`reject: answers the CPMS Rejected itself (a clear: Unknown), and passes other commands on (${protocol})`, async () => {
      const t = await tenant({ cpmsChargingPolicy: 'reject' });
      const identity = `REJ-${protocol}`;
      const { cp, client, atStation } = await connect(t, identity, protocol);
      expect(await client.call('SetChargingProfile', v16 ? txProfile16(500, 4711, 10) : txProfile201(500, 'tx-r', 10))).toEqual({ status: 'Rejected' });
      expect(await client.call('ClearChargingProfile', {})).toEqual({ status: 'Unknown' });
      expect(broker.server.cpmsLimits.profiles(t.id, identity)).toEqual([]);
      await client.call('GetCompositeSchedule', v16 ? { connectorId: 1, duration: 60 } : { evseId: 1, duration: 60 });
      expect(atStation.filter((f) => !f.outbound).map((f) => f.action)).toEqual(['GetCompositeSchedule']);
      await cp.close({ force: true });
    });
  }
});

describe("the policy and the broker's own calls", () => {
  it("answers under 'accept' while one of the broker's own calls is out, and watches a forwarded command held meanwhile", async () => {
    const t = await tenant({ cpmsChargingPolicy: 'accept' });
    const { cp, client, atStation } = await connect(t, 'CP-HELD', 'ocpp1.6');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    cp.handle('GetConfiguration', async () => {
      await gate;
      return { configurationKey: [] };
    });
    const own = broker.server.broker.call(t.id, 'CP-HELD', 'GetConfiguration', {});
    await sleep(50); // the broker's call is out

    expect(await client.call('SetChargingProfile', txProfile16(700, 4711, 10))).toEqual({ status: 'Accepted' });
    await broker.api.tenants.update.mutate({ id: t.id, cpmsChargingPolicy: 'forward' });
    const forwarded = client.call('SetChargingProfile', txProfile16(701, 4712, 8));
    await sleep(50);
    expect(atStation.filter((f) => !f.outbound).map((f) => f.action)).toEqual(['GetConfiguration']); // held
    open();
    await own;
    expect(await forwarded).toEqual({ status: 'Accepted' });
    const limitOf = (transactionId: string) =>
      broker.server.cpmsLimits.limitA(t.id, 'CP-HELD', { evseId: null, connectorId: 1, transactionId }, Date.now(), 230);
    expect([limitOf('4711'), limitOf('4712')]).toEqual([10, 8]);
    await cp.close({ force: true });
  });
});

describe('after a restart', () => {
  it("still knows the CPMS's profiles on each station", async () => {
    const first = await startTestBroker();
    const created = await first.api.tenants.create.mutate({ name: 'Acme', slug: 'restart', cpmsUrl: cpms.url, allowUnknownStations: true });
    await first.api.tenants.update.mutate({ id: created.id, smartCharging: true });
    const cp = station(first.endpoint('restart'), 'CP-RESTART', ['ocpp1.6']);
    cp.handle('SetChargingProfile', async () => ({ status: 'Accepted' }));
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;
    const transactionId = await start16(cp);
    await client.call('SetChargingProfile', txProfile16(600, transactionId, 10));
    await cp.close({ force: true });
    await first.server.close();

    const second = await startTestBroker({ dataDir: first.dataDir });
    try {
      const target = { evseId: null, connectorId: 1, transactionId: String(transactionId) };
      expect(second.server.cpmsLimits.limitA(created.id, 'CP-RESTART', target, Date.now(), 230)).toBe(10);
    } finally {
      await second.close();
    }
  });
});
