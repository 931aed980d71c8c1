import { Gauge, type Registry } from 'prom-client';
import type { StationInfo } from '../broker/index.ts';
import { listCertificates } from '../db/certificates.ts';
import type { Db } from '../db/index.ts';
import { stations } from '../db/schema.ts';
import { listTenants } from '../db/tenants.ts';
import type { CpmsHealth } from './connections.ts';
import { parseCertificates } from './tls/x509.ts';
import type { Services } from './trpc.ts';

/** Certificates expiring within this many days raise an alert. */
export const CERTIFICATE_ALERT_DAYS = 30;
/** Alerts listed at most (the count says how many there are). */
const ALERTS_SHOWN = 200;
const DAY_MS = 24 * 60 * 60_000;

export type Alert =
  | { kind: 'station_offline'; tenantId: number; tenant: string; identity: string; since: Date; connected: boolean }
  | { kind: 'cpms_unreachable'; tenantId: number; tenant: string; since: Date; status: number | null; reason: string }
  | { kind: 'certificate_expiring'; tenantId: number | null; tenant: string; certificateId: number; certificateKind: string; subject: string; notAfter: Date }
  | { kind: 'writer_degraded'; tenantId: null; tenant: string; reason: string }
  | { kind: 'station_uncontrollable'; tenantId: number; tenant: string; identity: string; siteId: number | null; since: Date; reason: string };

export type AlertKind = Alert['kind'];

export interface TenantFigures {
  tenantId: number;
  online: number;
  offline: number;
  health: CpmsHealth;
}

/** A registered station as the dashboard weighs it. */
export interface StationState {
  tenantId: number;
  tenant: string;
  identity: string;
  /** Its live link, if any. */
  link: StationInfo | undefined;
  /** When it was last seen connecting or closing (the connection log), else when it was registered. */
  lastSeen: Date;
  /** Smart charging: its site, and why and since when dispatch cannot control it (server/smart/send.ts), if so. */
  siteId?: number | null;
  uncontrollable?: { reason: string; since: Date } | null;
}

export interface AlertInputs {
  now: Date;
  stations: StationState[];
  tenants: { id: number; slug: string; enabled: boolean; health: CpmsHealth }[];
  certificates: { id: number; kind: string; tenantId: number | null; pem: string | null }[];
  writer: { ok: boolean; reason?: string };
  stationSilentAfterMs: number;
  stationOfflineAlertMinutes: number;
}

/**
 * Whether a registered station is offline, and since when: not connected (since it was last seen), or connected
 * but silent (since its last frame, or its connection when it sent none) for longer than twice the Heartbeat interval
 * its CPMS gave it, or `silentAfterMs` before it was given one.
 */
export function offlineSince(station: StationState, now: Date, silentAfterMs: number): Date | undefined {
  if (!station.link) return station.lastSeen;
  return silentSince(station.link, now, silentAfterMs);
}

/** Since when a live link has been silent for too long (see offlineSince), or undefined. */
export function silentSince(link: StationInfo, now: Date, silentAfterMs: number): Date | undefined {
  const heard = link.lastFrameAt ?? link.connectedAt;
  const allowedMs = link.heartbeatIntervalS === null ? silentAfterMs : 2 * link.heartbeatIntervalS * 1000;
  return now.getTime() - heard.getTime() > allowedMs ? heard : undefined;
}

/** The alerts active now, most urgent kinds first, oldest first within a kind. Pure: the tests feed it. */
export function alertsFrom(inputs: AlertInputs): Alert[] {
  const alerts: Alert[] = [];
  const enabled = new Set(inputs.tenants.filter((t) => t.enabled).map((t) => t.id));
  for (const tenant of inputs.tenants) {
    if (!tenant.enabled || !tenant.health.failing || !tenant.health.lastFailure) continue;
    const { at, status, reason } = tenant.health.lastFailure;
    alerts.push({ kind: 'cpms_unreachable', tenantId: tenant.id, tenant: tenant.slug, since: at, status, reason });
  }
  const alertAfterMs = inputs.stationOfflineAlertMinutes * 60_000;
  for (const station of inputs.stations) {
    if (!enabled.has(station.tenantId)) continue;
    const since = offlineSince(station, inputs.now, inputs.stationSilentAfterMs);
    if (since && inputs.now.getTime() - since.getTime() > alertAfterMs) {
      const { tenantId, tenant, identity } = station;
      alerts.push({ kind: 'station_offline', tenantId, tenant, identity, since, connected: station.link !== undefined });
    }
    if (station.uncontrollable) {
      const { tenantId, tenant, identity } = station;
      alerts.push({ kind: 'station_uncontrollable', tenantId, tenant, identity, siteId: station.siteId ?? null, ...station.uncontrollable });
    }
  }
  const slugs = new Map(inputs.tenants.map((t) => [t.id, t.slug]));
  for (const row of inputs.certificates) {
    if (!row.pem) continue;
    let certificates;
    try {
      certificates = parseCertificates(row.pem);
    } catch {
      continue; // uploads are checked; a row that does not parse is the certificates page's to show
    }
    const first = certificates.reduce((a, b) => (new Date(b.validTo) < new Date(a.validTo) ? b : a));
    const notAfter = new Date(first.validTo);
    if (notAfter.getTime() - inputs.now.getTime() > CERTIFICATE_ALERT_DAYS * DAY_MS) continue;
    alerts.push({
      kind: 'certificate_expiring',
      tenantId: row.tenantId,
      tenant: row.tenantId === null ? '' : (slugs.get(row.tenantId) ?? ''),
      certificateId: row.id,
      certificateKind: row.kind,
      subject: first.subject.replaceAll('\n', ', '),
      notAfter,
    });
  }
  if (!inputs.writer.ok) alerts.push({ kind: 'writer_degraded', tenantId: null, tenant: '', reason: inputs.writer.reason ?? 'degraded' });

  const order: AlertKind[] = ['cpms_unreachable', 'writer_degraded', 'station_offline', 'station_uncontrollable', 'certificate_expiring'];
  const time = (a: Alert) => ('since' in a ? a.since : 'notAfter' in a ? a.notAfter : inputs.now).getTime();
  return alerts.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || time(a) - time(b));
}

type Sources = Pick<Services, 'db' | 'broker' | 'connections' | 'offline' | 'writerHealth'>;

/** Everything the dashboard shows: per tenant stations online and offline with CPMS health, and the alerts. */
export function dashboard(services: Sources, now = new Date()) {
  const inputs = gather(services, now);
  const figures: TenantFigures[] = inputs.tenants.map((t) => {
    const mine = inputs.stations.filter((s) => s.tenantId === t.id);
    const offline = mine.filter((s) => offlineSince(s, now, inputs.stationSilentAfterMs) !== undefined).length;
    // Online: every live link of the tenant that is not silent, registered or not.
    const online = services.broker
      .stations(t.id)
      .filter((link) => silentSince(link, now, inputs.stationSilentAfterMs) === undefined).length;
    return { tenantId: t.id, online, offline, health: t.health };
  });
  const alerts = alertsFrom(inputs);
  return { at: now, tenants: figures, alerts: alerts.slice(0, ALERTS_SHOWN), alertCount: alerts.length };
}

function gather(services: Sources, now: Date): AlertInputs {
  const tenants = listTenants(services.db).map((t) => ({ id: t.id, slug: t.slug, enabled: t.enabled, health: services.connections.health(t.id) }));
  const slugs = new Map(tenants.map((t) => [t.id, t.slug]));
  const links = new Map(services.broker.stations().map((s) => [`${s.tenantId}/${s.identity}`, s]));
  const registered = services.db
    .select({
      tenantId: stations.tenantId,
      identity: stations.identity,
      createdAt: stations.createdAt,
      siteId: stations.siteId,
      uncontrollable: stations.uncontrollable,
      uncontrollableReason: stations.uncontrollableReason,
      uncontrollableSince: stations.uncontrollableSince,
    })
    .from(stations)
    .all();
  return {
    now,
    tenants,
    stations: registered.map((s) => ({
      tenantId: s.tenantId,
      tenant: slugs.get(s.tenantId) ?? '',
      identity: s.identity,
      link: links.get(`${s.tenantId}/${s.identity}`),
      lastSeen: services.connections.lastSeen(s.tenantId, s.identity) ?? s.createdAt,
      siteId: s.siteId,
      uncontrollable: s.uncontrollable ? { reason: s.uncontrollableReason ?? 'rejected', since: s.uncontrollableSince ?? s.createdAt } : null,
    })),
    certificates: listCertificates(services.db).map((c) => ({ id: c.id, kind: c.kind, tenantId: c.tenantId, pem: c.certificatePem })),
    writer: services.writerHealth?.() ?? { ok: true },
    stationSilentAfterMs: services.offline.stationSilentAfterMs,
    stationOfflineAlertMinutes: services.offline.stationOfflineAlertMinutes,
  };
}

/** `ocpp_broker_alerts{kind,tenant}`: how many alerts of a kind are active for a tenant ("" for the broker's own). */
export function registerAlertMetrics(registry: Registry, sources: () => Sources): void {
  new Gauge({
    name: 'ocpp_broker_alerts',
    help: 'Active alerts by kind and tenant: at least 1 while one is active (the number of stations or certificates concerned), absent otherwise',
    labelNames: ['kind', 'tenant'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, { kind: string; tenant: string; n: number }>();
      for (const alert of alertsFrom(gather(sources(), new Date()))) {
        const key = `${alert.kind}\0${alert.tenant}`;
        const entry = counts.get(key) ?? { kind: alert.kind, tenant: alert.tenant, n: 0 };
        entry.n++;
        counts.set(key, entry);
      }
      for (const { kind, tenant, n } of counts.values()) this.set({ kind, tenant }, n);
    },
  });
}
