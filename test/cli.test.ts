import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { options } from '../server/config.ts';
import { paths } from '../server/paths.ts';
import { apiClient, signIn } from './support/broker.ts';
import { startCpms, station } from './support/ocpp.ts';
import { processes } from './support/process.ts';

const { run, tempDir, cleanup } = processes();
afterEach(cleanup);

const PASSWORD = 'a long admin password';
const serveEnv = (dataDir: string) => ({ PORT: '0', TLS_PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir });

/** Runs a command to its end. */
async function command(args: string[], env: Record<string, string> = {}, stdin?: string) {
  const done = run(env, args, { stdin });
  const code = await done.exited;
  return { code, stdout: done.stdout(), stderr: done.stderr() };
}

const tenantsIn = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('select slug from tenants').all() as { slug: string }[]).map((t) => t.slug);
  } finally {
    db.close();
  }
};

describe('the command line', () => {
  it('prints its version, and help naming every option and environment variable', async () => {
    const version = await command(['--version']);
    expect([version.code, version.stdout.trim()]).toEqual([0, JSON.parse(fs.readFileSync(path.join(paths.root, 'package.json'), 'utf8')).version]);
    const help = await command(['--help']);
    expect(help.code).toBe(0);
    for (const option of Object.values(options)) {
      expect(help.stdout).toContain(option.env);
      if (option.flag) expect(help.stdout).toContain(`--${option.flag}`);
    }
    for (const name of ['serve', 'backup <file>', 'restore <file>', 'admin create', 'admin reset-password', 'migrate']) expect(help.stdout).toContain(name);
  });

  it('refuses an unknown command with one line', async () => {
    expect(await command(['frobnicate'])).toMatchObject({ code: 1, stderr: 'Unknown command "frobnicate"; see --help\n' });
  });

  it('creates an admin and resets a password, reading it from standard input', async () => {
    const dataDir = tempDir();
    expect(await command(['admin', 'create', 'Root', '--data-dir', dataDir], {}, `${PASSWORD}\n`)).toMatchObject({ code: 0 });
    expect(await command(['admin', 'create', 'root', '--data-dir', dataDir], {}, `${PASSWORD}\n`)).toMatchObject({ code: 1, stderr: 'The user "root" exists already\n' });
    expect(await command(['admin', 'reset-password', 'root', '--data-dir', dataDir], {}, 'short\n')).toMatchObject({ code: 1, stderr: 'The password: At least 12 characters\n' });
    expect(await command(['admin', 'reset-password', 'root', '--data-dir', dataDir], { BROKER_ADMIN_PASSWORD: 'another long password' })).toMatchObject({ code: 0 });

    const broker = run(serveEnv(dataDir));
    const url = `http://127.0.0.1:${await broker.started}`;
    await expect(signIn(url, 'root', PASSWORD)).rejects.toThrow(/401/);
    const api = apiClient(url, { cookie: await signIn(url, 'root', 'another long password') });
    expect((await api.audit.list.query()).map((e) => [e.actor, e.action])).toEqual([
      ['cli', 'user.password'],
      ['cli', 'user.create'],
    ]);
  });
});

describe('backup and restore', () => {
  it('backs up a running broker, refuses to restore over it, and restores into another data directory', async () => {
    const dataDir = tempDir();
    const broker = run({ ...serveEnv(dataDir), BROKER_ADMIN_USER: 'root', BROKER_ADMIN_PASSWORD: PASSWORD });
    const url = `http://127.0.0.1:${await broker.started}`;
    const api = apiClient(url, { cookie: await signIn(url, 'root', PASSWORD) });
    await api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });

    const file = path.join(tempDir(), 'nightly.db');
    const backedUp = await command(['backup', file, '--data-dir', dataDir]);
    expect(backedUp.code).toBe(0);
    expect(tenantsIn(file)).toEqual(['acme']);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['nightly.db', 'nightly.db.key']);
    expect(fs.readFileSync(`${file}.key`)).toEqual(fs.readFileSync(path.join(dataDir, 'secret.key')));
    expect(fs.statSync(`${file}.key`).mode & 0o777).toBe(0o600);

    const refused = await command(['restore', file, '--data-dir', dataDir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^A broker \(process \d+\) uses this data directory: stop it first\n$/);
    const second = run(serveEnv(dataDir));
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toMatch(/uses this data directory/);

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);

    const other = tempDir();
    expect(await command(['restore', file, '--data-dir', other])).toMatchObject({ code: 0 });
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['nightly.db', 'nightly.db.key']);
    const restored = run(serveEnv(other));
    const restoredUrl = `http://127.0.0.1:${await restored.started}`;
    const restoredApi = apiClient(restoredUrl, { cookie: await signIn(restoredUrl, 'root', PASSWORD) });
    expect((await restoredApi.tenants.list.query()).map((t) => t.slug)).toEqual(['acme']);
    // The restored key opens the secrets sealed under the original one: the self-signed server key among them.
    expect((await restoredApi.certificates.list.query()).filter((c) => c.kind === 'server')).toHaveLength(1);
    expect(fs.readFileSync(path.join(other, 'secret.key'))).toEqual(fs.readFileSync(path.join(dataDir, 'secret.key')));
  });

  it('backs up under load: the restored broker has the same configuration', async () => {
    const cpms = await startCpms();
    const dataDir = tempDir();
    const broker = run({ ...serveEnv(dataDir), BROKER_ADMIN_USER: 'root', BROKER_ADMIN_PASSWORD: PASSWORD });
    const url = `http://127.0.0.1:${await broker.started}`;
    const api = apiClient(url, { cookie: await signIn(url, 'root', PASSWORD) });
    const tenant = await api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, stationProfile: 1 });
    const registered = await api.registry.create.mutate({ tenantId: tenant.id, identity: 'CP-1', description: 'Car park' });
    await api.registry.setPassword.mutate({ id: registered.id, password: { value: 'a station password' } });
    await api.users.create.mutate({ username: 'watcher', password: 'a viewer password', role: 'viewer' });
    const configuration = async (client: typeof api) => ({
      tenants: await client.tenants.list.query(),
      stations: await client.registry.list.query({ tenantId: tenant.id }),
      users: await client.users.list.query(),
      certificates: await client.certificates.list.query(),
      tokens: await client.tokens.list.query(),
    });
    const before = await configuration(api);

    // A station keeps sending meter values while the backup is taken.
    const cp = station(`ws://127.0.0.1:${new URL(url).port}/ocpp/acme`, 'CP-1', ['ocpp1.6'], { password: 'a station password' });
    await cp.connect();
    let sending = true;
    let sent = 0;
    const load = (async () => {
      while (sending) {
        await cp.call('MeterValues', { connectorId: 1, meterValue: [{ timestamp: new Date(Date.now() + sent).toISOString(), sampledValue: [{ value: String(sent) }] }] });
        sent++;
      }
    })();
    const file = path.join(tempDir(), 'under-load.db');
    const backedUp = await command(['backup', file, '--data-dir', dataDir]);
    sending = false;
    await load;
    expect(backedUp.code).toBe(0);
    expect(sent).toBeGreaterThan(0);
    await cp.close();
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    await cpms.close();

    const other = tempDir();
    expect(await command(['restore', file, '--data-dir', other])).toMatchObject({ code: 0 });
    const restored = run(serveEnv(other));
    const restoredUrl = `http://127.0.0.1:${await restored.started}`;
    const restoredApi = apiClient(restoredUrl, { cookie: await signIn(restoredUrl, 'root', PASSWORD) });
    const after = await configuration(restoredApi);
    // What is live (stations connected, the CPMS's health) is not configuration.
    const settings = (t: (typeof after.tenants)[number]) => ({ ...t, stationsConnected: 0, cpms: undefined });
    expect({ ...after, tenants: after.tenants.map(settings) }).toEqual({ ...before, tenants: before.tenants.map(settings) });
  });

  it('refuses to restore a file that is not a backup of the broker', async () => {
    const junk = path.join(tempDir(), 'junk.db');
    fs.writeFileSync(junk, 'not a database');
    const result = await command(['restore', junk, '--data-dir', tempDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not a backup of the broker's database/);
  });

  it('lets an admin download the backup and its key from the broker, and nobody else', async () => {
    const dataDir = tempDir();
    const broker = run({ ...serveEnv(dataDir), BROKER_ADMIN_USER: 'root', BROKER_ADMIN_PASSWORD: PASSWORD });
    const url = `http://127.0.0.1:${await broker.started}`;
    const cookie = await signIn(url, 'root', PASSWORD);
    const api = apiClient(url, { cookie });
    await api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });
    await api.users.create.mutate({ username: 'watcher', password: 'a viewer password', role: 'viewer' });

    expect((await fetch(`${url}/backup/broker.db`)).status).toBe(401);
    expect((await fetch(`${url}/backup/broker.db`, { headers: { cookie: await signIn(url, 'watcher', 'a viewer password') } })).status).toBe(403);
    const database = await fetch(`${url}/backup/broker.db`, { headers: { cookie } });
    expect(database.status).toBe(200);
    expect(database.headers.get('content-disposition')).toMatch(/^attachment; filename="broker-[\d-]+\.db"$/);
    const file = path.join(tempDir(), 'downloaded.db');
    fs.writeFileSync(file, Buffer.from(await database.arrayBuffer()));
    expect(tenantsIn(file)).toEqual(['acme']);
    const key = await fetch(`${url}/backup/secret.key`, { headers: { cookie } });
    expect(Buffer.from(await key.arrayBuffer())).toEqual(fs.readFileSync(path.join(dataDir, 'secret.key')));
    expect((await api.audit.list.query({ action: 'backup.' })).map((e) => [e.actor, e.target])).toEqual([
      ['user:root', 'key'],
      ['user:root', 'database'],
    ]);
  });
});

describe('migrations', () => {
  it('keep a copy of a database with data before changing it', async () => {
    // A database made by an older version: only the first migration applied.
    const old = tempDir();
    fs.cpSync(paths.migrations, old, { recursive: true });
    const journalFile = path.join(old, 'meta', '_journal.json');
    const journal = JSON.parse(fs.readFileSync(journalFile, 'utf8')) as { entries: unknown[] };
    fs.writeFileSync(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, 1) }));
    const dataDir = tempDir();
    const { openDatabase } = await import('../db/index.ts');
    const store = openDatabase(path.join(dataDir, 'broker.db'), old);
    store.db.run(sql`insert into tenants (name, slug, cpms_url) values ('Acme', 'acme', 'ws://cpms')`);
    store.close();

    const migrated = await command(['migrate', '--data-dir', dataDir]);
    expect(migrated.code).toBe(0);
    const [copy] = fs.readdirSync(dataDir).filter((name) => name.startsWith('broker.db.before-migration-1-'));
    expect(migrated.stdout).toContain(`the database before is kept as ${path.join(dataDir, copy!)}`);
    expect(tenantsIn(path.join(dataDir, copy!))).toEqual(['acme']);
    expect(await command(['migrate', '--data-dir', dataDir])).toMatchObject({ code: 0, stdout: 'The database is up to date\n' });
  });
});
