import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { paths } from '../server/paths.ts';
import { apiClient, signIn } from './support/broker.ts';
import { startCpms, station } from './support/ocpp.ts';

/** What `npm start` runs: the bundles of scripts/build-server.ts (its `prestart` builds them when stale). */
const main = path.join(paths.root, 'build', 'server', 'main.mjs');
const ADMIN = { BROKER_ADMIN_USER: 'ops', BROKER_ADMIN_PASSWORD: 'a long enough password' };

const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(() => {
  const build = spawnSync(process.execPath, [path.join(paths.root, 'scripts', 'build-server.ts'), '--if-stale'], { cwd: paths.root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`scripts/build-server.ts failed:\n${build.stdout}${build.stderr}`);
}, 120_000);

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe("npm start's bundle", () => {
  it('serves the UI, the API and the proxy from another working directory, its worker thread writes what it observes, and it exits 0 on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-bundle-'));
    dirs.push(dir);
    const cpms = await startCpms();
    try {
      const child = spawn(process.execPath, [main, '--port', '0', '--tls-port', '0', '--host', '127.0.0.1'], {
        cwd: dir,
        env: { PATH: process.env.PATH, ...ADMIN },
      });
      children.push(child);
      const lines: Record<string, unknown>[] = [];
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
      const port = await new Promise<number>((resolve, reject) => {
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          lines.push(entry);
          if (entry.event === 'started') resolve(entry.port as number);
        });
        void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      const url = `http://127.0.0.1:${port}`;

      expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok', version: pkg.version, database: 'ok' });
      expect(await (await fetch(`${url}/`)).text()).toMatch(/<html/i);
      const api = apiClient(url, { cookie: await signIn(url, ADMIN.BROKER_ADMIN_USER, ADMIN.BROKER_ADMIN_PASSWORD) });
      // zod, bundled with its English messages only, still explains what is wrong with a field.
      await expect(api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'not a url' })).rejects.toMatchObject({
        data: { code: 'BAD_REQUEST', fieldErrors: { cpmsUrl: [expect.stringMatching(/\w+/)] } },
      });
      const tenant = await api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });

      const cp = station(`ws://127.0.0.1:${port}/ocpp/acme`, 'CP-BUNDLE', ['ocpp1.6']);
      await cp.connect();
      expect(await cp.call('BootNotification', { chargePointVendor: 'Vendor', chargePointModel: 'Model' })).toMatchObject({ status: 'Accepted' });
      await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE001', meterStart: 1000, timestamp: new Date().toISOString() });
      // Written by the observation writer's worker thread, build/server/writer-worker.mjs.
      await expect.poll(async () => (await api.transactions.list.query({ tenantId: tenant.id })).total, { timeout: 5_000 }).toBe(1);

      const stationClosed = new Promise((resolve) => cp.once('close', resolve));
      child.kill('SIGTERM');
      expect(await stationClosed).toMatchObject({ code: 1001 });
      expect(await exited).toBe(0);
      expect(lines.at(-1)).toMatchObject({ event: 'stopped' });
      expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
      expect(stderr).toBe('');
      expect(fs.existsSync(path.join(dir, 'data', 'broker.db'))).toBe(true);
    } finally {
      await cpms.close();
    }
  });
});
