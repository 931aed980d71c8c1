import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.ts';
import { signIn } from './support/broker.ts';
import { startCpms, station } from './support/ocpp.ts';
import { processes } from './support/process.ts';

const { run, tempDir, cleanup } = processes();
afterEach(cleanup);

describe('the broker process', () => {
  it('starts on an empty data directory and answers /healthz', async () => {
    const broker = run({ PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1' });
    const port = await broker.started;
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ok',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      uptimeSeconds: expect.any(Number),
      database: 'ok',
      stationsConnected: 0,
    });
    expect(fs.existsSync(path.join(broker.cwd, 'data', 'broker.db'))).toBe(true);
  });

  it('on SIGTERM closes each station with 1001 and its CPMS link, and exits 0', async () => {
    const dataDir = tempDir();
    const cpms = await startCpms();
    const broker = run({ PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, BROKER_ADMIN_USER: 'ops', BROKER_ADMIN_PASSWORD: 'a long enough password' });
    const port = await broker.started;
    const cookie = await signIn(`http://127.0.0.1:${port}`, 'ops', 'a long enough password');
    const created = await fetch(`http://127.0.0.1:${port}/trpc/tenants.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true }),
    });
    expect(created.status).toBe(200);

    const cp = station(`ws://127.0.0.1:${port}/ocpp/acme`, 'CP-STOP', ['ocpp1.6']);
    const upstream = cpms.nextClient();
    await cp.connect();
    const stationClosed = new Promise((resolve) => cp.once('close', resolve));
    const cpmsClosed = new Promise((resolve) => void upstream.then((c) => c.once('close', resolve)));

    broker.child.kill('SIGTERM');
    expect(await stationClosed).toEqual({ code: 1001, reason: 'Broker shutting down' });
    expect(await cpmsClosed).toMatchObject({ code: 1001 });
    expect(await broker.exited).toBe(0);
    expect(broker.lines.at(-1)).toMatchObject({ event: 'stopped' });
    await cpms.close();
  });

  it('refuses to start with a short BROKER_ADMIN_PASSWORD, without showing it', async () => {
    const broker = run({ BROKER_ADMIN_USER: 'ops', BROKER_ADMIN_PASSWORD: 'eleven-char' });
    expect(await broker.exited).toBe(1);
    expect(broker.stderr().trim()).toBe('Invalid configuration: BROKER_ADMIN_PASSWORD = (hidden): At least 12 characters');
  });

  it('says in one line that its port is in use, and leaves the data directory free', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const dataDir = tempDir();
    const port = String((taken.address() as net.AddressInfo).port);
    const broker = run({ PORT: port, TLS_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir });
    expect(await broker.exited).toBe(1);
    expect(broker.stderr()).toBe(`listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
    expect(fs.existsSync(path.join(dataDir, 'broker.pid'))).toBe(false);
    taken.close();
  });

  it('refuses to start on an invalid setting with one line naming it', async () => {
    const broker = run({ PORT: 'eighty' });
    expect(await broker.exited).toBe(1);
    expect(broker.stderr().trim().split('\n')).toEqual([expect.stringMatching(/^Invalid configuration: PORT \(--port\) = "eighty": /)]);
  });
});

describe('configuration', () => {
  it('has defaults for everything', () => {
    expect(loadConfig([], {})).toEqual({
      port: 8080,
      tlsPort: 8443,
      host: '0.0.0.0',
      dataDir: './data',
      logLevel: 'info',
      pingIntervalMs: 30_000,
      upstreamConnectTimeoutMs: 10_000,
      cpmsHandshakeConcurrency: 64,
      cpmsHandshakeQueue: 1000,
      stationAuthFailuresPerAddress: 200,
      maxPayloadBytes: 16 * 1024 * 1024,
      sampleRetentionDays: 400,
      connectionLogRetentionDays: 30,
      stationSilentAfterMs: 600_000,
      stationOfflineAlertMinutes: 15,
      observationQueueMaxBytes: 64 * 1024 * 1024,
      auditRetentionDays: 400,
      maxRequestBodyBytes: 1024 * 1024,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
    });
  });

  it('takes flags over environment variables', () => {
    const config = loadConfig(['--port', '9000', '--data-dir', '/srv/broker'], { PORT: '8000', HOST: '127.0.0.1', PING_INTERVAL_MS: '5000' });
    expect(config).toMatchObject({ port: 9000, dataDir: '/srv/broker', host: '127.0.0.1', pingIntervalMs: 5000 });
  });

  it('names the bad setting', () => {
    expect(() => loadConfig([], { LOG_LEVEL: 'loud' })).toThrow(/^Invalid configuration: LOG_LEVEL \(--log-level\) = "loud": /);
    expect(() => loadConfig(['--port', '70000'], {})).toThrow(/PORT \(--port\) = "70000"/);
    expect(() => loadConfig(['--bogus'], {})).toThrow(/^Invalid command line: .*--bogus/);
  });
});
