import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.ts';
import { freePort, startCpms, station, type TestCpms } from './support/ocpp.ts';
import { createCa, type Ca } from './support/pki.ts';
import { startTlsCpms, type TlsCpms } from './support/tls-cpms.ts';

let broker: TestBroker;
let cpms: TestCpms;
let cpmsCa: Ca;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [broker, cpms, cpmsCa] = await Promise.all([
    startTestBroker({ upstreamConnectTimeoutMs: 1_000, stationOfflineAlertMinutes: 0 }),
    startCpms({ protocols: ['ocpp1.6'] }),
    createCa({ subject: 'CN=Cloud CPMS Root, O=Cloud' }),
  ]);
});

afterAll(async () => {
  for (const close of cleanup) await close();
  await cpms?.close();
  await broker?.close();
});

/** How a connection attempt ends: 101, or the HTTP status and the body the station got. */
async function attempt(url: string, init: { authorization?: string } = {}): Promise<{ status: number; body: string }> {
  const key = Buffer.from('0123456789abcdef').toString('base64');
  const target = new URL(url.replace(/^ws/, 'http'));
  const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const req = request(target, {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Key': key,
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Protocol': 'ocpp1.6',
          ...(init.authorization && { Authorization: init.authorization }),
        },
      });
      req.on('upgrade', (_res, socket) => {
        socket.destroy();
        resolve({ status: 101, body: '' });
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    }, reject);
  });
  return response;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the connection log', () => {
  it('holds a 502 for a CPMS that is down, with a hint at what to check', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Down', slug: 'down', cpmsUrl: `ws://127.0.0.1:${await freePort()}`, allowUnknownStations: true });
    expect((await attempt(`${broker.endpoint('down')}/CP-1`)).status).toBe(502);

    const [event] = await broker.api.connections.list.query({ tenantId: tenant.id });
    expect(event).toMatchObject({ kind: 'refused', tenantId: tenant.id, tenantSlug: 'down', identity: 'CP-1', status: 502, code: 'CPMS_UNREACHABLE', remoteAddress: '127.0.0.1' });
    expect(event!.reason).toMatch(/^The CPMS could not be reached: ECONNREFUSED/);
    expect(event!.hint).toMatch(/Nothing accepts connections at the CPMS URL \(127\.0\.0\.1\)/);
  });

  it('holds a 401 for a wrong password, with who tried from where', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Basic', slug: 'basic', cpmsUrl: cpms.url, stationProfile: 1 });
    const registered = await broker.api.registry.create.mutate({ tenantId: tenant.id, identity: 'CP-7' });
    await broker.api.registry.setPassword.mutate({ id: registered.id, password: { value: 'the right password' } });
    expect((await attempt(`${broker.endpoint('basic')}/CP-7`, { authorization: basic('CP-7', 'a wrong password') })).status).toBe(401);

    const events = await broker.api.connections.list.query({ tenantId: tenant.id, identity: 'CP-7' });
    expect(events.map((e) => [e.kind, e.status, e.code, e.reason])).toEqual([['refused', 401, 'UNAUTHENTICATED', 'Authentication failed: wrong password']]);
    expect(events[0]!.hint).toMatch(/password/);
  });

  it('holds unknown tenants and paths without a tenant among the events that match no tenant, hinting at the right URL', async () => {
    await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme-hint', cpmsUrl: cpms.url });
    const unknown = await attempt(`${broker.endpoint('no-such-tenant')}/CP-9`);
    const withoutTenant = await attempt(`ws://127.0.0.1:${broker.server.port}/ocpp/CP-9`);
    expect([unknown.status, withoutTenant.status]).toEqual([404, 404]);
    // The station learns nothing of the tenants: the hint is for the operator's UI only.
    for (const { body } of [unknown, withoutTenant]) expect(body).toBe('No such tenant, or it is disabled\n');

    const events = await broker.api.connections.list.query({ tenantId: null, limit: 2 });
    expect(events.map((e) => [e.tenantId, e.tenantSlug, e.identity, e.status, e.code])).toEqual([
      [null, 'CP-9', null, 404, 'NOT_FOUND'],
      [null, 'no-such-tenant', 'CP-9', 404, 'NOT_FOUND'],
    ]);
    expect(events[0]!.hint).toMatch(/^The path is \/ocpp\/<tenant>\/<identity>: "CP-9" is no tenant, so this is probably the station's identity without the tenant\. Tenants on this broker: .*acme-hint/);
    expect(events[1]!.hint).toMatch(/^No tenant has the slug "no-such-tenant"/);
  });

  it('holds each connection opened and closed, with who closed, the code, the reason and the duration', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Open', slug: 'open', cpmsUrl: cpms.url, allowUnknownStations: true });
    const cp = station(broker.endpoint('open'), 'CP-2', ['ocpp1.6']);
    await cp.connect();
    await cp.close({ code: 4000, reason: 'maintenance' });

    await expect.poll(async () => (await broker.api.connections.list.query({ tenantId: tenant.id })).map((e) => e.kind)).toEqual(['closed', 'opened']);
    const [closed, opened] = await broker.api.connections.list.query({ tenantId: tenant.id });
    expect(opened).toMatchObject({ identity: 'CP-2', subprotocol: 'ocpp1.6', remoteAddress: '127.0.0.1' });
    expect(closed).toMatchObject({ identity: 'CP-2', closedBy: 'station', code: '4000', reason: 'maintenance' });
    expect(closed!.durationMs).toBeGreaterThanOrEqual(0);
    expect(closed!.durationMs).toBeLessThan(10_000);
    expect(await broker.api.connections.list.query({ tenantId: tenant.id, kind: 'opened' })).toHaveLength(1);
  });
});

describe('CPMS health', () => {
  it('shows the last failure after a refusal, and the last success once the CPMS accepts a station again', async () => {
    const port = await freePort();
    const tenant = await broker.api.tenants.create.mutate({ name: 'Flaky', slug: 'flaky', cpmsUrl: `ws://127.0.0.1:${port}`, allowUnknownStations: true });
    expect(await broker.api.tenants.health.query({ id: tenant.id })).toEqual({ lastSuccessAt: null, lastFailure: null, failing: false });

    expect((await attempt(`${broker.endpoint('flaky')}/CP-1`)).status).toBe(502);
    const failed = await broker.api.tenants.health.query({ id: tenant.id });
    expect(failed).toMatchObject({ lastSuccessAt: null, failing: true, lastFailure: { status: 502, code: 'CPMS_UNREACHABLE' } });
    const listed = (await broker.api.tenants.list.query()).find((t) => t.id === tenant.id)!;
    expect(listed.cpms.failing).toBe(true);

    const back = await startCpms({ protocols: ['ocpp1.6'], port });
    cleanup.push(() => back.close());
    expect((await attempt(`${broker.endpoint('flaky')}/CP-1`)).status).toBe(101);
    const healthy = await broker.api.tenants.health.query({ id: tenant.id });
    expect(healthy.failing).toBe(false);
    expect(new Date(healthy.lastSuccessAt!).getTime()).toBeGreaterThan(new Date(healthy.lastFailure!.at).getTime());
  });
});

describe('tenants.testCpms', () => {
  async function tlsCpms(): Promise<TlsCpms> {
    const server = await cpmsCa.issue({ subject: 'CN=cpms.example, O=Cloud', usage: 'server', dns: ['localhost'] });
    const started = await startTlsCpms({ certPem: server.chainPem, keyPem: server.keyPem, protocols: ['ocpp1.6'] });
    cleanup.push(() => started.close());
    return started;
  }

  it("reports a CPMS whose CA the tenant does not trust, with the reason, and touches no station", async () => {
    const server = await tlsCpms();
    const tenant = await broker.api.tenants.create.mutate({ name: 'Untrusted', slug: 'untrusted', cpmsUrl: server.url });
    const result = await broker.api.tenants.testCpms.mutate({ id: tenant.id });

    expect(result).toMatchObject({ tenantId: tenant.id, identity: 'broker-test', url: `${server.url}/broker-test`, ok: false });
    expect(result.steps.map((s) => [s.step, s.ok])).toEqual([['credentials', true], ['dns', true], ['tcp', true], ['tls', false]]);
    const tls = result.steps[3]!;
    expect(tls.detail).toMatch(/not trusted: The CPMS's certificate is signed by a CA the broker does not trust.*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
    expect(tls.certificates).toEqual([
      expect.objectContaining({ subject: 'CN=cpms.example, O=Cloud', issuer: 'CN=Cloud CPMS Root, O=Cloud' }),
    ]);
    expect(result.steps[1]!.detail).toMatch(/^localhost → /);
    for (const step of result.steps) expect(step.ms).toBeGreaterThanOrEqual(0);
    expect(server.handshakes).toEqual([]); // no upgrade reached the CPMS
    expect(await broker.api.connections.list.query({ tenantId: tenant.id })).toEqual([]);
  });

  it('succeeds with a trusted CA, shows the subprotocol the CPMS selected, closes with 1000, and is audited', async () => {
    const server = await tlsCpms();
    const tenant = await broker.api.tenants.create.mutate({ name: 'Trusted', slug: 'trusted', cpmsUrl: server.url });
    await broker.api.certificates.uploadCa.mutate({ tenantId: tenant.id, kind: 'cpms-ca', certificatePem: cpmsCa.certPem });
    await broker.api.registry.create.mutate({ tenantId: tenant.id, identity: 'CP-42' });
    const closed = server.nextClient().then((client) => new Promise<number>((resolve) => client.once('close', ({ code }: { code: number }) => resolve(code))));

    const result = await broker.api.tenants.testCpms.mutate({ id: tenant.id });
    expect(result.ok).toBe(true);
    expect(result.identity).toBe('CP-42');
    expect(result.steps.map((s) => s.step)).toEqual(['credentials', 'dns', 'tcp', 'tls', 'upgrade', 'subprotocol']);
    expect(result.steps[3]!.detail).toMatch(/^TLSv1\.3; the certificate is trusted \(the tenant's CPMS CA roots\) and issued for localhost$/);
    expect(result.steps[4]!.detail).toBe('HTTP 101 Switching Protocols; the test link was closed with 1000');
    expect(result.steps[5]!.detail).toBe('the CPMS selected ocpp1.6 (offered: ocpp1.6)');
    expect(await closed).toBe(1000);
    expect(server.handshakes.map((h) => h.identity)).toEqual(['CP-42']);

    const [entry] = await broker.api.audit.list.query({ action: 'tenant.test_cpms' });
    expect(entry).toMatchObject({ actor: 'user:admin', target: 'tenant:trusted', after: { identity: 'CP-42', ok: true } });
  });

  it("reports the CPMS's HTTP status when it refuses the upgrade", async () => {
    // A web server that is no CPMS: it answers the upgrade with 404.
    const web = http.createServer((_req, res) => res.writeHead(404).end());
    web.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const { port } = web.address() as AddressInfo;
    const tenant = await broker.api.tenants.create.mutate({ name: 'Plain', slug: 'plain', cpmsUrl: `ws://127.0.0.1:${port}/nowhere` });
    const result = await broker.api.tenants.testCpms.mutate({ id: tenant.id, identity: 'CP-5' }).finally(() => web.close());
    expect(result.steps.map((s) => [s.step, s.ok])).toEqual([['credentials', true], ['dns', true], ['tcp', true], ['upgrade', false]]);
    expect(result.steps[3]!.detail).toBe('The CPMS refused the connection: HTTP 404 (a station would get 404)');
  });
});

describe('alerts', () => {
  it('lists a CPMS that cannot be reached and a registered station offline, also as metrics', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Alerting', slug: 'alerting', cpmsUrl: `ws://127.0.0.1:${await freePort()}` });
    await broker.api.registry.create.mutate({ tenantId: tenant.id, identity: 'CP-A' });
    await broker.api.tenants.update.mutate({ id: tenant.id, allowUnknownStations: true });
    expect((await attempt(`${broker.endpoint('alerting')}/CP-A`)).status).toBe(502);

    const board = await broker.api.connections.dashboard.query();
    const mine = board.alerts.filter((a) => a.tenant === 'alerting');
    expect(mine.map((a) => a.kind)).toEqual(['cpms_unreachable', 'station_offline']);
    expect(mine[0]).toMatchObject({ tenantId: tenant.id, status: 502 });
    expect(mine[1]).toMatchObject({ identity: 'CP-A', connected: false });
    expect(board.tenants.find((t) => t.tenantId === tenant.id)).toMatchObject({ online: 0, offline: 1, health: { failing: true } });

    const metrics = await (await fetch(`${broker.server.url}/metrics`)).text();
    expect(metrics).toContain('ocpp_broker_alerts{kind="cpms_unreachable",tenant="alerting"} 1');
    expect(metrics).toContain('ocpp_broker_alerts{kind="station_offline",tenant="alerting"} 1');
    expect(metrics).toMatch(/^ocpp_broker_connection_log_dropped_total 0$/m);
  });

  it('lists a certificate that expires within 30 days', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Expiring', slug: 'expiring', cpmsUrl: cpms.url });
    const soon = await createCa({ subject: 'CN=Short-lived Root', notAfter: new Date(Date.now() + 10 * 24 * 3_600_000) });
    await broker.api.certificates.uploadCa.mutate({ tenantId: tenant.id, kind: 'cpms-ca', certificatePem: soon.certPem });
    const alerts = (await broker.api.connections.dashboard.query()).alerts.filter((a) => a.kind === 'certificate_expiring');
    expect(alerts).toEqual([expect.objectContaining({ tenantId: tenant.id, tenant: 'expiring', subject: 'CN=Short-lived Root', certificateKind: 'cpms-ca' })]);
  });
});
