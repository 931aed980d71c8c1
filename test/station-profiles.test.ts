import 'reflect-metadata';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { attempt, startCpms, station, type TestCpms } from './support/ocpp.ts';
import { createCa, opensslCa, type Ca, type Issued } from './support/pki.ts';


interface World {
  broker: TestBroker;
  cpms: TestCpms;
  serverCa: Ca;
  /** ws://127.0.0.1:<port>/ocpp/<slug> and wss://localhost:<tlsPort>/ocpp/<slug> */
  ws: string;
  wss: string;
  tenantId: number;
  /** TLS options for stations: trust the broker's certificate (and present a client certificate). */
  tls(client?: Issued): Record<string, unknown>;
}

/** A broker with a CA-issued server certificate, a CPMS, and one tenant with these security settings. */
async function world(settings: Record<string, unknown>): Promise<World> {
  const broker = await startTestBroker();
  const cpms = await startCpms();
  const serverCa = await createCa({ subject: 'CN=Broker Test CA' });
  const server = await serverCa.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'], ip: ['127.0.0.1'] });
  await broker.api.certificates.uploadServer.mutate({ certificatePem: server.chainPem, keyPem: server.keyPem });
  const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, ...settings });
  return {
    broker,
    cpms,
    serverCa,
    ws: `ws://127.0.0.1:${broker.server.port}/ocpp/acme`,
    wss: `wss://localhost:${broker.server.tlsPort}/ocpp/acme`,
    tenantId: tenant.id,
    tls: (client) => ({ ca: serverCa.certPem, ...(client ? { cert: client.chainPem, key: client.keyPem } : {}) }),
  };
}

async function register(w: World, identity: string, password?: { value: string; encoding?: 'text' | 'hex' }) {
  const registered = await w.broker.api.registry.create.mutate({ tenantId: w.tenantId, identity });
  if (password) await w.broker.api.registry.setPassword.mutate({ id: registered.id, password });
  return registered;
}

describe('security profile 1: Basic auth over ws://', () => {
  let w: World;
  beforeAll(async () => {
    w = await world({ stationProfile: 1 });
    await register(w, 'CP-1', { value: 'a station password' });
    await register(w, 'CP-16', { value: '00112233445566778899aabbccddeeff0011', encoding: 'hex' });
  });
  afterAll(async () => {
    await w?.broker.close();
    await w?.cpms.close();
  });

  it('accepts the right password and passes the station Authorization header to the CPMS', async () => {
    const upstream = w.cpms.nextClient();
    expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' }))).toBe(101);
    expect((await upstream).handshake.password?.toString()).toBe('a station password');
  });

  it('accepts a binary OCPP 1.6 AuthorizationKey, compared as bytes', async () => {
    const key = Buffer.from('00112233445566778899aabbccddeeff0011', 'hex');
    expect(await attempt(station(w.ws, 'CP-16', ['ocpp1.6'], { password: key }))).toBe(101);
    const almost = Buffer.from(key);
    almost[17] = 0x12;
    expect(await attempt(station(w.ws, 'CP-16', ['ocpp1.6'], { password: almost }))).toBe(401);
  });

  it('answers 401 with a Basic challenge to a wrong or missing password, and a username that is not the identity', async () => {
    expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6'], { password: 'not the password' }))).toBe(401);
    expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6']))).toBe(401);
    const other = station(w.ws, 'CP-1', ['ocpp1.6'], { headers: { authorization: `Basic ${Buffer.from('CP-16:a station password').toString('base64')}` } });
    expect(await attempt(other)).toBe(401);
    const request = http.get(`http://127.0.0.1:${w.broker.server.port}/ocpp/acme/CP-1`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    const [response] = (await once(request, 'response')) as [http.IncomingMessage];
    response.resume();
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic realm="OCPP", charset="UTF-8"');
  });

  it('answers 404 to an identity missing from the registry', async () => {
    expect(await attempt(station(w.ws, 'CP-UNKNOWN', ['ocpp1.6'], { password: 'a station password' }))).toBe(404);
  });

  it('does not let a connection with a wrong password replace an authenticated one', async () => {
    const first = station(w.ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' });
    await first.connect();
    expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6'], { password: 'hijack attempt!!' }))).toBe(401);
    await expect(first.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    await first.close();
  });

  it('logs and audits each failed authentication', async () => {
    const failures = await w.broker.api.audit.list.query({ action: 'station.auth_failed' });
    expect(failures.length).toBeGreaterThanOrEqual(5);
    expect(failures.at(-1)).toMatchObject({ actor: 'station:acme/CP-16', target: 'station:acme/CP-16', remoteAddress: '127.0.0.1' });
    expect(w.broker.logs.filter((l) => l.event === 'station.auth_failed').length).toBe(failures.length);
  });

  it('also accepts profile 1 over TLS, unless the tenant refuses it', async () => {
    expect(await attempt(station(w.wss, 'CP-1', ['ocpp1.6'], { password: 'a station password', wsOpts: w.tls() }))).toBe(101);
    await w.broker.api.tenants.update.mutate({ id: w.tenantId, profile1OverTls: false });
    expect(await attempt(station(w.wss, 'CP-1', ['ocpp1.6'], { password: 'a station password', wsOpts: w.tls() }))).toBe(403);
    expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' }))).toBe(101);
  });
});

describe('security profile 2: TLS and Basic auth', () => {
  let w: World;
  beforeAll(async () => {
    w = await world({ stationProfile: 2 });
    await register(w, 'CP-2', { value: 'a station password' });
  });
  afterAll(async () => {
    await w?.broker.close();
    await w?.cpms.close();
  });

  it('accepts the right password over wss:// with the broker certificate verified by the station', async () => {
    expect(await attempt(station(w.wss, 'CP-2', ['ocpp2.0.1'], { password: 'a station password', wsOpts: w.tls() }))).toBe(101);
  });

  it('refuses plain ws:// (403), even with the right password', async () => {
    expect(await attempt(station(w.ws, 'CP-2', ['ocpp2.0.1'], { password: 'a station password' }))).toBe(403);
  });

  it('answers 401 to a wrong password', async () => {
    expect(await attempt(station(w.wss, 'CP-2', ['ocpp2.0.1'], { password: 'wrong password!!', wsOpts: w.tls() }))).toBe(401);
  });

  it('refuses TLS 1.1', async () => {
    // Node's OpenSSL offers TLS 1.1 only at security level 0 (see test/pki.test.ts).
    const old = { ...w.tls(), maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' };
    const error = (await station(w.wss, 'CP-2', ['ocpp2.0.1'], { password: 'a station password', wsOpts: old })
      .connect()
      .catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe('EPROTO');
    expect(error.message).toMatch(/unsupported protocol|protocol version/i);
  });

  it('is reached through the self-signed certificate generated on first start, downloaded from the API', async () => {
    const fresh = await startTestBroker();
    try {
      const tenant = await fresh.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: w.cpms.url, stationProfile: 2 });
      const registered = await fresh.api.registry.create.mutate({ tenantId: tenant.id, identity: 'CP-SELF' });
      await fresh.api.registry.setPassword.mutate({ id: registered.id, password: { value: 'a station password' } });
      const ca = await fresh.api.certificates.serverPem.query();
      expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const url = `wss://localhost:${fresh.server.tlsPort}/ocpp/acme`;
      expect(await attempt(station(url, 'CP-SELF', ['ocpp2.0.1'], { password: 'a station password', wsOpts: { ca } }))).toBe(101);
      expect(String(await attempt(station(url, 'CP-SELF', ['ocpp2.0.1'], { password: 'a station password' })))).toMatch(/self.signed|SELF_SIGNED/i);
    } finally {
      await fresh.close();
    }
  });
});

describe('security profile 3: mutual TLS', () => {
  let w: World;
  let stationCa: Ca;
  beforeAll(async () => {
    w = await world({ stationProfile: 3, organization: 'Acme' });
    stationCa = await createCa({ subject: 'CN=Acme Station CA, O=Acme', keyType: 'ecdsa' });
    await w.broker.api.certificates.uploadCa.mutate({ tenantId: w.tenantId, kind: 'station-ca', certificatePem: stationCa.certPem });
    await register(w, 'CP-3');
    await register(w, 'CP-PINNED');
  });
  afterAll(async () => {
    await w?.broker.close();
    await w?.cpms.close();
  });

  const client = (subject: string, more: Partial<Parameters<Ca['issue']>[0]> = {}, ca: Ca = stationCa) =>
    ca.issue({ subject, usage: 'client', ...more });

  it('accepts a certificate from the station CA whose CN is the identity and O the organization (RSA and ECDSA)', async () => {
    for (const keyType of ['rsa', 'ecdsa'] as const) {
      const cert = await client('CN=CP-3, O=Acme', { keyType });
      expect(await attempt(station(w.wss, 'CP-3', ['ocpp2.0.1'], { wsOpts: w.tls(cert) }))).toBe(101);
    }
  });

  it('accepts a certificate issued through an intermediate the station sends', async () => {
    const intermediate = await stationCa.intermediate({ subject: 'CN=Acme Issuing CA, O=Acme' });
    const cert = await intermediate.issue({ subject: 'CN=CP-3, O=Acme', usage: 'client' });
    expect(await attempt(station(w.wss, 'CP-3', ['ocpp2.0.1'], { wsOpts: w.tls(cert) }))).toBe(101);
  });

  it('refuses (403) a wrong CN, a wrong O, an expired certificate, a foreign CA and no certificate', async () => {
    const foreign = await createCa({ subject: 'CN=Someone Else CA, O=Acme' });
    const cases = {
      'wrong CN': await client('CN=CP-OTHER, O=Acme'),
      'wrong O': await client('CN=CP-3, O=Evil'),
      expired: await client('CN=CP-3, O=Acme', { notAfter: new Date(Date.now() - 60_000) }),
      'foreign CA': await client('CN=CP-3, O=Acme', {}, foreign),
    };
    for (const [name, cert] of Object.entries(cases)) {
      expect([name, await attempt(station(w.wss, 'CP-3', ['ocpp2.0.1'], { wsOpts: w.tls(cert) }))]).toEqual([name, 403]);
    }
    expect(await attempt(station(w.wss, 'CP-3', ['ocpp2.0.1'], { wsOpts: w.tls() }))).toBe(403);
  });

  it('refuses plain ws:// (403)', async () => {
    expect(await attempt(station(w.ws, 'CP-3', ['ocpp2.0.1']))).toBe(403);
  });

  it('holds a station to the certificate registered for it, when one is', async () => {
    const pinned = await client('CN=CP-PINNED, O=Acme');
    const other = await client('CN=CP-PINNED, O=Acme');
    const [registered] = (await w.broker.api.registry.list.query({ tenantId: w.tenantId })).filter((s) => s.identity === 'CP-PINNED');
    await w.broker.api.registry.update.mutate({ id: registered!.id, certificateFingerprint: pinned.fingerprint256 });
    expect(await attempt(station(w.wss, 'CP-PINNED', ['ocpp2.0.1'], { wsOpts: w.tls(pinned) }))).toBe(101);
    expect(await attempt(station(w.wss, 'CP-PINNED', ['ocpp2.0.1'], { wsOpts: w.tls(other) }))).toBe(403);
  });
});

describe('failed station authentications', () => {
  it('are refused for 15 minutes (429) after 10 for one station from one address', async () => {
    const w = await world({ stationProfile: 1 });
    try {
      await register(w, 'CP-1', { value: 'a station password' });
      for (let i = 0; i < 10; i++) expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6'], { password: `wrong password ${i}!` }))).toBe(401);
      expect(await attempt(station(w.ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' }))).toBe(429);
    } finally {
      await w.broker.close();
      await w.cpms.close();
    }
  });
});

describe('certificates made with openssl, the way an operator makes them', () => {
  it('serve the TLS listener and authenticate a profile 3 station', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocpp-broker-openssl-'));
    const broker = await startTestBroker();
    const cpms = await startCpms();
    try {
      const { ca, server, client } = await opensslCa(dir);
      await broker.api.certificates.uploadServer.mutate({ certificatePem: server.certPem, keyPem: server.keyPem });
      const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, stationProfile: 3, organization: 'Acme' });
      await broker.api.certificates.uploadCa.mutate({ tenantId: tenant.id, kind: 'station-ca', certificatePem: ca.certPem });
      await broker.api.registry.create.mutate({ tenantId: tenant.id, identity: 'CP-OPENSSL' });
      const wss = `wss://localhost:${broker.server.tlsPort}/ocpp/acme`;
      const tls = { ca: ca.certPem, cert: client.certPem, key: client.keyPem };
      expect(await attempt(station(wss, 'CP-OPENSSL', ['ocpp1.6'], { wsOpts: tls }))).toBe(101);
      expect(await attempt(station(wss, 'CP-OTHER', ['ocpp1.6'], { wsOpts: tls }))).toBe(404);
    } finally {
      await broker.close();
      await cpms.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
