import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { options } from '../server/config.ts';
import { MALLOC_SETTINGS } from '../server/malloc-settings.ts';
import { paths } from '../server/paths.ts';
import { apiClient, signIn } from './support/broker.ts';
import { startCpms, station } from './support/ocpp.ts';
import { environOf } from './support/process.ts';

/**
 * dist/ocpp-broker, the single executable (scripts/package.ts), run as an operator would: copied alone into an empty
 * directory, with an environment that has no Node of the project's (PATH has only the machine's /usr/bin/node, Node
 * 20, which must never be used).
 */
const executable = path.join(paths.root, 'dist', 'ocpp-broker');
const CLEAN_PATH = '/usr/bin:/bin';
const ADMIN = { BROKER_ADMIN_USER: 'ops', BROKER_ADMIN_PASSWORD: 'a long enough password' };
const LISTEN = { PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1' };

const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(() => {
  // Rebuilds only when dist/ocpp-broker is missing or older than what it is made from.
  const build = spawnSync(process.execPath, [path.join(paths.root, 'scripts', 'package.ts'), '--if-stale'], {
    cwd: paths.root,
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`scripts/package.ts failed:\n${build.stdout}${build.stderr}`);
}, 300_000);

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-exe-'));
  dirs.push(dir);
  return dir;
}

/** A copy of the executable alone in a new empty directory. */
function installCopy(): { dir: string; exe: string } {
  const dir = tempDir();
  const exe = path.join(dir, 'ocpp-broker');
  fs.copyFileSync(executable, exe);
  fs.chmodSync(exe, 0o755);
  return { dir, exe };
}

/** Starts `exe` in its own directory with only `env` (and the clean PATH). */
function launch(exe: string, env: Record<string, string>, args: string[] = []) {
  const child = spawn(exe, args, { cwd: path.dirname(exe), env: { PATH: CLEAN_PATH, ...env } });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const started = new Promise<number>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.event === 'started') resolve(entry.port as number);
    });
    void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
  started.catch(() => {}); // awaited only where a start is expected
  return { child, lines, started, exited, stderr: () => stderr };
}

/** Runs `exe` to completion (--help, --version). */
function runToEnd(exe: string, args: string[], env: Record<string, string>) {
  return spawnSync(exe, args, { cwd: path.dirname(exe), env: { PATH: CLEAN_PATH, ...env }, encoding: 'utf8', timeout: 10_000 });
}

/** Processes whose parent is `pid`: the executable must not start any (a `node` among them least of all). */
function childProcessesOf(pid: number): string[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      const stat = tryRead(`/proc/${entry}/stat`); // pid (comm) state ppid …
      const ppid = stat ? Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) : undefined;
      return ppid === pid ? [tryRead(`/proc/${entry}/cmdline`)?.replaceAll('\0', ' ') ?? entry] : [];
    });
}

function tryRead(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined; // the process has gone meanwhile
  }
}

/** The one directory of extracted files under `cacheBase`, and whatever else is there (there should be nothing). */
function cacheEntries(cacheBase: string): string[] {
  return fs.existsSync(cacheBase) ? fs.readdirSync(cacheBase) : [];
}

const versionDir = new RegExp(`^${pkg.version.replaceAll('.', '\\.')}-[0-9a-f]{16}$`);

describe('the single executable', () => {
  it('runs in an empty directory where PATH has no Node of the project', () => {
    const which = spawnSync('which', ['node'], { env: { PATH: CLEAN_PATH }, encoding: 'utf8' });
    const found = which.stdout.trim();
    expect(found.startsWith(paths.root)).toBe(false);
    if (found) expect(execFileSync(found, ['--version'], { encoding: 'utf8' })).not.toMatch(/^v24\./);
  });

  it('serves /healthz, the UI, the API and the proxy, writes what it observes, and exits 0 on SIGTERM', async () => {
    const { dir, exe } = installCopy();
    const home = path.join(dir, 'home');
    const cpms = await startCpms();
    try {
      const broker = launch(exe, { HOME: home, ...LISTEN, ...ADMIN });
      const port = await broker.started;
      const url = `http://127.0.0.1:${port}`;
      expect(fs.readlinkSync(`/proc/${broker.child.pid}/exe`)).toBe(exe);
      // It started itself again (server/malloc-settings.ts) as itself, with the same arguments.
      expect(environOf(broker.child.pid!)).toMatchObject(MALLOC_SETTINGS);

      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', version: pkg.version, database: 'ok' });
      const ui = await fetch(`${url}/`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toMatch(/<html/i);

      const cookie = await signIn(url, ADMIN.BROKER_ADMIN_USER, ADMIN.BROKER_ADMIN_PASSWORD);
      const created = await fetch(`${url}/trpc/tenants.create`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true }),
      });
      expect(created.status).toBe(200);
      const tenantId = ((await created.json()) as { result: { data: { id: number } } }).result.data.id;

      const cp = station(`ws://127.0.0.1:${port}/ocpp/acme`, 'CP-SEA', ['ocpp1.6']);
      await cp.connect();
      expect(await cp.call('BootNotification', { chargePointVendor: 'Vendor', chargePointModel: 'Model' })).toMatchObject({ status: 'Accepted' });
      const started = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE001', meterStart: 1000, timestamp: new Date().toISOString() })) as {
        transactionId: number;
      };
      expect(started.transactionId).toBe(4711);
      expect(cpms.calls.at(-1)).toMatchObject({ identity: 'CP-SEA', action: 'StartTransaction' });
      // Written by the observation writer's worker thread: the extracted worker bundle, with the extracted addon.
      const api = apiClient(url, { cookie });
      await expect.poll(async () => (await api.transactions.list.query({ tenantId })).total, { timeout: 5_000 }).toBe(1);

      expect(childProcessesOf(broker.child.pid!)).toEqual([]);
      const cache = path.join(home, '.cache', 'ocpp-broker');
      expect(cacheEntries(cache)).toEqual([expect.stringMatching(versionDir)]);

      const stationClosed = new Promise((resolve) => cp.once('close', resolve));
      broker.child.kill('SIGTERM');
      expect(await stationClosed).toMatchObject({ code: 1001 });
      expect(await broker.exited).toBe(0);
      expect(broker.lines.at(-1)).toMatchObject({ event: 'stopped' });
      expect(broker.lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
      expect(broker.stderr()).toBe('');
      expect(fs.existsSync(path.join(dir, 'data', 'broker.db'))).toBe(true);
    } finally {
      await cpms.close();
    }
  });

  it('prints its version with --version, without writing anything', () => {
    const { dir, exe } = installCopy();
    const result = runToEnd(exe, ['--version'], { HOME: path.join(dir, 'home') });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toContain(pkg.version);
    expect(fs.readdirSync(dir)).toEqual(['ocpp-broker']);
  });

  it('names every environment variable of the configuration in --help, without writing anything', () => {
    const { dir, exe } = installCopy();
    const result = runToEnd(exe, ['--help'], { HOME: path.join(dir, 'home') });
    expect(result.status, result.stderr).toBe(0);
    for (const { env } of Object.values(options)) expect(result.stdout).toContain(env);
    expect(fs.readdirSync(dir)).toEqual(['ocpp-broker']);
  });

  it('backs up while it runs, and a broker restored from the backup into another directory has the tenant', async () => {
    const { dir, exe } = installCopy();
    const env = { HOME: path.join(dir, 'home') };
    const broker = launch(exe, { ...env, ...LISTEN, ...ADMIN });
    const url = `http://127.0.0.1:${await broker.started}`;
    const api = apiClient(url, { cookie: await signIn(url, ADMIN.BROKER_ADMIN_USER, ADMIN.BROKER_ADMIN_PASSWORD) });
    await api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });

    const backedUp = runToEnd(exe, ['backup', path.join(dir, 'acme.db')], env);
    expect(backedUp.status, backedUp.stderr).toBe(0);
    const refused = runToEnd(exe, ['restore', path.join(dir, 'acme.db')], env);
    expect([refused.status, refused.stderr]).toEqual([1, expect.stringMatching(/uses this data directory/)]);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);

    const restoredDir = path.join(dir, 'restored');
    const restored = runToEnd(exe, ['restore', path.join(dir, 'acme.db'), '--data-dir', restoredDir], env);
    expect(restored.status, restored.stderr).toBe(0);
    const second = launch(exe, { ...env, ...LISTEN, DATA_DIR: restoredDir });
    const secondUrl = `http://127.0.0.1:${await second.started}`;
    const secondApi = apiClient(secondUrl, { cookie: await signIn(secondUrl, ADMIN.BROKER_ADMIN_USER, ADMIN.BROKER_ADMIN_PASSWORD) });
    expect((await secondApi.tenants.list.query()).map((t) => t.slug)).toEqual(['acme']);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('extracts its files once when two copies in different directories start together sharing one cache', async () => {
    const cacheHome = tempDir();
    const copies = [installCopy(), installCopy()];
    const brokers = copies.map(({ dir, exe }) => launch(exe, { HOME: path.join(dir, 'home'), XDG_CACHE_HOME: cacheHome, ...LISTEN }));
    const ports = await Promise.all(brokers.map((broker) => broker.started));
    for (const port of ports) expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    // One complete directory; no temporary one left behind by the process that lost the race.
    const cache = path.join(cacheHome, 'ocpp-broker');
    expect(cacheEntries(cache)).toEqual([expect.stringMatching(versionDir)]);
    for (const { dir } of copies) expect(fs.existsSync(path.join(dir, 'home'))).toBe(false);

    for (const broker of brokers) broker.child.kill('SIGTERM');
    expect(await Promise.all(brokers.map((broker) => broker.exited))).toEqual([0, 0]);
  });

  it('keeps its files next to itself when HOME cannot be written', async () => {
    const { dir, exe } = installCopy();
    const broker = launch(exe, { HOME: '/dev/null', ...LISTEN });
    const port = await broker.started;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(cacheEntries(path.join(dir, '.ocpp-broker-cache'))).toEqual([expect.stringMatching(versionDir)]);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  });

  it('starts again from the files it extracted before, and replaces them when some are missing', async () => {
    const { dir, exe } = installCopy();
    const env = { HOME: path.join(dir, 'home'), ...LISTEN };
    const first = launch(exe, env);
    await first.started;
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const cache = path.join(dir, 'home', '.cache', 'ocpp-broker');
    const [extracted] = cacheEntries(cache);
    fs.rmSync(path.join(cache, extracted!, 'ui', 'index.html'));
    const second = launch(exe, env);
    const port = await second.started;
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect(cacheEntries(cache)).toEqual([extracted]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
