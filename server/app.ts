import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import type { Logger } from 'pino';
import pkg from '../package.json' with { type: 'json' };
import type { Broker } from '../broker/index.ts';
import { pruneSessions } from '../db/users.ts';
import { pruneAudit } from '../db/audit.ts';
import { PRUNE_STEP, pruneLimitChanges, pruneSamples } from '../db/retention.ts';
import { openDatabase } from '../db/index.ts';
import { SESSION_IDLE_MS, SESSION_MAX_AGE_MS } from './auth/actor.ts';
import { createFirstAdmin } from './auth/first-admin.ts';
import { createSealer, loadOrCreateKey } from './auth/seal.ts';
import type { Config } from './config.ts';
import { lockDataDir } from './data-dir.ts';
import { registerAlertMetrics } from './dashboard.ts';
import { createRequestHandler, createUpgradeHandler } from './http.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { registerSiteMetrics } from './smart/metrics.ts';
import { createObservers } from './observers/index.ts';
import { createWriter, type WriterOptions } from './observers/writer.ts';
import { paths } from './paths.ts';
import { createServices, type ServiceParts } from './services.ts';
import type { CpmsProfiles } from './smart/cpms-profiles.ts';
import { ensureServerCertificate, serverCredentials, TLS_SETTINGS } from './tls/server-certificate.ts';

export interface RunningServer {
  port: number;
  tlsPort: number;
  /** http://<host>:<port> */
  url: string;
  /** https://<host>:<tlsPort> */
  tlsUrl: string;
  broker: Broker;
  /** The CPMS's own charging profiles on each station, as the broker watched them (server/smart/cpms-profiles.ts). */
  cpmsLimits: CpmsProfiles;
  /** Captured frames not written to the database yet. */
  observationsPending(): number;
  /** Stops accepting, closes every station link (1001) and its CPMS link, writes every observation, closes the database. */
  close(): Promise<void>;
  /** What is still open or unwritten, for the log line of a shutdown that runs out of time. */
  pending(): { stationsConnected: number; handshakes: { inFlight: number; queued: number }; writeQueue: number; closed: boolean };
}

export interface StartOptions {
  logger?: Logger;
  /** Test seams of the observation writer (server/observers/writer.ts). */
  writer?: Pick<WriterOptions, 'exitInBatch' | 'intervalMs'>;
  /** Test seams of smart charging (server/smart/dispatch.ts): the CPMS's limits, shorter timers. */
  smart?: ServiceParts['smart'];
}

/** Links still open this long into a shutdown are ended without a close handshake. */
const CLOSE_LINKS_TIMEOUT_MS = 3_000;
const DAY_MS = 24 * 60 * 60_000;
/** The limit change log of smart charging keeps at most this many rows, none older than this many days. */
const LIMIT_CHANGES_ROWS = 100_000;
const LIMIT_CHANGES_DAYS = 30;

/**
 * Starts the broker: the database and its secrets, the proxy, then the same handlers on two listeners:
 * http (`port`: ws:// and the UI) and https (`tlsPort`: wss:// and the UI).
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const startedAt = Date.now();

  const releaseDataDir = lockDataDir(config.dataDir);
  const store = openDatabase(path.join(config.dataDir, 'broker.db'), paths.migrations, paths.nativeBinding);
  if (store.backupBeforeMigrating) {
    log.info({ event: 'db.migrated', backup: store.backupBeforeMigrating }, 'database migrated; the version before is kept');
  }
  const sealer = createSealer(loadOrCreateKey(path.join(config.dataDir, 'secret.key')));
  await createFirstAdmin(store.db, config, log);
  await ensureServerCertificate(store.db, sealer, log);
  const pruneExpiredSessions = () =>
    pruneSessions(store.db, new Date(Date.now() - SESSION_IDLE_MS), new Date(Date.now() - SESSION_MAX_AGE_MS));
  pruneExpiredSessions();
  const pruning = setInterval(pruneExpiredSessions, 60 * 60_000).unref();

  const metrics = createMetrics({ broker: () => services.broker, observationsPending: () => writer.pending() });
  const writer = createWriter(path.join(config.dataDir, 'broker.db'), log, {
    ...options.writer,
    maxBytes: config.observationQueueMaxBytes,
    events: metrics.writer,
  });
  let stopPruning = false;
  let pruningSamples: Promise<void> | undefined;
  /** Old samples go PRUNE_STEP at a time, the traffic served between steps; one run at a time, stopped by close(). */
  const pruneOldSamples = async () => {
    const before = new Date(Date.now() - config.sampleRetentionDays * DAY_MS);
    let pruned = 0;
    for (let step = PRUNE_STEP; step === PRUNE_STEP && !stopPruning; await setImmediate()) pruned += step = pruneSamples(store.db, before);
    if (pruned) log.info({ event: 'samples.pruned', pruned, retentionDays: config.sampleRetentionDays }, 'old meter samples deleted');
  };
  const pruneOld = () => {
    pruningSamples ??= pruneOldSamples()
      .catch((error: unknown) => log.error({ err: error, event: 'samples.prune_failed' }, 'old meter samples could not be deleted'))
      .finally(() => (pruningSamples = undefined));
    const entries = pruneAudit(store.db, new Date(Date.now() - config.auditRetentionDays * DAY_MS));
    if (entries) log.info({ event: 'audit.pruned', pruned: entries, retentionDays: config.auditRetentionDays }, 'old audit log entries deleted');
    const limits = pruneLimitChanges(store.db, new Date(Date.now() - LIMIT_CHANGES_DAYS * DAY_MS), LIMIT_CHANGES_ROWS);
    if (limits) log.info({ event: 'limit_changes.pruned', pruned: limits }, 'old entries of the limit change log deleted');
  };
  pruneOld();
  const retention = setInterval(pruneOld, 6 * 60 * 60_000).unref();

  // Timeouts for a LAN service: a client that sends its request slowly holds a connection for seconds, not minutes.
  const timeouts = {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: Math.min(config.headersTimeoutMs, config.requestTimeoutMs), // Node wants headers ≤ request
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
  };
  const httpServer = http.createServer(timeouts);
  const httpsServer = https.createServer({ ...timeouts, ...TLS_SETTINGS, ...serverCredentials(store.db, sealer) });
  const services = createServices(config, {
    db: store.db,
    log,
    sealer,
    metrics,
    observers: createObservers(store.db, writer, log),
    observationsFlushed: () => writer.flushed(),
    smart: options.smart,
    reloadServerCertificate: () => httpsServer.setSecureContext({ ...TLS_SETTINGS, ...serverCredentials(store.db, sealer) }),
    writerHealth: () => {
      const reason = writer.problem();
      return reason === undefined ? { ok: true } : { ok: false, reason };
    },
  });
  const { broker, connections } = services;
  connections.prune();
  registerAlertMetrics(metrics.registry, () => services);
  registerSiteMetrics(metrics.registry, () => store.db);
  let ready = false;
  let closing: Promise<void> | undefined;
  const onRequest = createRequestHandler(services, {
    startedAt,
    databaseOk: store.ping,
    notReady: () => (ready ? writer.problem() : closing ? 'shutting down' : 'starting'),
    metricsToken: config.metricsToken,
  }, { maxBodyBytes: config.maxRequestBodyBytes });
  const onUpgrade = createUpgradeHandler(services);
  for (const server of [httpServer, httpsServer]) {
    server.on('request', onRequest);
    server.on('upgrade', onUpgrade);
  }
  httpsServer.on('tlsClientError', (error, socket) =>
    log.debug({ err: error.message, remoteAddress: socket.remoteAddress }, 'TLS handshake failed'),
  );

  let port: number;
  let tlsPort: number;
  try {
    port = await listen(httpServer, config.port, config.host);
    tlsPort = await listen(httpsServer, config.tlsPort, config.host);
  } catch (error) {
    // e.g. a port in use: leave nothing behind, so the data directory can be used again at once
    httpServer.close();
    clearInterval(pruning);
    clearInterval(retention);
    stopPruning = true;
    await pruningSamples;
    connections.close();
    await writer.close();
    store.close();
    releaseDataDir();
    throw error;
  }
  services.listening = { port, tlsPort };
  services.smart?.start();
  ready = true;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  log.info({ event: 'started', port, tlsPort, host: config.host, dataDir: config.dataDir, version: pkg.version }, 'broker started');

  let closed = false;
  return {
    pending: () => ({ stationsConnected: broker.count(), handshakes: broker.handshakes(), writeQueue: writer.pending(), closed }),
    port,
    tlsPort,
    url: `http://${hostInUrl}:${port}`,
    tlsUrl: `https://${hostInUrl}:${tlsPort}`,
    broker,
    cpmsLimits: services.cpmsLimits,
    observationsPending: () => writer.pending(),
    close: () =>
      (closing ??= (async () => {
        ready = false;
        clearInterval(pruning);
        clearInterval(retention);
        stopPruning = true;
        const smartStopped = services.smart?.close(); // its calls in flight fail (GONE) as the links close below
        const stopped = [httpServer, httpsServer].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        for (const server of [httpServer, httpsServer]) server.closeIdleConnections();
        await broker.close(CLOSE_LINKS_TIMEOUT_MS);
        for (const server of [httpServer, httpsServer]) server.closeAllConnections();
        await Promise.all(stopped);
        await smartStopped;
        connections.close(); // the stations just closed are in the log
        await writer.close(); // what the last frames said is written before the database closes
        await pruningSamples; // its step under way, if any, ends before the database closes
        store.close();
        releaseDataDir();
        closed = true;
        log.info({ event: 'stopped' }, 'broker stopped');
      })()),
  };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
