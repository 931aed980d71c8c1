import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startTestBroker, type TestBroker } from './support/broker.ts';

/** A CPMS that holds every WebSocket handshake until the test lets it through. */
async function startHoldingCpms() {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => [...offered][0] ?? false });
  const server = http.createServer();
  const held: { identity: string; accept(): void }[] = [];
  const accepted: WebSocket[] = [];
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    held.push({
      identity: decodeURIComponent((req.url ?? '').slice(1)),
      accept: () => wss.handleUpgrade(req, socket, head, (ws) => accepted.push(ws)),
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    acceptAll() {
      for (const handshake of held.splice(0)) handshake.accept();
    },
    async close() {
      for (const ws of accepted) ws.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A station's upgrade: resolves with 101 and the open socket, or the refusal's status and headers. */
function connect(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; ws: WebSocket }> {
  const ws = new WebSocket(url, ['ocpp1.6']);
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ status: 101, headers: {}, ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, ws });
    });
  });
}

async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ cpmsHandshakeConcurrency: 2, cpmsHandshakeQueue: 3, upstreamConnectTimeoutMs: 20_000 });
});

afterAll(async () => {
  await broker?.close();
});

describe('at most cpmsHandshakeConcurrency CPMS handshakes at once', () => {
  it('holds stations beyond the limit in line, refuses the one beyond the line with 503 and Retry-After at once, and connects the line when the CPMS answers', async () => {
    const cpms = await startHoldingCpms();
    const { slug } = await broker.api.tenants.create.mutate({ name: 'storm', slug: 'storm', cpmsUrl: cpms.url, allowUnknownStations: true });
    const stations = [1, 2, 3, 4, 5].map((n) => connect(`${broker.endpoint(slug)}/CP${n}`));
    await eventually(() => cpms.held.length === 2 && broker.server.broker.handshakes().queued === 3);

    const extra = await connect(`${broker.endpoint(slug)}/CP6`);
    expect(extra.status).toBe(503);
    expect(Number(extra.headers['retry-after'])).toBeGreaterThanOrEqual(5);
    expect(Number(extra.headers['retry-after'])).toBeLessThanOrEqual(15);
    expect(cpms.held).toHaveLength(2);
    expect(broker.logs).toContainEqual(expect.objectContaining({ event: 'connection.refused', identity: 'CP6', status: 503 }));

    const identities = new Set<string>();
    while (identities.size < 5) {
      await eventually(() => cpms.held.length > 0);
      expect(cpms.held.length).toBeLessThanOrEqual(2);
      for (const handshake of cpms.held) identities.add(handshake.identity);
      cpms.acceptAll();
    }
    const results = await Promise.all(stations);
    expect(results.map((r) => r.status)).toEqual([101, 101, 101, 101, 101]);
    expect([...identities].sort()).toEqual(['CP1', 'CP2', 'CP3', 'CP4', 'CP5']);
    expect(broker.server.broker.handshakes()).toEqual({ inFlight: 0, queued: 0 });
    for (const { ws } of results) ws.close();
    await cpms.close();
  });

  it('takes a station that hangs up while it waits out of the line, and never contacts the CPMS for it', async () => {
    const cpms = await startHoldingCpms();
    const { slug } = await broker.api.tenants.create.mutate({ name: 'quitter', slug: 'quitter', cpmsUrl: cpms.url, allowUnknownStations: true });
    const first = [1, 2].map((n) => connect(`${broker.endpoint(slug)}/CP${n}`));
    await eventually(() => cpms.held.length === 2);
    const waiting = [3, 4, 5].map((n) => new WebSocket(`${broker.endpoint(slug)}/CP${n}`, ['ocpp1.6']));
    for (const ws of waiting) ws.on('error', () => {});
    await eventually(() => broker.server.broker.handshakes().queued === 3);

    waiting[1]!.terminate(); // CP4 gives up
    await eventually(() => broker.server.broker.handshakes().queued === 2);
    const late = connect(`${broker.endpoint(slug)}/CP6`); // takes the place CP4 left, instead of a 503
    await eventually(() => broker.server.broker.handshakes().queued === 3);

    const identities: string[] = [];
    while (identities.length < 5) {
      await eventually(() => cpms.held.length > 0);
      identities.push(...cpms.held.map((h) => h.identity));
      cpms.acceptAll();
    }
    expect(identities.sort()).toEqual(['CP1', 'CP2', 'CP3', 'CP5', 'CP6']);
    expect((await late).status).toBe(101);
    for (const { ws } of await Promise.all(first)) ws.close();
    for (const ws of waiting) ws.terminate();
    (await late).ws.close();
    await cpms.close();
  });
});
