import { on } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/index.ts';
import { stations } from '../db/schema.ts';
import { updateStation } from '../db/stations.ts';
import { hashPassword } from '../server/auth/password.ts';
import { runCli } from '../server/cli.ts';
import { paths } from '../server/paths.ts';
import { apiClient, signIn, startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';
import { startCpms, type TestCpms } from './support/ocpp.ts';

/** What a station's upgrade request got: the status (101 when accepted) and the response headers. */
interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/** A WebSocket upgrade with Basic auth, sent from `localAddress` (any of 127.0.0.0/8 on Linux). */
function upgrade(url: string, identity: string, password: string | undefined, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}/${encodeURIComponent(identity)}`, {
      localAddress,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-protocol': 'ocpp1.6',
        ...(password === undefined ? {} : { authorization: `Basic ${Buffer.from(`${identity}:${password}`).toString('base64')}` }),
      },
    });
    request.once('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ status: 101, headers: response.headers });
    });
    request.once('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode!, headers: response.headers });
    });
    request.once('error', reject);
  });
}

/**
 * `count` parallel wrong-password upgrades for `identities`, sent from a worker thread (its own event loop, as an
 * attacker's machine would be), from 127.0.0.1.
 */
function floodFromAnotherThread(url: string, identities: string[], count: number) {
  const worker = new Worker(
    `const http = require('node:http');
    const { parentPort, workerData: { url, identities, count } } = require('node:worker_threads');
    const upgrade = (identity, password) => new Promise((resolve) => {
      const request = http.get(url + '/' + identity, { agent: false, headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'ocpp1.6',
        authorization: 'Basic ' + Buffer.from(identity + ':' + password).toString('base64') } });
      request.once('upgrade', (response, socket) => { socket.destroy(); resolve({ status: 101, retryAfter: null }); });
      request.once('response', (response) => { response.resume(); resolve({ status: response.statusCode, retryAfter: response.headers['retry-after'] ?? null }); });
      request.once('error', (error) => resolve({ status: String(error.code), retryAfter: null }));
    });
    const answers = Array.from({ length: count }, (_, i) => upgrade(identities[i % identities.length], 'wrong password ' + i + '!'));
    parentPort.postMessage('started');
    Promise.all(answers).then((all) => parentPort.postMessage(all));`,
    { eval: true, workerData: { url, identities, count } },
  );
  const messages = on(worker, 'message');
  const next = async () => ((await messages.next()).value as unknown[])[0];
  const started = next();
  const answers = started.then(next).finally(() => worker.terminate()) as Promise<{ status: number | string; retryAfter: string | null }[]>;
  return { started, answers };
}

/** One HTTP request, a tRPC batch of `auth.login` calls, from `localAddress`. */
function loginBatch(url: string, logins: { username: string; password: string }[], localAddress = '127.0.0.1') {
  const body = JSON.stringify(Object.fromEntries(logins.map((login, i) => [i, login])));
  const target = new URL(`${url}/trpc/${logins.map(() => 'auth.login').join(',')}?batch=1`);
  return new Promise<{ status: number; setCookie: string[]; results: unknown }>((resolve, reject) => {
    const request = http.request(target, { method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, setCookie: response.headers['set-cookie'] ?? [], results: JSON.parse(text) }));
    });
    request.once('error', reject);
    request.end(body);
  });
}

const login = (url: string, username: string, password: string, localAddress?: string) =>
  loginBatch(url, [{ username, password }], localAddress).then(({ results, setCookie }) => ({
    code: (results as { error?: { data: { code: string } } }[])[0]!.error?.data.code ?? 'OK',
    setCookie,
  }));

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work;
  return { value, ms: performance.now() - start };
}

describe('sign-ins under attack', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ logLevel: 'silent' });
  });
  afterAll(() => broker?.close());

  it('refuses a tRPC batch larger than 10 calls as a whole, and counts each sign-in of a smaller one', { timeout: 60_000 }, async () => {
    await broker.api.users.create.mutate({ username: 'vera', password: 'vera password 1234', role: 'viewer' });
    const guesses = (count: number) => [
      ...Array.from({ length: count - 1 }, (_, i) => ({ username: 'vera', password: `guess number ${i}` })),
      { username: 'vera', password: 'vera password 1234' },
    ];
    const large = await loginBatch(broker.server.url, guesses(30), '127.0.0.3');
    expect(large.status).toBe(400);
    expect(large.setCookie).toEqual([]);

    const batch = await loginBatch(broker.server.url, guesses(10), '127.0.0.3');
    const codes = (batch.results as { error?: { data: { code: string } } }[]).map((r) => r.error?.data.code ?? 'OK');
    expect(batch.setCookie).toEqual([]);
    expect(codes).not.toContain('OK');
    expect(codes.filter((c) => c === 'UNAUTHORIZED').length).toBeLessThanOrEqual(5);
    expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS').length).toBeGreaterThanOrEqual(5);
    expect(codes.at(-1)).toBe('TOO_MANY_REQUESTS');
  });

  it('lets the admin sign in from another address while one address is locked out, and reset-password lifts the lock', { timeout: 60_000 }, async () => {
    const { token } = await broker.api.tokens.create.mutate({ name: 'script' });
    for (let i = 0; i < 5; i++) expect((await login(broker.server.url, 'admin', `wrong password ${i}`, '127.0.0.4')).code).toBe('UNAUTHORIZED');
    expect((await login(broker.server.url, 'admin', TEST_ADMIN.adminPassword, '127.0.0.4')).code).toBe('TOO_MANY_REQUESTS');
    const elsewhere = await login(broker.server.url, 'admin', TEST_ADMIN.adminPassword, '127.0.0.5');
    expect(elsewhere.code).toBe('OK');
    expect(elsewhere.setCookie).toHaveLength(1);

    // The command line runs beside the broker, on the same data directory.
    const newPassword = 'a reset password for the admin';
    const code = await runCli(['admin', 'reset-password', 'admin', '--data-dir', broker.dataDir], { BROKER_ADMIN_PASSWORD: newPassword });
    expect(code).toBe(0);
    expect((await login(broker.server.url, 'admin', newPassword, '127.0.0.4')).code).toBe('OK');
    const script = await fetch(`${broker.server.url}/trpc/tenants.list`, { headers: { authorization: `Bearer ${token}` } });
    expect(script.status).toBe(401);
    broker.api = apiClient(broker.server.url, { cookie: await signIn(broker.server.url, 'admin', newPassword) });
  });
});

describe('the ceiling of failed station authentications per address', () => {
  it('is STATION_AUTH_FAILURES_PER_ADDRESS: beyond it every station from that address waits, stations elsewhere do not', { timeout: 60_000 }, async () => {
    const broker = await startTestBroker({ logLevel: 'silent', stationAuthFailuresPerAddress: 3 });
    const cpms = await startCpms();
    try {
      const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, stationProfile: 1 });
      for (const identity of ['CP-1', 'CP-2', 'CP-3', 'CP-4']) {
        const station = await broker.api.registry.create.mutate({ tenantId: tenant.id, identity });
        await broker.api.registry.setPassword.mutate({ id: station.id, password: { value: `${identity} station password`, encoding: 'text' } });
      }
      const ws = `http://127.0.0.1:${broker.server.port}/ocpp/acme`;
      const gateway = '127.0.0.10';
      for (const identity of ['CP-1', 'CP-2', 'CP-3']) expect((await upgrade(ws, identity, 'a wrong password', gateway)).status).toBe(401);
      const throttled = await upgrade(ws, 'CP-4', 'CP-4 station password', gateway);
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
      expect((await upgrade(ws, 'CP-4', 'CP-4 station password', '127.0.0.11')).status).toBe(101);
    } finally {
      await broker.close();
      await cpms.close();
    }
  });
});

describe('station authentication under attack', () => {
  let broker: TestBroker;
  let cpms: TestCpms;
  let ws: string;
  let tenantId: number;

  beforeAll(async () => {
    broker = await startTestBroker({ logLevel: 'silent' });
    cpms = await startCpms();
    // `localhost`: connecting on to the CPMS takes a DNS lookup, on the thread pool that scrypt uses too.
    const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: `ws://localhost:${cpms.port}/ocpp`, stationProfile: 1 });
    tenantId = tenant.id;
    ws = `http://127.0.0.1:${broker.server.port}/ocpp/acme`;
  });
  afterAll(async () => {
    await broker?.close();
    await cpms?.close();
  });

  async function stationAuthFailures(): Promise<number> {
    const text = await (await fetch(`${broker.server.url}/metrics`)).text();
    return Number(/^ocpp_broker_authentication_failures_total\{kind="station",tenant="acme"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  }

  async function register(identity: string, password: string) {
    const station = await broker.api.registry.create.mutate({ tenantId, identity });
    await broker.api.registry.setPassword.mutate({ id: station.id, password: { value: password, encoding: 'text' } });
    return station;
  }

  /** Stations registered before station passwords were HMAC: their hashes are scrypt. */
  async function registerLegacy(identities: string[], password: string) {
    const legacy = await hashPassword(Buffer.from(password), 'stations');
    const store = openDatabase(path.join(broker.dataDir, 'broker.db'), paths.migrations);
    try {
      for (const identity of identities) {
        const station = await broker.api.registry.create.mutate({ tenantId, identity });
        updateStation(store.db, station.id, { passwordHash: legacy });
      }
    } finally {
      store.close();
    }
  }

  it('keeps a good station, the UI and CPMS lookups going through 300 parallel wrong passwords from one address', { timeout: 60_000 }, async () => {
    await register('CP-GOOD', 'the good station password');
    const targets = Array.from({ length: 30 }, (_, i) => `CP-OLD-${i}`);
    await registerLegacy(targets, 'an old station password');

    const flood = floodFromAnotherThread(ws, targets, 300);
    await flood.started;
    const good = timed(upgrade(ws, 'CP-GOOD', 'the good station password', '127.0.0.2'));
    const ui = timed(fetch(`${broker.server.url}/`).then(async (r) => (await r.arrayBuffer(), r.status)));
    const answers = await flood.answers;

    expect((await good).value.status).toBe(101);
    expect((await good).ms).toBeLessThan(2_000);
    expect((await ui).value).toBe(200);
    expect((await ui).ms).toBeLessThan(1_000);
    const refused = answers.filter((a) => a.status === 429 || a.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    expect(new Set(answers.map((a) => a.status)).difference(new Set([401, 429, 503])).size).toBe(0);
  });

  it('still accepts a station whose password hash is scrypt from before, and keeps it as HMAC from then on', { timeout: 60_000 }, async () => {
    await registerLegacy(['CP-LEGACY'], 'a legacy station password');
    let answer: Answer;
    do answer = await upgrade(ws, 'CP-LEGACY', 'a legacy station password', '127.0.0.6');
    while (answer.status === 503); // the flood before may still fill the queue
    expect(answer.status).toBe(101);
    const store = openDatabase(path.join(broker.dataDir, 'broker.db'));
    try {
      const row = store.db.select({ hash: stations.passwordHash }).from(stations).where(eq(stations.identity, 'CP-LEGACY')).get();
      expect(row?.hash).toMatch(/^hmac-sha256\$/);
    } finally {
      store.close();
    }
    expect((await upgrade(ws, 'CP-LEGACY', 'a legacy station password', '127.0.0.6')).status).toBe(101);
    expect((await upgrade(ws, 'CP-LEGACY', 'not the legacy password', '127.0.0.6')).status).toBe(401);
  });

  it('does not refuse a registered station with the right password behind the router of 10 unregistered ones that keep retrying', { timeout: 60_000 }, async () => {
    await register('CP-SITE', 'the site station password');
    const address = '127.0.0.7';
    const unregistered = Array.from({ length: 10 }, (_, i) => `CP-NEW-${i}`);
    const failuresBefore = await stationAuthFailures();
    for (let round = 0; round < 25; round++) {
      const answers = await Promise.all(unregistered.map((identity) => upgrade(ws, identity, 'whatever password', address)));
      for (const answer of answers) expect(answer.status).toBe(round < 10 ? 404 : 429);
    }
    expect((await upgrade(ws, 'CP-SITE', 'the site station password', address)).status).toBe(101);
    // The 404s are failed authentications; the 429s are not.
    expect((await stationAuthFailures()) - failuresBefore).toBe(100);
  });

  it('throttles one identity from one address after 10 failures, not the others there', { timeout: 60_000 }, async () => {
    await register('CP-TARGET', 'the target station password');
    await register('CP-NEIGHBOUR', 'the neighbour password');
    const address = '127.0.0.8';
    for (let i = 0; i < 10; i++) expect((await upgrade(ws, 'CP-TARGET', `wrong password ${i}!`, address)).status).toBe(401);
    const throttled = await upgrade(ws, 'CP-TARGET', 'the target station password', address);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(890);
    expect((await upgrade(ws, 'CP-NEIGHBOUR', 'the neighbour password', address)).status).toBe(101);
    expect((await upgrade(ws, 'CP-TARGET', 'the target station password', '127.0.0.9')).status).toBe(101);
  });
});
