import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../db/index.ts';
import { tenants } from '../db/schema.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RPCServer } from 'ocpp-rpc';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { freePort, startCpms, station } from './support/ocpp.ts';
import { rawStation, startRawCpms, upgradeStatus } from './support/raw.ts';

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ upstreamConnectTimeoutMs: 300 });
});

afterAll(async () => {
  await broker?.close();
});

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The status and body a WebSocket upgrade is refused with. */
function refusalOf(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url.replace(/^ws/, 'http'), {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'ocpp1.6' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('upgrade', () => reject(new Error('accepted')));
    req.on('error', reject);
  });
}

async function tenantFor(cpmsUrl: string, slug: string) {
  return broker.api.tenants.create.mutate({ name: slug, slug, cpmsUrl, allowUnknownStations: true });
}

describe('refusing a station before the upgrade', () => {
  it('answers 404 for an unknown tenant and for a disabled one', async () => {
    const cpms = await startRawCpms();
    const tenant = await tenantFor(cpms.url, 'soon-disabled');
    expect(await upgradeStatus(`${broker.endpoint('no-such-tenant')}/CP1`)).toBe(404);
    expect(await upgradeStatus(`${broker.endpoint(tenant.slug)}/CP1`)).toBe(101);
    await broker.api.tenants.update.mutate({ id: tenant.id, enabled: false });
    expect(await upgradeStatus(`${broker.endpoint(tenant.slug)}/CP1`)).toBe(404);
    expect(cpms.connections).toHaveLength(1);
    await cpms.close();
  });

  it('answers 400 for an empty identity, one over 48 characters, one with ":" and a malformed one', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'identities');
    const base = broker.endpoint(slug);
    expect(await upgradeStatus(`${base}/`)).toBe(400);
    expect(await upgradeStatus(base)).toBe(400);
    expect(await upgradeStatus(`${base}/${'A'.repeat(49)}`)).toBe(400);
    expect(await upgradeStatus(`${base}/CP%3A1`)).toBe(400);
    expect(await upgradeStatus(`${base}/CP%E0%A4%A`)).toBe(400);
    expect(await upgradeStatus(`${base}/a/b`)).toBe(400);
    expect(await upgradeStatus(`${base}/${'A'.repeat(48)}`)).toBe(101);
    expect(cpms.connections.map((c) => c.url)).toEqual([`/${'A'.repeat(48)}`]);
    await cpms.close();
  });

  it('logs one line per refused connection with tenant, identity, remote address and reason', async () => {
    const before = broker.logs.length;
    expect(await upgradeStatus(`${broker.endpoint('nobody')}/CP-LOG`)).toBe(404);
    const lines = broker.logs.slice(before).filter((l) => l.event === 'connection.refused');
    expect(lines).toEqual([
      expect.objectContaining({ remoteAddress: '127.0.0.1', status: 404, reason: expect.stringContaining('No such tenant') }),
    ]);
  });
});

describe('a CPMS that cannot take the station', () => {
  it('answers 502 while the CPMS is down, and the retry succeeds once it is up', async () => {
    const port = await freePort();
    const { slug } = await tenantFor(`ws://127.0.0.1:${port}/ocpp`, 'cpms-down');
    const cp = station(broker.endpoint(slug), 'CP-RETRY', ['ocpp1.6']);
    await expect(cp.connect()).rejects.toMatchObject({ code: 502 });

    const cpms = await startCpms({ port });
    const retry = station(broker.endpoint(slug), 'CP-RETRY', ['ocpp1.6']);
    await retry.connect();
    await expect(retry.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    await retry.close();
    await cpms.close();
  });

  it('passes on the status of a CPMS that refuses the station, with its challenge', async () => {
    const rpc = new RPCServer({ protocols: ['ocpp1.6'] });
    rpc.auth((_accept, reject) => reject(401, 'Unauthorized'));
    const http = await rpc.listen(0, '127.0.0.1');
    const { slug } = await tenantFor(`ws://127.0.0.1:${(http.address() as net.AddressInfo).port}`, 'cpms-refuses');
    await expect(station(broker.endpoint(slug), 'CP-401', ['ocpp1.6']).connect()).rejects.toMatchObject({ code: 401 });
    await rpc.close({ force: true });
  });

  it('answers 504 when the CPMS does not answer the upgrade within upstreamConnectTimeoutMs', async () => {
    const silent = net.createServer(() => {}).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { slug } = await tenantFor(`ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, 'cpms-silent');
    expect(await upgradeStatus(`${broker.endpoint(slug)}/CP-504`)).toBe(504);
    silent.close();
  });
});

describe('what a refused station learns', () => {
  it("gets the status and a generic reason, while the log keeps the CPMS's address and error", async () => {
    const port = await freePort();
    const { slug } = await tenantFor(`ws://127.0.0.1:${port}/ocpp`, 'cpms-hidden');
    const before = broker.logs.length;
    expect(await refusalOf(`${broker.endpoint(slug)}/CP-GENERIC`)).toEqual({ status: 502, body: 'The CPMS could not be reached\n' });
    const [line] = broker.logs.slice(before).filter((l) => l.event === 'connection.refused');
    expect(line).toMatchObject({ status: 502, reason: expect.stringContaining(`ECONNREFUSED 127.0.0.1:${port}`) });
  });

  it('closes the connection after the refusal, even when the station keeps its end open', async () => {
    const socket = net.connect({ port: broker.server.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(socket, 'connect');
    socket.write(`GET /ocpp/nobody/CP HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    let answer = '';
    socket.on('data', (data: Buffer) => (answer += data.toString()));
    socket.on('error', () => {});
    await once(socket, 'end'); // the broker's FIN; our end stays open
    // A broker that has let go of the connection answers anything more with a reset; one still holding it (a
    // descriptor per refused station) would take it in silently.
    const writing = setInterval(() => socket.write('more'), 50);
    await new Promise((resolve) => socket.once('close', resolve));
    clearInterval(writing);
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n[^]*\r\n\r\nNo such tenant, or it is disabled\n$/);
  });
});

describe('a CPMS URL that leads back to the broker', () => {
  const own = () => [
    `ws://127.0.0.1:${broker.server.port}/ocpp/other`,
    `ws://localhost:${broker.server.port}`,
    `wss://127.0.0.2:${broker.server.tlsPort}/ocpp`,
    `ws://[::1]:${broker.server.port}/ocpp`,
    `ws://${os.hostname()}:${broker.server.port}/ocpp`,
    `ws://0x7f.1:${broker.server.port}/ocpp`,
  ];

  it('is refused when a tenant is created or updated, as a field error', async () => {
    for (const cpmsUrl of own()) {
      await expect(tenantFor(cpmsUrl, 'self')).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST', fieldErrors: { cpmsUrl: ['This URL leads back to the broker itself: give the URL of the CPMS'] } },
      });
    }
    const tenant = await tenantFor(`ws://127.0.0.1:${await freePort()}/ocpp`, 'self-later');
    await expect(broker.api.tenants.update.mutate({ id: tenant.id, cpmsUrl: own()[0] })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
  });

  it('is refused at once with 508 when a station makes the broker connect to itself, without looping', async () => {
    const tenant = await tenantFor(`ws://127.0.0.1:${await freePort()}/ocpp`, 'loop');
    // Written past the API's check, as a name resolving to this machine would get past it.
    const store = openDatabase(path.join(broker.dataDir, 'broker.db'));
    store.db.update(tenants).set({ cpmsUrl: `ws://127.0.0.1:${broker.server.port}/ocpp/loop` }).where(eq(tenants.id, tenant.id)).run();
    store.close();
    const before = broker.logs.length;
    expect(await refusalOf(`${broker.endpoint('loop')}/CP-LOOP`)).toEqual({ status: 508, body: 'The CPMS refused the connection\n' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = broker.logs.slice(before).filter((l) => l.event === 'connection.refused');
    expect(refused.map((l) => l.status)).toEqual([508, 508]);
    expect(refused[0]).toMatchObject({ reason: expect.stringContaining('The CPMS URL leads back to this broker') });
  });

  it('is refused with 508 too when the way back passes a TCP relay, which hides the port the broker connected from', async () => {
    const relay = net.createServer((inbound) => {
      const outbound = net.connect(broker.server.port, '127.0.0.1');
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const tenant = await tenantFor(`ws://127.0.0.1:${await freePort()}/ocpp`, 'loop-relayed');
      const store = openDatabase(path.join(broker.dataDir, 'broker.db'));
      const relayPort = (relay.address() as net.AddressInfo).port;
      store.db.update(tenants).set({ cpmsUrl: `ws://127.0.0.1:${relayPort}/ocpp/loop-relayed` }).where(eq(tenants.id, tenant.id)).run();
      store.close();
      const before = broker.logs.length;
      expect(await refusalOf(`${broker.endpoint('loop-relayed')}/CP-LOOP`)).toEqual({ status: 508, body: 'The CPMS refused the connection\n' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const refused = broker.logs.slice(before).filter((l) => l.event === 'connection.refused');
      expect(refused.map((l) => l.status)).toEqual([508, 508]);
      expect(refused[0]).toMatchObject({ reason: expect.stringContaining('The CPMS URL leads back to this broker') });
    } finally {
      relay.close();
    }
  });
});

describe('closing one link closes the other', () => {
  it('closes the station with the CPMS close code and reason', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'cpms-closes');
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${broker.endpoint(slug)}/CP-A`);
    (await accepted).ws.close(4001, 'bye from CPMS');
    expect(await cp.closed).toEqual({ code: 4001, reason: 'bye from CPMS' });
    await eventually(() => broker.server.broker.count() === 0);
    await cpms.close();
  });

  it('closes the station with 1011 when the CPMS link drops without a close frame', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'cpms-drops');
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${broker.endpoint(slug)}/CP-B`);
    (await accepted).ws.terminate();
    expect((await cp.closed).code).toBe(1011);
    await cpms.close();
  });

  it('closes the CPMS link with the station close code, and with 1001 when the station drops', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'station-closes');
    let accepted = cpms.nextConnection();
    const first = await rawStation(`${broker.endpoint(slug)}/CP-C`);
    const firstCpms = await accepted;
    first.ws.close(1000, 'done');
    expect(await firstCpms.recorder.closed).toEqual({ code: 1000, reason: 'done' });

    accepted = cpms.nextConnection();
    const second = await rawStation(`${broker.endpoint(slug)}/CP-C`);
    const secondCpms = await accepted;
    second.ws.terminate();
    expect((await secondCpms.recorder.closed).code).toBe(1001);
    await eventually(() => broker.server.broker.count() === 0);
    await cpms.close();
  });

  it('closes both links with 1003 when a binary frame arrives', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'binary');
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${broker.endpoint(slug)}/CP-BIN`);
    const upstream = await accepted;
    cp.ws.send(Buffer.from([2, 0, 1]), { binary: true });
    expect((await cp.closed).code).toBe(1003);
    expect((await upstream.recorder.closed).code).toBe(1003);
    expect(upstream.recorder.frames).toHaveLength(0);
    await cpms.close();
  });

  it('logs the opening and the closing of each connection once', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'logged');
    const before = broker.logs.length;
    const cp = await rawStation(`${broker.endpoint(slug)}/CP-LOGGED`);
    cp.ws.close(1000, 'bye');
    await cp.closed;
    await eventually(() => broker.logs.slice(before).some((l) => l.event === 'connection.closed'));
    const lines = broker.logs.slice(before).filter((l) => String(l.event).startsWith('connection.'));
    const who = { tenant: 'logged', identity: 'CP-LOGGED', remoteAddress: '127.0.0.1' };
    expect(lines).toEqual([
      expect.objectContaining({ event: 'connection.opened', ...who, subprotocol: 'ocpp1.6' }),
      expect.objectContaining({ event: 'connection.closed', ...who, closedBy: 'station', code: 1000, reason: 'bye' }),
    ]);
    await cpms.close();
  });
});

describe('a second connection with the same identity', () => {
  it('replaces the first once the new pair is established, closing the old pair with 1000', async () => {
    const cpms = await startCpms();
    const { slug, id } = await tenantFor(cpms.url, 'duplicates');
    const first = station(broker.endpoint(slug), 'CP-DUP', ['ocpp1.6']);
    const firstUpstream = cpms.nextClient();
    await first.connect();
    const firstClosedAtCpms = new Promise((resolve) => void firstUpstream.then((c) => c.once('close', resolve)));
    const firstClosed = new Promise((resolve) => first.once('close', resolve));

    const second = station(broker.endpoint(slug), 'CP-DUP', ['ocpp1.6']);
    await second.connect();

    expect(await firstClosed).toEqual({ code: 1000, reason: 'Replaced by a new connection with the same identity' });
    expect(await firstClosedAtCpms).toMatchObject({ code: 1000 });
    await expect(second.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    expect(await broker.api.stations.list.query({ tenantId: id })).toHaveLength(1);
    await second.close();
    await cpms.close();
  });
});

describe('byte-exact forwarding', () => {
  it('forwards every text frame untouched and in order in both directions, valid OCPP or not', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'bytes');
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${broker.endpoint(slug)}/CP-BYTES`);
    const upstream = await accepted;

    const fromStation = [
      '[2,"ü-1","DataTransfer",{"vendorId":"Ünïcødé ⚡ 😀","data":"\\u00e9\\n"}]',
      ' [ 2 ,\t"2" ,\n "Heartbeat" , { } ] ',
      '[2,"3","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"123456789012345678901234567890.000000000000000001"}]}]}]',
      'not json at all',
      '[9,"x"]',
      '',
      '[3,"crossing",{"a":1e400}]',
    ];
    for (const frame of fromStation) cp.ws.send(frame);
    const received = await upstream.recorder.received(fromStation.length);
    expect(received.map((b) => b.toString('utf8'))).toEqual(fromStation);
    expect(Buffer.concat(received)).toEqual(Buffer.concat(fromStation.map((f) => Buffer.from(f))));

    const fromCpms = ['[3,"ü-1",{"status":"Accepted","data":"\\"quoted\\""}]', '[4,"2","NotImplemented","",{}]', '[2,"c1","Reset",{"type":"Soft"}]  '];
    for (const frame of fromCpms) upstream.ws.send(frame);
    expect((await cp.received(fromCpms.length)).map((b) => b.toString('utf8'))).toEqual(fromCpms);

    cp.ws.close();
    await cpms.close();
  });

  it('answers the pings of a station', async () => {
    const cpms = await startRawCpms();
    const { slug } = await tenantFor(cpms.url, 'pings');
    const cp = await rawStation(`${broker.endpoint(slug)}/CP-PING`);
    const pong = once(cp.ws, 'pong');
    cp.ws.ping(Buffer.from('are you there'));
    expect((await pong)[0]).toEqual(Buffer.from('are you there'));
    cp.ws.close();
    await cpms.close();
  });
});

describe('keepalive', () => {
  let fast: TestBroker;
  beforeAll(async () => {
    fast = await startTestBroker({ pingIntervalMs: 40, maxPayloadBytes: 4096 });
  });
  afterAll(async () => {
    await fast?.close();
  });

  it('keeps a link whose peer answers pings open', async () => {
    const cpms = await startCpms();
    const { slug } = await fast.api.tenants.create.mutate({ name: 'ok', slug: 'alive', cpmsUrl: cpms.url, allowUnknownStations: true });
    const cp = station(fast.endpoint(slug), 'CP-ALIVE', ['ocpp1.6']);
    await cp.connect();
    await new Promise((resolve) => setTimeout(resolve, 400));
    await expect(cp.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    await cp.close();
    await cpms.close();
  });

  it('drops a station that misses 3 pongs and closes its CPMS link with 1001', async () => {
    const cpms = await startRawCpms();
    const { slug } = await fast.api.tenants.create.mutate({ name: 'mute', slug: 'mute-station', cpmsUrl: cpms.url, allowUnknownStations: true });
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${fast.endpoint(slug)}/CP-MUTE`, { autoPong: false });
    const upstream = await accepted;
    expect((await cp.closed).code).toBe(1006);
    expect((await upstream.recorder.closed).code).toBe(1001);
    await eventually(() => fast.server.broker.count() === 0);
    await cpms.close();
  });

  it('drops the station that misses 3 pongs and keeps the healthy one beside it, on the one keepalive timer', async () => {
    const cpms = await startRawCpms();
    const { slug } = await fast.api.tenants.create.mutate({ name: 'mixed', slug: 'mixed', cpmsUrl: cpms.url, allowUnknownStations: true });
    const healthy = await rawStation(`${fast.endpoint(slug)}/CP-HEALTHY`);
    const mute = await rawStation(`${fast.endpoint(slug)}/CP-SILENT`, { autoPong: false });
    expect((await mute.closed).code).toBe(1006);
    await new Promise((resolve) => setTimeout(resolve, 200)); // 5 more ping intervals
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
    expect((await fast.api.stations.list.query({})).map((s) => s.identity)).toContain('CP-HEALTHY');
    healthy.ws.close();
    await cpms.close();
  });

  it('closes both links with 1009 when a message exceeds maxPayloadBytes', async () => {
    const cpms = await startRawCpms();
    const { slug } = await fast.api.tenants.create.mutate({ name: 'big', slug: 'big-frames', cpmsUrl: cpms.url, allowUnknownStations: true });
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${fast.endpoint(slug)}/CP-BIG`);
    const upstream = await accepted;
    cp.ws.send(`[2,"1","DataTransfer",{"vendorId":"v","data":"${'x'.repeat(5000)}"}]`);
    expect((await cp.closed).code).toBe(1009);
    expect((await upstream.recorder.closed).code).toBe(1009);
    expect(upstream.recorder.frames).toHaveLength(0);
    await cpms.close();
  });

  it('closes both links with 1007 when a text frame is not valid UTF-8', async () => {
    const cpms = await startRawCpms();
    const { slug } = await fast.api.tenants.create.mutate({ name: 'utf8', slug: 'bad-utf8', cpmsUrl: cpms.url, allowUnknownStations: true });
    const accepted = cpms.nextConnection();
    const cp = await rawStation(`${fast.endpoint(slug)}/CP-UTF8`);
    const upstream = await accepted;
    upstream.ws.send(Buffer.from([0x5b, 0x33, 0x2c, 0x22, 0xff, 0xfe, 0x22, 0x5d]), { binary: false });
    expect((await upstream.recorder.closed).code).toBe(1007);
    expect((await cp.closed).code).toBe(1007);
    expect(cp.frames).toHaveLength(0);
    await cpms.close();
  });

  it('drops a CPMS link that misses 3 pongs and closes the station with 1011', async () => {
    const cpms = await startRawCpms({ autoPong: false });
    const { slug } = await fast.api.tenants.create.mutate({ name: 'mute', slug: 'mute-cpms', cpmsUrl: cpms.url, allowUnknownStations: true });
    const cp = await rawStation(`${fast.endpoint(slug)}/CP-DEAF`);
    expect((await cp.closed).code).toBe(1011);
    await eventually(() => fast.server.broker.count() === 0);
    await cpms.close();
  });
});
