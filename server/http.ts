import { timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import sirv from 'sirv';
import pkg from '../package.json' with { type: 'json' };
import { OCPP_PATH_PREFIX } from '../broker/index.ts';
import { appendAudit } from '../db/audit.ts';
import { actorName, authenticate } from './auth/actor.ts';
import { backup } from './backup.ts';
import { paths } from './paths.ts';
import { appRouter } from './routers/index.ts';
import { MAX_BATCH_SIZE } from '../contract/index.ts';
import { contentSecurityPolicy, setSecurityHeaders } from './security-headers.ts';
import { createContext, type Services } from './trpc.ts';

/** What both listeners (http and https) answer: /healthz, the API at /trpc, and the UI everywhere else. */
export interface Health {
  startedAt: number;
  databaseOk: () => boolean;
  /** Why the broker should get no traffic now (starting, shutting down, its observation writer behind), if so. */
  notReady: () => string | undefined;
  /** When set, /metrics wants it as a bearer token. */
  metricsToken?: string;
}

/**
 * API calls whose bodies may be larger than `maxRequestBodyBytes`: the driver import carries a file of up to 32 MiB
 * as base64 (about 43 MiB) in its JSON.
 */
export const LARGE_BODY_PROCEDURES: Record<string, number> = { 'drivers.importStart': 48 * 1024 * 1024 };

export function createRequestHandler(services: Services, health: Health, limits: { maxBodyBytes: number }): RequestListener {
  const { log, broker } = services;
  const trpcWithLimit = (maxBodySize: number) =>
    createHTTPHandler({
      router: appRouter,
      basePath: '/trpc/',
      maxBatchSize: MAX_BATCH_SIZE,
      // Larger bodies get 413 once this much has arrived; the rest is read and dropped (within requestTimeoutMs), so
      // that the client sees the answer rather than a reset connection.
      maxBodySize,
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
  const handlers = new Map<number, ReturnType<typeof trpcWithLimit>>();
  const trpcFor = (maxBodySize: number) => handlers.get(maxBodySize) ?? handlers.set(maxBodySize, trpcWithLimit(maxBodySize)).get(maxBodySize)!;
  const ui = fs.existsSync(paths.ui) ? sirv(paths.ui, { single: true, dev: false }) : undefined;
  const indexHtml = path.join(paths.ui, 'index.html');
  const csp = contentSecurityPolicy(fs.existsSync(indexHtml) ? fs.readFileSync(indexHtml, 'utf8') : undefined);

  return (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    setSecurityHeaders(res, csp);
    if (!isUiPath(pathname)) res.setHeader('Cache-Control', 'no-store'); // answers about the broker and its data
    if (pathname === '/healthz') {
      const databaseOk = health.databaseOk();
      res.writeHead(databaseOk ? 200 : 503, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          status: databaseOk ? 'ok' : 'degraded',
          version: pkg.version,
          uptimeSeconds: Math.round((Date.now() - health.startedAt) / 1000),
          database: databaseOk ? 'ok' : 'error',
          stationsConnected: broker.count(),
        }),
      );
    } else if (pathname === '/readyz') {
      const reason = health.notReady() ?? (health.databaseOk() ? undefined : 'the database does not answer');
      res.writeHead(reason === undefined ? 200 : 503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(reason === undefined ? { ready: true } : { ready: false, reason }));
    } else if (pathname === '/metrics') {
      if (health.metricsToken !== undefined && !bearerIs(req.headers.authorization, health.metricsToken)) {
        res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' }).end('A bearer token is required\n');
        return;
      }
      void services.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': services.metrics.registry.contentType }).end(text),
        (error: unknown) => {
          log.error({ err: error }, 'metrics failed');
          res.writeHead(500).end();
        },
      );
    } else if (pathname === BACKUP_PATHS.database || pathname === BACKUP_PATHS.key) {
      void downloadBackup(services, req, res, pathname === BACKUP_PATHS.key ? 'key' : 'database');
    } else if (pathname === '/trpc' || pathname.startsWith('/trpc/')) {
      if (isCrossSiteCapable(req)) {
        res.writeHead(415, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'API calls that change anything must be sent as application/json' } }));
        return;
      }
      const maxBodySize = bodyLimit(pathname, limits.maxBodyBytes);
      if (Number(req.headers['content-length'] ?? 0) > maxBodySize) {
        // Refused before reading any of it (Node drops the body after the answer).
        res.writeHead(413, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `The request body is larger than ${maxBodySize} bytes`, data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 } } }));
        return;
      }
      trpcFor(maxBodySize)(req, res);
    } else {
      const notFound = () => {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end(ui ? 'Not found\n' : 'Not found: the admin UI is not built (npm run build)\n');
      };
      if (ui) ui(req, res, notFound);
      else notFound();
    }
  };
}

/** The UI's files (cacheable); everything else answers about the broker and its data. */
function isUiPath(pathname: string): boolean {
  return !['/healthz', '/readyz', '/metrics'].includes(pathname) && !pathname.startsWith('/trpc') && !pathname.startsWith('/backup/');
}

/** The body limit of an API call: the largest of the procedures it names (a batch is `/trpc/a,b`). */
function bodyLimit(pathname: string, normal: number): number {
  const procedures = pathname.slice('/trpc/'.length).split(/,|%2C/i);
  return Math.max(normal, ...procedures.map((name) => LARGE_BODY_PROCEDURES[name] ?? 0));
}

/** WebSocket upgrades: OCPP on /ocpp/…, nothing else. */
export function createUpgradeHandler(services: Services) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.url?.startsWith(OCPP_PATH_PREFIX)) {
      services.broker.handleUpgrade(req, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  };
}

/**
 * A POST that a page on another site could send without CORS approval: a form (urlencoded, multipart) or
 * text/plain. Mutations must be `application/json`, which a cross-site page can only send after a preflight that
 * the broker never approves; together with the SameSite=Strict session cookie this keeps other sites from acting.
 */
function isCrossSiteCapable(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type !== 'application/json';
}

/** Compares a bearer token in constant time. */
function bearerIs(header: string | undefined, token: string): boolean {
  const sent = Buffer.from(/^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return sent.length === expected.length && timingSafeEqual(sent, expected);
}

/** Where an admin downloads a backup: the database (a fresh online backup) and the key that opens its secrets. */
export const BACKUP_PATHS = { database: '/backup/broker.db', key: '/backup/secret.key' } as const;

async function downloadBackup(services: Services, req: IncomingMessage, res: ServerResponse, what: 'database' | 'key'): Promise<void> {
  const actor = authenticate(services.db, req.headers);
  if (!actor || actor.user.role !== 'admin') {
    res.writeHead(actor ? 403 : 401, { 'Content-Type': 'text/plain' }).end(actor ? 'Admins only\n' : 'Sign in first\n');
    return;
  }
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'ocpp-broker-backup-'));
  try {
    const written = await backup(services.dataDir, path.join(dir, 'broker.db'));
    const file = what === 'key' ? written.key : written.database;
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('There is no key file yet\n');
      return;
    }
    appendAudit(services.db, { actor: actorName(actor), action: 'backup.download', target: what, remoteAddress: req.socket.remoteAddress });
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': `attachment; filename="${what === 'key' ? `secret-${stamp}.key` : `broker-${stamp}.db`}"`,
      'Cache-Control': 'no-store',
    });
    await pipeline(fs.createReadStream(file), res);
  } catch (error) {
    services.log.error({ err: error }, 'backup download failed');
    if (!res.headersSent) res.writeHead(500).end();
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
