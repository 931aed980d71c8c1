import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createTRPCClient, httpLink } from '@trpc/client';
import { configSchema, type Config } from '../../server/config.ts';
import { startServer, type RunningServer } from '../../server/app.ts';
import { createLogger } from '../../server/logger.ts';
import type { AppRouter } from '../../server/routers/index.ts';

export interface TestBroker {
  server: RunningServer;
  api: ReturnType<typeof createTRPCClient<AppRouter>>;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  dataDir: string;
  /** ws://127.0.0.1:<port>/ocpp/<slug> */
  endpoint(slug: string): string;
  close(): Promise<void>;
}

/** The real server on port 0 with a fresh data directory, its logs captured. */
export async function startTestBroker(overrides: Partial<Config> = {}): Promise<TestBroker> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocpp-broker-test-'));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = configSchema.parse({ port: 0, host: '127.0.0.1', dataDir, logLevel: 'debug', ...overrides });
  const server = await startServer(config, { logger: createLogger(config.logLevel, sink) });
  const api = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${server.url}/trpc` })] });
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
