import type { IncomingHttpHeaders } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import type { Logger } from 'pino';
import { z, ZodError } from 'zod';
import type { Broker } from '../broker/index.ts';
import { appendAudit } from '../db/audit.ts';
import type { Db } from '../db/index.ts';
import { actorName, authenticate, type Actor } from './auth/actor.ts';
import type { Sealer } from './auth/seal.ts';
import type { Inspector } from './inspector/index.ts';
import type { Metrics } from './metrics.ts';
import type { SignInThrottle } from './auth/login-throttle.ts';
import type { ConnectionLog } from './connections.ts';
import type { CpmsTester } from './cpms-test.ts';
import type { CpmsProfiles } from './smart/cpms-profiles.ts';
import type { Dispatch } from './smart/dispatch.ts';
import { hostOfHeader } from './own-host.ts';

/** What lives as long as the server. */
export interface Services {
  db: Db;
  broker: Broker;
  log: Logger;
  sealer: Sealer;
  /** Sign-in attempts (and password changes): server/auth/login-throttle.ts. */
  throttle: SignInThrottle;
  /** Makes the TLS listener use the server certificates now in the database. */
  reloadServerCertificate: () => void;
  /** The ports the broker listens on, once it does. */
  listening: { port: number; tlsPort: number };
  metrics: Metrics;
  /** The last frames of each station, in memory. */
  inspector: Inspector;
  /** The data directory (for backups). */
  dataDir: string;
  /** Station connections opened, refused and closed; CPMS health; when stations were last seen. */
  connections: ConnectionLog;
  /** The CPMS's own charging profiles on each station, watched (server/smart/cpms-profiles.ts): what dispatch must respect. */
  cpmsLimits: CpmsProfiles;
  /** Test handshakes toward tenants' CPMSs. */
  cpmsTester: CpmsTester;
  /** When a station counts as offline, and when that is an alert. */
  offline: { stationSilentAfterMs: number; stationOfflineAlertMinutes: number };
  /**
   * Whether the observation writer keeps up. Optional: ok when absent; the writer's owner wires it
   * (e.g. from its pending count) without the dashboard knowing how the writer works.
   */
  writerHealth?: () => { ok: boolean; reason?: string };
  /** The address the broker was told to listen on (`host`), when it is not all of them. */
  host?: string;
  /** Smart charging's dispatch (server/smart/dispatch.ts): told when a site or a station's assignment changes. */
  smart?: Dispatch;
}

/** What a request brings: HTTP gives it, tests can make one up. */
export interface RequestInfo {
  headers: IncomingHttpHeaders;
  remoteAddress?: string;
  /** Served over HTTPS: cookies get `Secure`. */
  secure?: boolean;
  setCookie?: (cookie: string) => void;
}

export interface Context extends Services {
  actor: Actor | null;
  /** The request's `Host` header without its port; undefined when there is none (a caller without HTTP). */
  requestHost: string | undefined;
  remoteAddress: string;
  secure: boolean;
  setCookie: (cookie: string) => void;
}

export function createContext(services: Services, request: RequestInfo): Context {
  return {
    ...services,
    actor: authenticate(services.db, request.headers),
    requestHost: hostOfHeader(request.headers.host),
    remoteAddress: request.remoteAddress ?? '',
    secure: request.secure ?? false,
    setCookie: request.setCookie ?? (() => {}),
  };
}

const t = initTRPC.context<Context>().create({
  // Subscriptions (server-sent events): a ping keeps proxies from closing an idle stream and lets a dead client be
  // noticed; after maxDurationMs the stream ends and the browser reconnects, so a session that ended meanwhile stops it.
  sse: { ping: { enabled: true, intervalMs: 10_000 }, maxDurationMs: 10 * 60_000, client: { reconnectAfterInactivityMs: 25_000 } },
  errorFormatter({ shape, error }) {
    const cause = error.cause as { retryAfterSeconds?: number; reason?: string } | undefined;
    // TOO_MANY_REQUESTS: when to come back, and whether for failed attempts ('throttled') or a full queue ('busy').
    const data = { ...shape.data, stack: undefined, retryAfterSeconds: cause?.retryAfterSeconds, reason: cause?.reason };
    if (!(error.cause instanceof ZodError)) return { ...shape, data };
    // Field-level messages for forms, from the same zod schemas the UI uses.
    return { ...shape, message: z.prettifyError(error.cause), data: { ...data, fieldErrors: z.flattenError(error.cause).fieldErrors } };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Only for logging in and creating the first admin. Everything else needs a session or a token. */
export const publicProcedure = t.procedure;

/** Any signed-in user or token: reading. */
export const viewerProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.actor) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in, or send an API token' });
  return next({ ctx: { ...ctx, actor: ctx.actor } });
});

/** Admins only: every change. */
export const adminProcedure = viewerProcedure.use(({ ctx, next }) => {
  if (ctx.actor.user.role !== 'admin') throw new TRPCError({ code: 'FORBIDDEN', message: 'Viewers cannot change anything' });
  return next();
});

/** Records a change in the audit log. `before` and `after` must be public views: never pass a secret. */
export function audit(ctx: Context, action: string, target: string | null, change: { before?: unknown; after?: unknown } = {}): void {
  appendAudit(ctx.db, { actor: actorName(ctx.actor), action, target, remoteAddress: ctx.remoteAddress, ...change });
}

/** The thing an input names, or NOT_FOUND: "No such <what>". */
export function found<T>(thing: T | undefined, what: string): T {
  if (thing === undefined) throw new TRPCError({ code: 'NOT_FOUND', message: `No such ${what}` });
  return thing;
}

/**
 * The unique indexes an admin's input can run into, by the columns SQLite names in the violation
 * ("UNIQUE constraint failed: tenants.slug"), with what the admin is told.
 */
const UNIQUE_INDEXES: Record<string, (input: Record<string, unknown>) => string> = {
  'tenants.slug': (input) => `The slug "${String(input.slug)}" is taken`,
  'stations.tenant_id, stations.identity': (input) => `"${String(input.identity)}" is registered already`,
  'users.username': (input) => `The username "${String(input.username)}" is taken`,
  'sites.tenant_id, sites.name': (input) => `A site "${String(input.name)}" exists already`,
};

/** CONFLICT with the index's message when `error` is a violation of one of UNIQUE_INDEXES; otherwise undefined. */
export function conflictOf(error: unknown, input: object): TRPCError | undefined {
  if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') return undefined;
  const columns = /UNIQUE constraint failed: (.+)$/.exec((error as Error).message)?.[1];
  const message = columns === undefined ? undefined : UNIQUE_INDEXES[columns];
  return message && new TRPCError({ code: 'CONFLICT', message: message(input as Record<string, unknown>), cause: error });
}

/**
 * An admin's change and its audit row (`audit` inside `change`) in one transaction: when either fails, neither is
 * kept. A unique index the change runs into is CONFLICT, with its message from UNIQUE_INDEXES. Synchronous
 * (better-sqlite3): hash passwords before, and close stations after, once the change is committed.
 */
export function audited<T>(ctx: Context, input: object, change: () => T): T {
  try {
    return ctx.db.transaction(change);
  } catch (error) {
    throw conflictOf(error, input) ?? error;
  }
}
