import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TRPCError } from '@trpc/server';
import { expect } from 'vitest';
import pino from 'pino';
import { createUser } from '../../db/users.ts';
import { openDatabase } from '../../db/index.ts';
import type { Role } from '../../db/schema.ts';
import { startSession, SESSION_COOKIE } from '../../server/auth/actor.ts';
import { hashPassword } from '../../server/auth/password.ts';
import { createSealer, loadOrCreateKey } from '../../server/auth/seal.ts';
import { createMetrics } from '../../server/metrics.ts';
import { registerSiteMetrics } from '../../server/smart/metrics.ts';
import { paths } from '../../server/paths.ts';
import { createCaller } from '../../server/routers/index.ts';
import { createServices } from '../../server/services.ts';
import { createContext, type RequestInfo } from '../../server/trpc.ts';

export const PASSWORD = 'a password long enough';

/**
 * The API without HTTP: the real routers and context factory on a real SQLite file migrated with the real
 * migrations. Callers are made from request headers, so authentication runs exactly as it does over HTTP.
 */
export function openTestApi() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-api-'));
  const file = path.join(dir, 'broker.db');
  const store = openDatabase(file, paths.migrations);
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const sealer = createSealer(loadOrCreateKey(path.join(dir, 'secret.key')));
  const metrics = createMetrics({ broker: () => services.broker, observationsPending: () => 0 });
  registerSiteMetrics(metrics.registry, () => store.db);
  let reloads = 0;
  const services = createServices(
    {
      dataDir: dir,
      pingIntervalMs: 30_000,
      upstreamConnectTimeoutMs: 1_000,
      cpmsHandshakeConcurrency: 64,
      cpmsHandshakeQueue: 1000,
      stationAuthFailuresPerAddress: 200,
      maxPayloadBytes: 1024 * 1024,
      connectionLogRetentionDays: 30,
      stationSilentAfterMs: 600_000,
      stationOfflineAlertMinutes: 15,
    },
    { db: store.db, log, sealer, metrics, reloadServerCertificate: () => void reloads++ },
  );
  services.listening = { port: 8080, tlsPort: 8443 };
  const { connections } = services;

  /** A caller that sends `request` with every call (authenticated anew each time); `cookies` collects what the API sets. */
  function call(request: Partial<RequestInfo> = {}, cookies: string[] = []) {
    return createCaller(() =>
      createContext(services, { headers: {}, remoteAddress: '192.0.2.1', setCookie: (c) => cookies.push(c), ...request }),
    );
  }

  /** A user with a signed-in session, and a caller that sends its cookie. */
  async function as(username: string, role: Role) {
    const user = createUser(store.db, { username, passwordHash: await hashPassword(PASSWORD), role });
    const sessionId = startSession(store.db, user.id);
    return { user, sessionId, api: call({ headers: { cookie: `${SESSION_COOKIE}=${sessionId}` } }) };
  }

  return {
    dir,
    file,
    store,
    services,
    logs,
    call,
    as,
    /** How often the API asked the TLS listener to reload its certificate. */
    reloads: () => reloads,
    /** The database file as bytes, for checking what is (not) stored in clear. */
    raw: () => {
      store.checkpoint();
      return fs.readFileSync(file).toString('latin1');
    },
    close() {
      connections.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type TestApi = ReturnType<typeof openTestApi>;

/** The TRPCError a call is refused with; fails the test when it is not refused, or not with one. */
export async function rejection(promise: Promise<unknown>): Promise<TRPCError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCError);
  return error as TRPCError;
}

/** The TRPCError code a call ends with, or 'OK'; other errors are thrown. */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}

export type AdminApi = Awaited<ReturnType<TestApi['as']>>['api'];

/** A fresh test API, an admin ("root") signed in, and one tenant "acme": the start of most API tests. */
export async function openTestApiWithTenant(): Promise<{ t: TestApi; api: AdminApi; tenantId: number }> {
  const t = openTestApi();
  const api = (await t.as('root', 'admin')).api;
  const { id: tenantId } = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://cpms.example' });
  return { t, api, tenantId };
}
