import type { IncomingHttpHeaders } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import type { Logger } from 'pino';
import { z, ZodError } from 'zod';
import type { Broker } from '../broker/index.ts';
import { appendAudit } from '../db/accounts.ts';
import type { Db } from '../db/index.ts';
import { actorName, authenticate, type Actor } from './auth/actor.ts';
import type { Sealer } from './auth/seal.ts';
import type { Metrics } from './metrics.ts';
import { hostOfHeader } from './own-host.ts';
import type { LoginThrottle } from './auth/throttle.ts';

/** What lives as long as the server. */
export interface Services {
  db: Db;
  broker: Broker;
  log: Logger;
  sealer: Sealer;
  /** Failed admin logins. */
  throttle: LoginThrottle;
  /** Makes the TLS listener use the server certificates now in the database. */
  reloadServerCertificate: () => void;
  /** The ports the broker listens on, once it does. */
  listening: { port: number; tlsPort: number };
  metrics: Metrics;
  /** The data directory (for backups). */
  dataDir: string;
  /** The address the broker was told to listen on (`host`), when it is not all of them. */
  host?: string;
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
  errorFormatter({ shape, error }) {
    const data = { ...shape.data, stack: undefined, retryAfterSeconds: (error.cause as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds };
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
