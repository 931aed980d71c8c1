import fc from 'fast-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionEvent, StationInfo } from '../broker/index.ts';
import { pathAsSent, SENT_PART_MAX } from '../broker/events.ts';
import { listConnectionEvents } from '../db/connections.ts';
import { createTenant } from '../db/tenants.ts';
import { hintFor } from '../server/connection-hints.ts';
import { createConnectionLog } from '../server/connections.ts';
import { alertsFrom, offlineSince, type StationState } from '../server/dashboard.ts';
import { tlsCodeIn, tlsProblem } from '../server/tls-problems.ts';
import { openTestApi, type TestApi } from './support/api.ts';

const DAY_MS = 24 * 60 * 60_000;
const quiet = pino({ level: 'silent' });

let api: TestApi;
beforeEach(() => void (api = openTestApi()));
afterEach(() => api.close());

function logOn(options: { maxRows?: number; bufferLimit?: number; retentionDays?: number } = {}) {
  const registry = new Registry();
  const log = createConnectionLog({ db: api.store.db, log: quiet, registry, retentionDays: options.retentionDays ?? 30, upstreamConnectTimeoutMs: 1000, ...options });
  return { log, registry };
}

const refused = (at: Date, over: Partial<Extract<ConnectionEvent, { kind: 'refused' }>> = {}): ConnectionEvent => ({
  kind: 'refused',
  at,
  tenantId: null,
  tenantSlug: 'x',
  identity: 'CP-1',
  remoteAddress: '192.0.2.7',
  status: 404,
  code: 'NOT_FOUND',
  reason: 'No such tenant, or it is disabled',
  ...over,
});
const opened = (tenantId: number, at: Date, identity = 'CP-1'): ConnectionEvent => ({
  kind: 'opened',
  at,
  tenantId,
  tenantSlug: 'acme',
  identity,
  remoteAddress: '192.0.2.7',
  subprotocol: 'ocpp1.6',
});

describe('the connection log table', () => {
  it('prunes events older than the retention period', () => {
    const { log } = logOn({ retentionDays: 30 });
    log.record(refused(new Date(Date.now() - 31 * DAY_MS), { tenantSlug: 'old' }));
    log.record(refused(new Date(Date.now() - 29 * DAY_MS), { tenantSlug: 'recent' }));
    log.flush();
    expect(log.prune()).toBe(1);
    expect(log.list({ limit: 10 }).map((e) => e.tenantSlug)).toEqual(['recent']);
    log.close();
  });

  it('keeps at most the row cap, removing the oldest', () => {
    const { log } = logOn({ maxRows: 3 });
    for (let i = 1; i <= 5; i++) log.record(refused(new Date(), { tenantSlug: `t${i}` }));
    log.flush();
    expect(log.prune()).toBe(2);
    expect(log.list({ limit: 10 }).map((e) => e.tenantSlug)).toEqual(['t5', 't4', 't3']);
    log.close();
  });

  it('drops what does not fit in the buffer and counts it, writing the rest', async () => {
    const { log, registry } = logOn({ bufferLimit: 2 });
    for (let i = 0; i < 5; i++) log.record(refused(new Date()));
    expect(await registry.getSingleMetricAsString('ocpp_broker_connection_log_dropped_total')).toMatch(/ 3$/m);
    expect(log.list({ limit: 10 })).toHaveLength(2);
    log.close();
  });

  it('writes nothing until flushed: recording stays off the request path', () => {
    const { log } = logOn();
    log.record(refused(new Date()));
    expect(listConnectionEvents(api.store.db, { limit: 10 })).toEqual([]);
    log.flush();
    expect(listConnectionEvents(api.store.db, { limit: 10 })).toHaveLength(1);
    log.close();
  });

  it('files refusals of a disabled tenant under that tenant', () => {
    const tenant = createTenant(api.store.db, { name: 'Off', slug: 'off', cpmsUrl: 'ws://cpms', enabled: false });
    const { log } = logOn();
    log.record(refused(new Date(), { tenantSlug: 'off' }));
    const [event] = log.list({ tenantId: tenant.id, limit: 10 });
    expect(event).toMatchObject({ tenantId: tenant.id, hint: 'The tenant "off" is disabled: enable it to accept its stations.' });
    log.close();
  });

  it('derives CPMS health and when stations were last seen from the log after a restart', () => {
    const tenant = createTenant(api.store.db, { name: 'Acme', slug: 'acme', cpmsUrl: 'ws://cpms' });
    const first = logOn().log;
    const t0 = Date.now() - 60_000;
    first.record(opened(tenant.id, new Date(t0)));
    first.record(refused(new Date(t0 + 1000), { tenantId: tenant.id, tenantSlug: 'acme', status: 504, code: 'CPMS_TIMEOUT', reason: 'The CPMS did not answer in time' }));
    first.close();

    const restarted = logOn().log;
    expect(restarted.health(tenant.id)).toEqual({
      lastSuccessAt: new Date(t0),
      lastFailure: { at: new Date(t0 + 1000), status: 504, code: 'CPMS_TIMEOUT', reason: 'The CPMS did not answer in time' },
      failing: true,
    });
    expect(restarted.lastSeen(tenant.id, 'CP-1')).toEqual(new Date(t0));
    restarted.record(opened(tenant.id, new Date()));
    expect(restarted.health(tenant.id).failing).toBe(false);
    restarted.close();
  });

  it('does not count refusals the CPMS had no part in as CPMS failures', () => {
    const { log } = logOn();
    log.record(refused(new Date(), { tenantId: 1, status: 401, code: 'UNAUTHENTICATED' }));
    expect(log.health(1)).toEqual({ lastSuccessAt: null, lastFailure: null, failing: false });
    log.close();
  });
});

describe('the path as the station sent it', () => {
  it('splits /ocpp/<slug>/<identity> and tells a missing part from an empty one', () => {
    expect(pathAsSent('/ocpp/acme/CP%201?x=1')).toEqual({ tenantSlug: 'acme', identity: 'CP 1' });
    expect(pathAsSent('/ocpp/CP-1')).toEqual({ tenantSlug: 'CP-1', identity: null });
    expect(pathAsSent('/ocpp/')).toEqual({ tenantSlug: null, identity: null });
    expect(pathAsSent('/ocpp/acme/CP%E0%A4%A')).toEqual({ tenantSlug: 'acme', identity: 'CP%E0%A4%A' });
  });

  it('never throws, and keeps at most 100 characters of each part with no control character', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500 }), (rest) => {
        const { tenantSlug, identity } = pathAsSent(`/ocpp/${rest}`);
        for (const part of [tenantSlug, identity]) {
          if (part === null) continue;
          expect([...part].length).toBeLessThanOrEqual(SENT_PART_MAX);
          expect(part).not.toMatch(/[\u0000-\u001f\u007f]/);
        }
      }),
    );
  });

  it('gives back a slug and an identity that were percent-encoded', () => {
    const printable = fc.string({ minLength: 1, maxLength: 48 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
    fc.assert(
      fc.property(printable, printable, (slug, identity) => {
        expect(pathAsSent(`/ocpp/${encodeURIComponent(slug)}/${encodeURIComponent(identity)}`)).toEqual({ tenantSlug: slug, identity });
      }),
    );
  });
});

describe('hints and TLS reasons', () => {
  const context = { tenants: [{ slug: 'acme', enabled: true, cpmsUrl: 'wss://cpms.example/ocpp' }], upstreamConnectTimeoutMs: 1000 };

  it('translates the TLS code in a CPMS refusal into a sentence', () => {
    const hint = hintFor(
      refused(new Date(), { tenantSlug: 'acme', status: 502, code: 'CPMS_UNREACHABLE', reason: 'The CPMS could not be reached: ERR_TLS_CERT_ALTNAME_INVALID Hostname/IP does not match' }),
      context,
    );
    expect(hint).toBe('The CPMS\'s certificate is not issued for the host name "cpms.example": the CPMS URL must use a name the certificate lists.');
    expect(tlsProblem('DEPTH_ZERO_SELF_SIGNED_CERT')).toMatch(/self-signed/);
    expect(tlsProblem('CERT_HAS_EXPIRED')).toMatch(/expired/);
    expect(tlsProblem('toString')).toBeUndefined();
  });

  it('finds a TLS code only when one of the known codes is in the text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const code = tlsCodeIn(text);
        if (code !== undefined) expect(text).toContain(code);
      }),
    );
    expect(tlsCodeIn('CPMS_UNREACHABLE: UNABLE_TO_VERIFY_LEAF_SIGNATURE unable to verify')).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('names at most ten tenants', () => {
    const many = { ...context, tenants: Array.from({ length: 12 }, (_, i) => ({ slug: `t${i}`, enabled: true, cpmsUrl: 'ws://x' })) };
    expect(hintFor(refused(new Date(), { tenantSlug: 'nope' }), many)).toMatch(/t9 and 2 more\.$/);
  });
});

describe('offline stations and alerts', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const link = (lastFrameAgoMs: number | null, heartbeatIntervalS: number | null = null): StationInfo => ({
    tenantId: 1,
    tenantSlug: 'acme',
    identity: 'CP-1',
    subprotocol: 'ocpp1.6',
    connectedAt: new Date(now.getTime() - 3_600_000),
    remoteAddress: '192.0.2.7',
    lastFrameAt: lastFrameAgoMs === null ? null : new Date(now.getTime() - lastFrameAgoMs),
    framesIn: 1,
    framesOut: 1,
    heartbeatIntervalS,
  });
  const station = (over: Partial<StationState>): StationState => ({ tenantId: 1, tenant: 'acme', identity: 'CP-1', link: undefined, lastSeen: new Date(now.getTime() - 20 * 60_000), ...over });
  const health = { lastSuccessAt: null, lastFailure: null, failing: false };
  const inputs = (stations: StationState[]) => ({
    now,
    stations,
    tenants: [{ id: 1, slug: 'acme', enabled: true, health }],
    certificates: [],
    writer: { ok: true },
    stationSilentAfterMs: 600_000,
    stationOfflineAlertMinutes: 15,
  });

  it('counts a connected station silent for longer than stationSilentAfterMs as offline since its last frame', () => {
    expect(offlineSince(station({ link: link(599_000) }), now, 600_000)).toBeUndefined();
    expect(offlineSince(station({ link: link(601_000) }), now, 600_000)).toEqual(new Date(now.getTime() - 601_000));
    expect(offlineSince(station({ link: link(null) }), now, 600_000)).toEqual(new Date(now.getTime() - 3_600_000));
  });

  it('counts a connected station silent for longer than twice the Heartbeat interval its CPMS gave it as offline', () => {
    expect(offlineSince(station({ link: link(119_000, 60) }), now, 600_000)).toBeUndefined();
    expect(offlineSince(station({ link: link(121_000, 60) }), now, 600_000)).toEqual(new Date(now.getTime() - 121_000));
    expect(offlineSince(station({ link: link(1_100_000, 600) }), now, 600_000)).toBeUndefined();
  });

  it('raises a station alert only after stationOfflineAlertMinutes, and none for a disabled tenant', () => {
    expect(alertsFrom(inputs([station({ lastSeen: new Date(now.getTime() - 14 * 60_000) })]))).toEqual([]);
    expect(alertsFrom(inputs([station({})])).map((a) => a.kind)).toEqual(['station_offline']);
    expect(alertsFrom(inputs([station({ link: link(16 * 60_000) })]))).toEqual([expect.objectContaining({ kind: 'station_offline', connected: true })]);
    expect(alertsFrom({ ...inputs([station({})]), tenants: [{ id: 1, slug: 'acme', enabled: false, health }] })).toEqual([]);
  });

  it('raises an alert for a station smart charging cannot control, with why and since, after the offline ones', () => {
    const since = new Date(now.getTime() - 5 * 60_000);
    const marked = station({ identity: 'CP-2', link: link(1_000), siteId: 4, uncontrollable: { reason: 'rejected', since } });
    expect(alertsFrom(inputs([marked, station({})]))).toEqual([
      expect.objectContaining({ kind: 'station_offline', identity: 'CP-1' }),
      { kind: 'station_uncontrollable', tenantId: 1, tenant: 'acme', identity: 'CP-2', siteId: 4, since, reason: 'rejected' },
    ]);
    expect(alertsFrom(inputs([station({ link: link(1_000), uncontrollable: null })]))).toEqual([]);
  });

  it('raises an alert when the observation writer reports that it is degraded', () => {
    expect(alertsFrom({ ...inputs([]), writer: { ok: false, reason: '12,000 observations waiting' } })).toEqual([
      { kind: 'writer_degraded', tenantId: null, tenant: '', reason: '12,000 observations waiting' },
    ]);
  });

  it('raises an alert for a writer that is degraded, through the Services hook the API reads', async () => {
    const { api: admin } = await api.as('root', 'admin');
    expect((await admin.connections.dashboard()).alerts).toEqual([]);
    api.services.writerHealth = () => ({ ok: false, reason: 'the writer is 30 s behind' });
    expect((await admin.connections.dashboard()).alerts).toEqual([{ kind: 'writer_degraded', tenantId: null, tenant: '', reason: 'the writer is 30 s behind' }]);
  });
});

describe('who may read and test', () => {
  it('lets viewers read the log and the dashboard, and only admins test a CPMS', async () => {
    const { api: viewer } = await api.as('watcher', 'viewer');
    const tenant = createTenant(api.store.db, { name: 'Acme', slug: 'acme', cpmsUrl: 'ws://127.0.0.1:9' });
    expect(await viewer.connections.list({})).toEqual([]);
    await expect(viewer.tenants.testCpms({ id: tenant.id })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(api.call().connections.list({})).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
