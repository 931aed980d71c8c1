import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { RPCServer } from 'ocpp-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { attempt, station } from './support/ocpp.ts';
import { createCa, signCsr, type Ca } from './support/pki.ts';
import { startTlsCpms, type TlsCpms } from './support/tls-cpms.ts';


let broker: TestBroker;
let cpmsCa: Ca;
let operatorCa: Ca;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  cpmsCa = await createCa({ subject: 'CN=Cloud CPMS Root' });
  operatorCa = await createCa({ subject: 'CN=Acme Operator CA, O=Acme', keyType: 'ecdsa' });
});

afterAll(async () => {
  for (const close of cleanup) await close();
  await broker?.close();
});

let slugs = 0;
/** A tenant toward `cpmsUrl` with these settings, and one registered station. */
async function tenant(cpmsUrl: string, settings: Record<string, unknown>, identity = 'CP-1') {
  const created = await broker.api.tenants.create.mutate({ name: 'T', slug: `t${++slugs}`, cpmsUrl, ...settings });
  const registered = await broker.api.registry.create.mutate({ tenantId: created.id, identity });
  return { id: created.id, stationId: registered.id, endpoint: broker.endpoint(created.slug) };
}

/** A CPMS over TLS with a server certificate from the cloud CPMS root for these names. */
async function tlsCpms(options: { dns?: string[]; clientCa?: Ca; password?: string } = {}): Promise<TlsCpms> {
  const server = await cpmsCa.issue({ subject: 'CN=cpms', usage: 'server', dns: options.dns ?? ['localhost'] });
  const cpms = await startTlsCpms({
    certPem: server.chainPem,
    keyPem: server.keyPem,
    clientCaPem: options.clientCa?.certPem,
    basicAuth: options.password ? (_identity, password) => password?.toString() === options.password : undefined,
  });
  cleanup.push(() => cpms.close());
  return cpms;
}

describe('CPMS profile 1: Basic auth over ws://', () => {
  it('sends the CPMS password stored for the station, and answers 502 when there is none', async () => {
    const rpc = new RPCServer({ protocols: ['ocpp1.6'] });
    const seen: string[] = [];
    rpc.auth((accept, reject, handshake) => {
      seen.push(`${handshake.identity}:${handshake.password?.toString('hex')}`);
      if (handshake.password?.equals(Buffer.from('cafebabecafebabecafebabecafebabe', 'hex'))) accept();
      else reject(401, 'Unauthorized');
    });
    const http = await rpc.listen(0, '127.0.0.1');
    cleanup.push(() => rpc.close({ force: true }));
    const t = await tenant(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, { cpmsProfile: 1, cpmsAuth: 'stored' });

    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp1.6']))).toBe(502);
    await broker.api.registry.setCpmsPassword.mutate({ id: t.stationId, password: { value: 'cafebabecafebabecafebabecafebabe', encoding: 'hex' } });
    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp1.6']))).toBe(101);
    expect(seen).toEqual(['CP-1:cafebabecafebabecafebabecafebabe']);
  });
});

describe('CPMS profile 2: TLS and Basic auth', () => {
  it('verifies the CPMS certificate against the tenant CA root, with the hostname, and sends the stored password', async () => {
    const cpms = await tlsCpms({ password: 'cpms side password' });
    const t = await tenant(cpms.url, { cpmsProfile: 2, cpmsAuth: 'stored' });
    await broker.api.registry.setCpmsPassword.mutate({ id: t.stationId, password: { value: 'cpms side password' } });

    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp1.6']))).toBe(502); // the system roots do not know this CA
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });
    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp1.6']))).toBe(101);
    expect(cpms.handshakes.map((h) => [h.identity, h.password?.toString()])).toEqual([['CP-1', 'cpms side password']]);
  });

  it('refuses a CPMS whose certificate is for another host name (502)', async () => {
    const cpms = await tlsCpms({ dns: ['cpms.example.com'] });
    const t = await tenant(cpms.url, { cpmsProfile: 2, cpmsAuth: 'stored' });
    await broker.api.registry.setCpmsPassword.mutate({ id: t.stationId, password: { value: 'cpms side password' } });
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });
    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp1.6']))).toBe(502);
    expect(broker.logs.at(-1)).toMatchObject({ status: 502, reason: expect.stringMatching(/ERR_TLS_CERT_ALTNAME_INVALID/) });
    expect(cpms.handshakes).toEqual([]);
  });

  it('refuses a CPMS whose certificate comes from an unknown CA (502)', async () => {
    const other = await createCa({ subject: 'CN=Unknown CA' });
    const server = await other.issue({ subject: 'CN=cpms', usage: 'server', dns: ['localhost'] });
    const cpms = await startTlsCpms({ certPem: server.chainPem, keyPem: server.keyPem });
    cleanup.push(() => cpms.close());
    const t = await tenant(cpms.url, { cpmsProfile: 2, cpmsAuth: 'stored' });
    await broker.api.registry.setCpmsPassword.mutate({ id: t.stationId, password: { value: 'cpms side password' } });
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });
    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp1.6']))).toBe(502);
  });
});

describe('CPMS profile 3: the broker\'s client certificate', () => {
  it('presents the tenant client certificate to a CPMS that requires one (station on profile 0)', async () => {
    const cpms = await tlsCpms({ clientCa: operatorCa });
    const t = await tenant(cpms.url, { cpmsProfile: 3, cpmsAuth: 'stored' });
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });

    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp2.0.1']))).toBe(502); // no client certificate yet
    const client = await operatorCa.issue({ subject: 'CN=acme-broker, O=Acme', usage: 'client' });
    await broker.api.certificates.uploadClient.mutate({ tenantId: t.id, certificatePem: client.chainPem, keyPem: client.keyPem });
    expect(await attempt(station(t.endpoint, 'CP-1', ['ocpp2.0.1']))).toBe(101);
    expect(cpms.handshakes.at(-1)?.clientCertificate?.fingerprint256).toBe(client.fingerprint256);
  });

  it('makes a key and a CSR per station; the certificate signed for it is imported and used (CN = identity)', async () => {
    const cpms = await tlsCpms({ clientCa: operatorCa });
    const t = await tenant(cpms.url, { cpmsProfile: 3, cpmsAuth: 'stored', organization: 'Acme' }, 'RDAM 123');
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });

    const { id, csrPem } = await broker.api.certificates.createCsr.mutate({ tenantId: t.id, stationId: t.stationId, keyType: 'ecdsa' });
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect(await broker.api.certificates.csr.query({ id })).toBe(csrPem);
    expect((await broker.api.certificates.list.query()).find((c) => c.id === id)).toMatchObject({
      csrPending: true,
      certificate: null,
      request: { subject: 'CN=RDAM 123, O=Acme', keyType: 'ecdsa' },
    });

    const foreignKey = await operatorCa.issue({ subject: 'CN=RDAM 123, O=Acme', usage: 'client' });
    await expect(broker.api.certificates.importSigned.mutate({ id, certificatePem: foreignKey.certPem })).rejects.toMatchObject({
      message: 'This certificate was not issued for the key of this request',
    });
    const signed = await signCsr(operatorCa, csrPem, 'client');
    const imported = await broker.api.certificates.importSigned.mutate({ id, certificatePem: signed });
    expect(imported).toMatchObject({ hasKey: true, csrPending: false, certificate: { subject: 'CN=RDAM 123, O=Acme' } });

    expect(await attempt(station(t.endpoint, 'RDAM 123', ['ocpp2.0.1']))).toBe(101);
    expect(cpms.handshakes.at(-1)).toMatchObject({ identity: 'RDAM 123', clientCertificate: { subject: 'CN=RDAM 123, O=Acme' } });
  });
});

describe('mixed legs', () => {
  it('takes a profile 3 station on to a profile 2 CPMS', async () => {
    const cpms = await tlsCpms({ password: 'cpms side password' });
    const t = await tenant(cpms.url, { stationProfile: 3, cpmsProfile: 2, cpmsAuth: 'stored' });
    await broker.api.registry.setCpmsPassword.mutate({ id: t.stationId, password: { value: 'cpms side password' } });
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });
    const stationCa = await createCa({ subject: 'CN=Station CA' });
    await broker.api.certificates.uploadCa.mutate({ tenantId: t.id, kind: 'station-ca', certificatePem: stationCa.certPem });
    const cert = await stationCa.issue({ subject: 'CN=CP-1', usage: 'client' });
    const ca = await broker.api.certificates.serverPem.query();
    const wss = `wss://localhost:${broker.server.tlsPort}/ocpp/t${slugs}`;

    const cp = station(wss, 'CP-1', ['ocpp2.0.1'], { wsOpts: { ca, cert: cert.chainPem, key: cert.keyPem } });
    await cp.connect();
    await expect(cp.call('Heartbeat', {})).resolves.toHaveProperty('currentTime');
    expect(cpms.handshakes.at(-1)).toMatchObject({ identity: 'CP-1', password: Buffer.from('cpms side password') });
    await cp.close();
  });
});

describe('settings that do not go together', () => {
  it('are refused with a field error', async () => {
    await expect(broker.api.tenants.create.mutate({ name: 'X', slug: 'x1', cpmsUrl: 'ws://cpms', cpmsProfile: 2 })).rejects.toMatchObject({
      data: { fieldErrors: { cpmsUrl: ['Profile 2 toward the CPMS needs a wss:// URL'] } },
    });
    await expect(broker.api.tenants.create.mutate({ name: 'X', slug: 'x2', cpmsUrl: 'ws://cpms', cpmsProfile: 1, cpmsAuth: 'passthrough' })).rejects.toMatchObject({
      data: { fieldErrors: { cpmsAuth: [expect.stringMatching(/^Pass-through needs stations on profile 1 or 2/)] } },
    });
    const ok = await broker.api.tenants.create.mutate({ name: 'X', slug: 'x3', cpmsUrl: 'wss://cpms', cpmsProfile: 2, cpmsAuth: 'stored' });
    await expect(broker.api.tenants.update.mutate({ id: ok.id, cpmsUrl: 'ws://cpms' })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST', fieldErrors: { cpmsUrl: ['Profile 2 toward the CPMS needs a wss:// URL'] } },
    });
  });
});
