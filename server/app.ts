import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Logger } from 'pino';
import sirv from 'sirv';
import pkg from '../package.json' with { type: 'json' };
import { createBroker, OCPP_PATH_PREFIX, type Broker } from '../broker/index.ts';
import { appendAudit, countAdmins, createUser, pruneSessions } from '../db/accounts.ts';
import { openDatabase, type Db } from '../db/index.ts';
import { getTenantBySlug } from '../db/tenants.ts';
import type { Config } from './config.ts';
import { SESSION_IDLE_MS, SESSION_MAX_AGE_MS } from './auth/actor.ts';
import { hashPassword } from './auth/password.ts';
import { createSealer, loadOrCreateKey } from './auth/seal.ts';
import { LoginThrottle } from './auth/throttle.ts';
import { createLogger } from './logger.ts';
import { paths } from './paths.ts';
import { appRouter } from './routers/index.ts';
import { createContext, type Services } from './trpc.ts';

export interface RunningServer {
  port: number;
  /** http://<host>:<port> */
  url: string;
  broker: Broker;
  /** Stops accepting, closes every station link (1001) and its CPMS link, closes the database. */
  close(): Promise<void>;
}

/**
 * A POST that a page on another site could send without CORS approval: a form (urlencoded, multipart) or
 * text/plain. Mutations must be `application/json`, which a cross-site page can only send after a preflight that
 * the broker never approves; together with the SameSite=Strict session cookie this keeps other sites from acting.
 */
function isCrossSiteCapable(req: http.IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type !== 'application/json';
}

/** BROKER_ADMIN_USER and BROKER_ADMIN_PASSWORD create the first admin of an unattended install, and only that. */
async function createFirstAdmin(db: Db, config: Config, log: Logger): Promise<void> {
  if (!config.adminUser || !config.adminPassword || countAdmins(db) > 0) return;
  const passwordHash = await hashPassword(config.adminPassword);
  const user = db.transaction(() => {
    if (countAdmins(db) > 0) return undefined;
    const created = createUser(db, { username: config.adminUser!, passwordHash, role: 'admin' });
    appendAudit(db, { actor: 'system', action: 'user.create', target: `user:${created.username}`, after: created });
    return created;
  });
  if (user) log.info({ event: 'auth.setup', username: user.username }, 'first admin created from BROKER_ADMIN_USER');
}

/** Links still open this long into a shutdown are ended without a close handshake. */
const CLOSE_LINKS_TIMEOUT_MS = 3_000;

/** Starts the broker: database, then one HTTP server for the admin UI, tRPC, /healthz and OCPP upgrades. */
export async function startServer(config: Config, options: { logger?: Logger } = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const startedAt = Date.now();

  const store = openDatabase(path.join(config.dataDir, 'broker.db'), paths.migrations);
  const sealer = createSealer(loadOrCreateKey(path.join(config.dataDir, 'secret.key')));
  await createFirstAdmin(store.db, config, log);
  const pruneExpiredSessions = () =>
    pruneSessions(store.db, new Date(Date.now() - SESSION_IDLE_MS), new Date(Date.now() - SESSION_MAX_AGE_MS));
  pruneExpiredSessions();
  const pruning = setInterval(pruneExpiredSessions, 60 * 60_000).unref();

  const broker = createBroker({
    findTenant: (slug) => getTenantBySlug(store.db, slug),
    pingIntervalMs: config.pingIntervalMs,
    upstreamConnectTimeoutMs: config.upstreamConnectTimeoutMs,
    maxPayloadBytes: config.maxPayloadBytes,
    log,
  });

  const services: Services = { db: store.db, broker, log, sealer, throttle: new LoginThrottle() };
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    createContext: ({ req, res }) =>
      createContext(services, {
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress,
        secure: 'encrypted' in req.socket,
        setCookie: (cookie) => res.appendHeader('Set-Cookie', cookie),
      }),
    onError: ({ error, path }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') log.error({ err: error, path }, 'API error');
    },
  });
  const ui = fs.existsSync(paths.ui) ? sirv(paths.ui, { single: true, dev: false }) : undefined;

  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    if (pathname === '/healthz') {
      const databaseOk = store.ping();
      res.writeHead(databaseOk ? 200 : 503, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          status: databaseOk ? 'ok' : 'degraded',
          version: pkg.version,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          database: databaseOk ? 'ok' : 'error',
          stationsConnected: broker.count(),
        }),
      );
    } else if (pathname === '/trpc' || pathname.startsWith('/trpc/')) {
      if (isCrossSiteCapable(req)) {
        res.writeHead(415, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'API calls that change anything must be sent as application/json' } }));
        return;
      }
      trpc(req, res);
    } else {
      const notFound = () => {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end(ui ? 'Not found\n' : 'Not found: the admin UI is not built (npm run build)\n');
      };
      if (ui) ui(req, res, notFound);
      else notFound();
    }
  });

  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith(OCPP_PATH_PREFIX)) {
      broker.handleUpgrade(req, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as import('node:net').AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  log.info({ event: 'started', port, host: config.host, dataDir: config.dataDir, version: pkg.version }, 'broker started');

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    broker,
    close: () =>
      (closing ??= (async () => {
        clearInterval(pruning);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await broker.close(CLOSE_LINKS_TIMEOUT_MS);
        server.closeAllConnections();
        await stopped;
        store.close();
        log.info({ event: 'stopped' }, 'broker stopped');
      })()),
  };
}
