import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { ConnectionEvent } from '../broker/index.ts';
import {
  connectionEventWriter,
  cpmsOutcomesFromLog,
  CPMS_FAILURE_CODES,
  lastSeenFromLog,
  listConnectionEvents,
  pruneConnectionEvents,
  type ConnectionEventFilter,
  type ConnectionEventInsert,
} from '../db/connections.ts';
import type { Db } from '../db/index.ts';
import { listTenants } from '../db/tenants.ts';
import { hintFor } from './connection-hints.ts';

/** What the broker knows of a tenant's CPMS from the stations it connected (or failed to). */
export interface CpmsHealth {
  /** The last time the CPMS accepted a station. */
  lastSuccessAt: Date | null;
  lastFailure: { at: Date; status: number | null; code: string; reason: string } | null;
  /** The last handshake failed. */
  failing: boolean;
}

export interface ConnectionLogOptions {
  db: Db;
  log: Logger;
  /** For the count of events dropped when the buffer is full. */
  registry: Registry;
  retentionDays: number;
  upstreamConnectTimeoutMs: number;
  /** Rows kept at most; the oldest go first. */
  maxRows?: number;
  /** Events waiting to be written at most; more are dropped (and counted). */
  bufferLimit?: number;
  flushIntervalMs?: number;
}

export type ConnectionLog = ReturnType<typeof createConnectionLog>;

export const CONNECTION_LOG_MAX_ROWS = 100_000;
const BUFFER_LIMIT = 10_000;
const FLUSH_INTERVAL_MS = 1_000;
const PRUNE_INTERVAL_MS = 60 * 60_000;
/** Stations whose last sighting is remembered; beyond this, the longest unseen are forgotten. */
const LAST_SEEN_LIMIT = 100_000;
/** Tenants whose CPMS health is remembered. */
const HEALTH_LIMIT = 10_000;
/** Longest stored reason and hint. */
const TEXT_MAX = 500;
const DAY_MS = 24 * 60 * 60_000;

const FAILURES = new Set<string>(CPMS_FAILURE_CODES);

/**
 * The connection log: the broker's connection events, buffered in memory and written in batches every second,
 * off the request path; pruned by age and to a row cap. Also keeps, in memory, each tenant's CPMS health and
 * when each station was last seen, both derived from the log at start-up so that they survive a restart.
 */
export function createConnectionLog(options: ConnectionLogOptions) {
  const { db, log } = options;
  const maxRows = options.maxRows ?? CONNECTION_LOG_MAX_ROWS;
  const bufferLimit = options.bufferLimit ?? BUFFER_LIMIT;
  const write = connectionEventWriter(db);
  let buffer: ConnectionEvent[] = [];

  const dropped = new Counter({
    name: 'ocpp_broker_connection_log_dropped_total',
    help: 'Connection events not written to the connection log because its buffer was full',
    registers: [options.registry],
  });

  const health = new Map<number, CpmsHealth>();
  const outcomes = cpmsOutcomesFromLog(db);
  for (const row of outcomes.opened) succeeded(row.tenantId!, row.at);
  for (const row of outcomes.failed) failed(row.tenantId!, { at: row.at, status: row.status, code: row.code ?? '', reason: row.reason ?? '' });

  /** When each station was last seen (ms): a number, not the event's Date (16 bytes instead of ~100 per station). */
  const lastSeen = new Map<string, number>();
  const seenKey = (tenantId: number, identity: string) => `${tenantId}/${identity}`;
  for (const row of lastSeenFromLog(db, LAST_SEEN_LIMIT).reverse()) lastSeen.set(seenKey(row.tenantId, row.identity), row.at.getTime());

  function entry(tenantId: number): CpmsHealth {
    let found = health.get(tenantId);
    if (!found) {
      if (health.size >= HEALTH_LIMIT) health.delete(health.keys().next().value!);
      found = { lastSuccessAt: null, lastFailure: null, failing: false };
      health.set(tenantId, found);
    }
    return found;
  }
  function succeeded(tenantId: number, at: Date) {
    const h = entry(tenantId);
    if (h.lastSuccessAt && h.lastSuccessAt > at) return;
    h.lastSuccessAt = at;
    h.failing = h.lastFailure !== null && h.lastFailure.at > at;
  }
  function failed(tenantId: number, failure: NonNullable<CpmsHealth['lastFailure']>) {
    const h = entry(tenantId);
    if (h.lastFailure && h.lastFailure.at > failure.at) return;
    h.lastFailure = failure;
    h.failing = h.lastSuccessAt === null || h.lastSuccessAt <= failure.at;
  }
  function seen(tenantId: number, identity: string, at: Date) {
    const key = seenKey(tenantId, identity);
    lastSeen.delete(key); // re-inserted last: the map stays in the order of sightings
    if (lastSeen.size >= LAST_SEEN_LIMIT) lastSeen.delete(lastSeen.keys().next().value!);
    lastSeen.set(key, at.getTime());
  }

  function flush() {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      const tenants = listTenants(db);
      const context = { tenants, upstreamConnectTimeoutMs: options.upstreamConnectTimeoutMs };
      write(batch.map((event) => toRow(event, hintFor(event, context), tenants)));
    } catch (error) {
      log.error({ err: error, events: batch.length }, 'connection log write failed');
    }
  }

  function prune() {
    const removed = pruneConnectionEvents(db, new Date(Date.now() - options.retentionDays * DAY_MS), maxRows);
    if (removed) log.info({ event: 'connection_log.pruned', removed, retentionDays: options.retentionDays }, 'old connection events deleted');
    return removed;
  }

  const flushing = setInterval(flush, options.flushIntervalMs ?? FLUSH_INTERVAL_MS).unref();
  const pruning = setInterval(prune, PRUNE_INTERVAL_MS).unref();

  return {
    /** Takes one event from the broker: O(1), nothing written here. */
    record(event: ConnectionEvent) {
      if (event.kind === 'opened') succeeded(event.tenantId, event.at);
      if (event.kind === 'refused' && event.tenantId !== null && FAILURES.has(event.code)) {
        failed(event.tenantId, { at: event.at, status: event.status, code: event.code, reason: event.reason });
      }
      if (event.kind !== 'refused') seen(event.tenantId, event.identity, event.at);
      if (buffer.length >= bufferLimit) {
        dropped.inc();
        return;
      }
      buffer.push(event);
    },
    /** Writes what is buffered now (the timer does so every second). */
    flush,
    prune,
    /** Newest first; what is still buffered is written first, so a list is never behind the broker. */
    list(filter: ConnectionEventFilter) {
      flush();
      return listConnectionEvents(db, filter);
    },
    health: (tenantId: number): CpmsHealth => ({ ...(health.get(tenantId) ?? { lastSuccessAt: null, lastFailure: null, failing: false }) }),
    /** When the station was last seen connecting or closing; undefined when the log does not know it. */
    lastSeen: (tenantId: number, identity: string) => {
      const at = lastSeen.get(seenKey(tenantId, identity));
      return at === undefined ? undefined : new Date(at);
    },
    /** Stops the timers and writes what is left. */
    close() {
      clearInterval(flushing);
      clearInterval(pruning);
      flush();
    },
  };
}

function toRow(event: ConnectionEvent, hint: string | null, tenants: { id: number; slug: string }[]): ConnectionEventInsert {
  const common = {
    at: event.at,
    tenantSlug: event.tenantSlug,
    identity: event.identity,
    remoteAddress: event.remoteAddress,
    kind: event.kind,
    hint: hint && cut(hint),
  };
  switch (event.kind) {
    case 'opened':
      return { ...common, tenantId: event.tenantId, subprotocol: event.subprotocol };
    case 'refused':
      // A disabled tenant's slug is refused like an unknown one; its page still shows the refusals.
      return {
        ...common,
        tenantId: event.tenantId ?? tenants.find((t) => t.slug === event.tenantSlug)?.id ?? null,
        status: event.status,
        code: event.code,
        reason: cut(event.reason),
      };
    case 'closed':
      return {
        ...common,
        tenantId: event.tenantId,
        code: String(event.code),
        reason: cut(event.reason),
        closedBy: event.closedBy,
        durationMs: event.durationMs,
      };
  }
}

function cut(text: string): string {
  return text.length <= TEXT_MAX ? text : `${text.slice(0, TEXT_MAX - 1)}…`;
}
