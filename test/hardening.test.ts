import { once } from 'node:events';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, listAudit } from '../db/audit.ts';
import { openDatabase } from '../db/index.ts';
import { PRUNE_STEP } from '../db/retention.ts';
import { auditLog, meterSamples, tenants } from '../db/schema.ts';
import { eq } from 'drizzle-orm';
import { startServer } from '../server/app.ts';
import { backup } from '../server/backup.ts';
import { configSchema } from '../server/config.ts';
import { createLogger } from '../server/logger.ts';
import { paths } from '../server/paths.ts';
import { inlineScripts } from '../server/security-headers.ts';
import { signIn, startTestBroker, type TestBroker } from './support/broker.ts';
import { processes } from './support/process.ts';

const MiB = 1024 * 1024;

/** POSTs `bytes` of JSON-looking body, with a Content-Length or chunked; resolves with the status, however the upload ends. */
function postBig(port: number, path: string, bytes: number, chunked: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(bytes);
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const write = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

/** Resident memory of a process, in bytes (Linux). */
function rss(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

describe('request bodies', () => {
  const { run, cleanup } = processes();
  afterEach(cleanup);

  it('refuses API bodies over 1 MiB with 413, and memory stays flat under several 20 MB bodies', async () => {
    const broker = run({ PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1', BROKER_ADMIN_USER: 'ops', BROKER_ADMIN_PASSWORD: 'a long enough password' });
    const port = await broker.started;
    await postBig(port, '/trpc/auth.login', 2 * MiB, false); // warm up what a first request loads
    const before = rss(broker.child.pid!);
    const statuses = await Promise.all([
      postBig(port, '/trpc/auth.login', 20 * MiB, false),
      postBig(port, '/trpc/auth.login', 20 * MiB, false),
      postBig(port, '/trpc/auth.login', 20 * MiB, true),
      postBig(port, '/trpc/auth.login', 20 * MiB, true),
    ]);
    expect(statuses).toEqual([413, 413, 413, 413]);
    expect(rss(broker.child.pid!) - before).toBeLessThan(40 * MiB);
  });
});

describe('HTTP timeouts', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
  });
  afterAll(() => broker?.close());

  /** Opens a connection, sends `start` and then a byte every 100 ms; resolves with what the broker answered when it closed. */
  function trickle(start: string, overTls = false): Promise<{ answer: string; afterMs: number }> {
    const began = Date.now();
    return new Promise((resolve) => {
      const socket = overTls
        ? tls.connect({ port: broker.server.tlsPort, host: '127.0.0.1', rejectUnauthorized: false }, () => socket.write(start))
        : net.connect(broker.server.port, '127.0.0.1', () => socket.write(start));
      let answer = '';
      const timer = setInterval(() => socket.writable && socket.write('a'), 100);
      socket.on('data', (data) => (answer += data.toString()));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ answer, afterMs: Date.now() - began });
      });
    });
  }

  it('cuts off a client that sends its body too slowly, with 408', async () => {
    const { answer, afterMs } = await trickle('POST /trpc/auth.login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeLessThan(5000);
  });

  it('cuts off a client that sends its headers too slowly', async () => {
    const { answer, afterMs } = await trickle('GET / HTTP/1.1\r\nX-Slow: ');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeLessThan(5000);
  });

  it('cuts off slow clients on the TLS listener too', async () => {
    const { answer, afterMs } = await trickle('POST /trpc/auth.login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n', true);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(afterMs).toBeLessThan(5000);
  });
});

describe('retention', () => {
  it('deletes audit log entries older than AUDIT_RETENTION_DAYS when the broker starts, and keeps the rest', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-retention-'));
    const day = 24 * 60 * 60_000;
    const store = openDatabase(path.join(dataDir, 'broker.db'), paths.migrations);
    for (const [age, target] of [[31, 'old'], [29, 'recent']] as const) {
      appendAudit(store.db, { actor: 'station:CP', action: 'station.auth_failed', target });
      store.db.update(auditLog).set({ at: new Date(Date.now() - age * day) }).where(eq(auditLog.target, target)).run();
    }
    store.close();

    const server = await startServer(configSchema.parse({ port: 0, tlsPort: 0, host: '127.0.0.1', dataDir, auditRetentionDays: 30 }), {
      logger: createLogger('silent'),
    });
    await server.close();
    const after = openDatabase(path.join(dataDir, 'broker.db'));
    expect(listAudit(after.db, { limit: 10 }).map((e) => e.target)).toEqual(['recent']);
    after.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('sample retention', () => {
  it('deletes the samples older than SAMPLE_RETENTION_DAYS in steps when the broker starts, logs how many, and keeps the rest', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-retention-'));
    const day = 24 * 60 * 60_000;
    const store = openDatabase(path.join(dataDir, 'broker.db'), paths.migrations);
    const tenantId = store.db.insert(tenants).values({ name: 'A', slug: 'a', cpmsUrl: 'ws://cpms' }).returning().get().id;
    const old = PRUNE_STEP * 2 + 500; // three steps
    const now = Date.now();
    const row = (n: number, ageDays: number) => ({ tenantId, identity: `CP${n % 7}`, at: new Date(now - ageDays * day - n), measurand: 'Voltage', value: n });
    for (let n = 0; n < old; n += 1000) store.db.insert(meterSamples).values(Array.from({ length: Math.min(1000, old - n) }, (_, i) => row(n + i, 31))).run();
    store.db.insert(meterSamples).values(Array.from({ length: 10 }, (_, i) => row(i, 29))).run();
    store.close();

    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const server = await startServer(configSchema.parse({ port: 0, tlsPort: 0, host: '127.0.0.1', dataDir, sampleRetentionDays: 30 }), { logger });
    await expect.poll(() => lines.find((l) => l.event === 'samples.pruned'), { timeout: 10_000 }).toMatchObject({ pruned: old, retentionDays: 30 });
    await server.close();
    const after = openDatabase(path.join(dataDir, 'broker.db'));
    expect(after.db.select({ value: meterSamples.value }).from(meterSamples).all()).toHaveLength(10);
    after.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('file modes', () => {
  const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

  it('keeps the data directory (0700) and the database, its WAL and SHM, its backups and the key (0600) private, fixing older installs', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-modes-'));
    const config = configSchema.parse({ port: 0, tlsPort: 0, host: '127.0.0.1', dataDir });
    let server = await startServer(config, { logger: createLogger('silent') });
    const files = ['broker.db', 'broker.db-wal', 'broker.db-shm', 'secret.key'].map((name) => path.join(dataDir, name));
    expect([mode(dataDir), ...files.map(mode)]).toEqual(['700', '600', '600', '600', '600']);
    const copy = path.join(dataDir, 'copy.db');
    await backup(dataDir, copy);
    expect([mode(copy), mode(`${copy}.key`)]).toEqual(['600', '600']);
    await server.close();

    // As an install before this change left them:
    fs.chmodSync(dataDir, 0o755);
    for (const file of [...files, copy]) if (fs.existsSync(file)) fs.chmodSync(file, 0o644);
    fs.writeFileSync(path.join(dataDir, 'broker.db.before-migration-3-2026'), '', { mode: 0o644 });
    server = await startServer(config, { logger: createLogger('silent') });
    expect([mode(dataDir), ...files.map(mode), mode(path.join(dataDir, 'broker.db.before-migration-3-2026'))]).toEqual(['700', '600', '600', '600', '600', '600']);
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});

/** An HTTP request with a Host header of our choosing (fetch does not let one set it). */
function request(port: number, options: { path: string; method?: string; host?: string; body?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: options.path,
      method: options.method ?? 'GET',
      headers: { ...(options.host ? { host: options.host } : {}), ...(options.body ? { 'content-type': 'application/json' } : {}) },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('first-run setup', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ adminUser: undefined, adminPassword: undefined });
  });
  afterAll(() => broker?.close());

  it('answers only at the names and addresses of this machine, saying which ones (DNS rebinding)', async () => {
    const port = broker.server.port;
    const setup = JSON.stringify({ username: 'mallory', password: 'a long enough password' });
    for (const host of ['rebind.attacker.example', `rebind.attacker.example:${port}`, '203.0.113.7']) {
      const status = await request(port, { path: '/trpc/auth.status', host });
      expect(status.status).toBe(403);
      expect(JSON.parse(status.body).error).toMatchObject({
        message: expect.stringMatching(new RegExp(`only at this machine's own name or address \\(localhost, 127\\.0\\.0\\.1, ::1, ${os.hostname()}.*\\), not at ${host.split(':')[0]}`)),
        data: { code: 'FORBIDDEN' },
      });
      expect((await request(port, { path: '/trpc/auth.setup', method: 'POST', host, body: setup })).status).toBe(403);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `${os.hostname()}:${port}`]) {
      expect(JSON.parse((await request(port, { path: '/trpc/auth.status', host })).body)).toEqual({ result: { data: { setupRequired: true } } });
    }
    expect((await request(port, { path: '/trpc/auth.setup', method: 'POST', host: `localhost:${port}`, body: setup })).status).toBe(200);
    // Once an admin exists, the status answers at any name (the sign-in page).
    expect((await request(port, { path: '/trpc/auth.status', host: 'rebind.attacker.example' })).status).toBe(200);
  });
});

describe('stopping under a flood', () => {
  const { run, cleanup } = processes();
  afterEach(cleanup);

  it('exits within 5 seconds of SIGTERM while stations, sign-ins and large bodies flood it', { timeout: 60_000 }, async () => {
    const silent = net.createServer(() => {}).listen(0, '127.0.0.1'); // a CPMS that never answers: handshakes stay pending
    await once(silent, 'listening');
    const broker = run({ PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1', BROKER_ADMIN_USER: 'ops', BROKER_ADMIN_PASSWORD: 'a long enough password' });
    const port = await broker.started;
    const url = `http://127.0.0.1:${port}`;
    const cookie = await signIn(url, 'ops', 'a long enough password');
    const create = (slug: string, allowUnknownStations: boolean) =>
      fetch(`${url}/trpc/tenants.create`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ name: slug, slug, cpmsUrl: `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, allowUnknownStations }),
      });
    await create('pending', true);
    await create('closed', false);

    const flood = spawn(process.execPath, [path.join(import.meta.dirname, 'support', 'flood.ts'), String(port), 'pending', 'closed'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } });
    await once(flood.stdout!, 'data'); // flooding
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const signalled = Date.now();
    broker.child.kill('SIGTERM');
    await broker.exited;
    const tookMs = Date.now() - signalled;
    flood.kill('SIGKILL');
    silent.close();
    expect(tookMs).toBeLessThan(5000);
    // Either it stopped in time, or it said what was pending when its own deadline passed.
    expect(broker.lines.filter((l) => l.event === 'stopped' || l.event === 'stop.deadline')).not.toEqual([]);
  });
});

describe('security headers', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(() => broker?.close());

  it('come with every answer of the UI and the API; API answers are not stored by caches', async () => {
    const uiHtml = fs.readFileSync(path.join(paths.ui, 'index.html'), 'utf8');
    for (const pathname of ['/', '/tenants/1', '/trpc/auth.status', '/healthz', '/readyz', '/metrics', '/backup/broker.db']) {
      const response = await fetch(`${broker.server.url}${pathname}`);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, pathname).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('cache-control') === 'no-store', pathname).toBe(!['/', '/tenants/1'].includes(pathname));
    }
    // The inline script that starts the UI is allowed by its hash, and no other.
    const csp = (await fetch(`${broker.server.url}/`)).headers.get('content-security-policy')!;
    const hashes = inlineScripts(uiHtml).map((script) => `'sha256-${createHash('sha256').update(script).digest('base64')}'`);
    expect(hashes).not.toEqual([]);
    expect(/script-src ([^;]*)/.exec(csp)![1]!.split(' ')).toEqual(["'self'", ...hashes]);
  });
});
