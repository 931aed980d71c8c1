import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createTRPCClient, httpLink } from '@trpc/client';
import { configSchema, type Config } from '../../server/config.ts';
import { startServer, type RunningServer, type StartOptions } from '../../server/app.ts';
import { createLogger } from '../../server/logger.ts';
import type { AppRouter } from '../../server/routers/index.ts';

export interface TestBroker {
  server: RunningServer;
  /** Signed in as TEST_ADMIN (anonymous when there is none). */
  api: ReturnType<typeof apiClient>;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  dataDir: string;
  /** ws://127.0.0.1:<port>/ocpp/<slug> */
  endpoint(slug: string): string;
  close(): Promise<void>;
}

/** The first admin of a test broker, created at start-up (BROKER_ADMIN_USER/PASSWORD). */
export const TEST_ADMIN = { adminUser: 'admin', adminPassword: 'correct horse battery staple' };

export function apiClient(url: string, headers: Record<string, string> = {}) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${url}/trpc`, headers })] });
}

/** Signs in through the API as the UI does; returns the session cookie to send back. */
export async function signIn(url: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${url}/trpc/auth.login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const setCookie = response.headers.get('set-cookie');
  if (!response.ok || !setCookie) throw new Error(`sign-in failed: HTTP ${response.status} ${await response.text()}`);
  return setCookie.split(';')[0]!;
}

/**
 * The real server on port 0 with a fresh data directory, its logs captured, and an API client signed in as
 * TEST_ADMIN. Pass `{ adminUser: undefined, adminPassword: undefined }` for a broker without any admin.
 */
export async function startTestBroker(overrides: Partial<Config> = {}, options: Omit<StartOptions, 'logger'> = {}): Promise<TestBroker> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocpp-broker-test-'));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = configSchema.parse({ port: 0, tlsPort: 0, host: '127.0.0.1', dataDir, logLevel: 'debug', ...TEST_ADMIN, ...overrides });
  const server = await startServer(config, { ...options, logger: createLogger(config.logLevel, sink) });
  const cookie = config.adminUser ? await signIn(server.url, config.adminUser, config.adminPassword!) : undefined;
  const api = apiClient(server.url, cookie ? { cookie } : {});
  return {
    server,
    api,
    logs,
    dataDir,
    endpoint: (slug) => `ws://127.0.0.1:${server.port}/ocpp/${slug}`,
    async close() {
      await server.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
