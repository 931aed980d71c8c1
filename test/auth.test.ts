import fs from 'node:fs';
import path from 'node:path';
import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiTokens, auditLog, sessions } from '../db/schema.ts';
import { digest } from '../db/users.ts';
import { SESSION_COOKIE, SESSION_IDLE_MS, SESSION_MAX_AGE_MS } from '../server/auth/actor.ts';
import { createSealer, loadOrCreateKey } from '../server/auth/seal.ts';
import { SignInThrottle } from '../server/auth/login-throttle.ts';
import { appRouter } from '../server/routers/index.ts';
import { openTestApi, outcome, PASSWORD, type TestApi } from './support/api.ts';
import { apiClient, signIn, startTestBroker, TEST_ADMIN } from './support/broker.ts';
import { startServer } from '../server/app.ts';
import { configSchema } from '../server/config.ts';

let t: TestApi;
beforeEach(() => {
  t = openTestApi();
});
afterEach(() => t.close());

type Caller = ReturnType<TestApi['call']>;
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>);
const invoke = (caller: Caller, name: string, input: unknown = {}) =>
  (name.split('.').reduce<any>((node, key) => node[key], caller) as (input: unknown) => Promise<unknown>)(input);

/** Signing in and creating the first admin are the only doors open to anonymous callers. */
const PUBLIC = ['auth.login', 'auth.setup', 'auth.status'];
/** What a viewer may change: only its own session and password. */
const OWN_ACCOUNT = ['auth.logout', 'auth.changePassword'];

describe('who may call what', () => {
  it('refuses every procedure but signing in and the first-admin setup to an anonymous caller', async () => {
    await t.as('root', 'admin');
    const anonymous = t.call();
    const open: string[] = [];
    for (const [name] of procedures) {
      const result = await outcome(invoke(anonymous, name));
      if (result !== 'UNAUTHORIZED') open.push(name);
    }
    expect(open.sort()).toEqual(PUBLIC);
  });

  it('refuses every change to a viewer with FORBIDDEN, but its own password and session', async () => {
    await t.as('root', 'admin');
    const { api } = await t.as('watcher', 'viewer');
    const mutations = procedures.filter(([name, p]) => p._def.type === 'mutation' && !PUBLIC.includes(name) && !OWN_ACCOUNT.includes(name));
    expect(mutations.length).toBeGreaterThan(8);
    for (const [name] of mutations) expect([name, await outcome(invoke(api, name))]).toEqual([name, 'FORBIDDEN']);
  });

  it('lets a viewer read tenants, stations and the audit log, but not accounts', async () => {
    const { api } = await t.as('watcher', 'viewer');
    expect(await outcome(api.tenants.list())).toBe('OK');
    expect(await outcome(api.stations.list())).toBe('OK');
    expect(await outcome(api.audit.list())).toBe('OK');
    expect(await api.auth.me()).toEqual({ username: 'watcher', role: 'viewer', via: 'session', ports: { port: 8080, tlsPort: 8443 } });
    expect(await outcome(api.users.list())).toBe('FORBIDDEN');
    expect(await outcome(api.tokens.list())).toBe('FORBIDDEN');
  });
});

describe('the first admin', () => {
  it('is created once through setup, which signs it in; until then nobody can sign in', async () => {
    const cookies: string[] = [];
    expect(await t.call().auth.status()).toEqual({ setupRequired: true });
    expect(await outcome(t.call().auth.login({ username: 'root', password: PASSWORD }))).toBe('PRECONDITION_FAILED');

    expect(await t.call({}, cookies).auth.setup({ username: 'Root', password: PASSWORD })).toEqual({ username: 'root', role: 'admin' });
    expect(await t.call().auth.status()).toEqual({ setupRequired: false });
    const session = t.call({ headers: { cookie: cookies[0]!.split(';')[0] } });
    expect(await session.auth.me()).toMatchObject({ username: 'root', role: 'admin' });

    expect(await outcome(t.call().auth.setup({ username: 'intruder', password: PASSWORD }))).toBe('FORBIDDEN');
    expect((await session.audit.list()).map((e) => [e.actor, e.action, e.target])).toEqual([['setup:root', 'user.create', 'user:root']]);
  });

  it('is created from BROKER_ADMIN_USER and BROKER_ADMIN_PASSWORD when none exists, and only then', async () => {
    const broker = await startTestBroker();
    await broker.server.close();
    const config = configSchema.parse({ port: 0, host: '127.0.0.1', dataDir: broker.dataDir, logLevel: 'silent' });
    const again = await startServer({ ...config, adminUser: 'someone-else', adminPassword: 'another long password' });
    try {
      const api = apiClient(again.url, { cookie: await signIn(again.url, TEST_ADMIN.adminUser, TEST_ADMIN.adminPassword) });
      expect((await api.users.list.query()).map((u) => u.username)).toEqual([TEST_ADMIN.adminUser]);
    } finally {
      await again.close();
      await broker.close();
    }
  });
});

describe('sessions', () => {
  it('are set as an HttpOnly, SameSite=Strict cookie, Secure over HTTPS', async () => {
    await t.as('root', 'admin');
    const plain: string[] = [];
    const tls: string[] = [];
    await t.call({}, plain).auth.login({ username: 'root', password: PASSWORD });
    await t.call({ secure: true }, tls).auth.login({ username: 'root', password: PASSWORD });
    expect(plain[0]).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Max-Age=604800; Path=/; HttpOnly; SameSite=Strict$`));
    expect(tls[0]).toMatch(/; Secure/);
    expect(plain[0]).not.toMatch(/Secure/);
  });

  it('are stored only as a hash, and end with logout', async () => {
    const { api, sessionId } = await t.as('root', 'admin');
    expect(t.raw()).not.toContain(sessionId);
    expect(t.store.db.select().from(sessions).all().map((s) => s.idHash)).toEqual([digest(sessionId)]);
    await api.auth.logout();
    expect(await outcome(api.auth.me())).toBe('UNAUTHORIZED');
  });

  it('end after 12 hours idle and 7 days in all', async () => {
    const idle = await t.as('idle', 'admin');
    const old = await t.as('old', 'admin');
    const fresh = await t.as('fresh', 'admin');
    const now = Date.now();
    t.store.db.update(sessions).set({ lastSeenAt: new Date(now - SESSION_IDLE_MS - 1000) }).where(eq(sessions.idHash, digest(idle.sessionId))).run();
    t.store.db.update(sessions).set({ createdAt: new Date(now - SESSION_MAX_AGE_MS - 1000) }).where(eq(sessions.idHash, digest(old.sessionId))).run();
    expect(await outcome(idle.api.auth.me())).toBe('UNAUTHORIZED');
    expect(await outcome(old.api.auth.me())).toBe('UNAUTHORIZED');
    expect(await outcome(fresh.api.auth.me())).toBe('OK');
  });

  it('of a user end when an admin sets a new password for it', async () => {
    const { api: admin } = await t.as('root', 'admin');
    const viewer = await t.as('watcher', 'viewer');
    await admin.users.update({ id: viewer.user.id, password: 'a brand new password' });
    expect(await outcome(viewer.api.auth.me())).toBe('UNAUTHORIZED');
    expect(await outcome(t.call().auth.login({ username: 'watcher', password: 'a brand new password' }))).toBe('OK');
  });
});

describe('passwords', () => {
  it('are stored as memory-hard scrypt hashes, never in clear', async () => {
    await t.as('root', 'admin');
    expect(t.raw()).not.toContain(PASSWORD);
    expect(t.raw()).toMatch(/scrypt\$32768\$8\$3\$/);
  });

  it('must be 12 characters at least', async () => {
    const { api } = await t.as('root', 'admin');
    expect(await outcome(api.users.create({ username: 'x', password: 'elevenchars', role: 'viewer' }))).toBe('BAD_REQUEST');
  });

  it('can be changed by their owner, who must know the current one', async () => {
    await t.as('root', 'admin');
    const { api } = await t.as('watcher', 'viewer');
    expect(await outcome(api.auth.changePassword({ currentPassword: 'wrong', newPassword: 'a brand new password' }))).toBe('BAD_REQUEST');
    const cookies: string[] = [];
    const self = t.call({ headers: { cookie: `${SESSION_COOKIE}=${(await t.as('other', 'viewer')).sessionId}` } }, cookies);
    await self.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'a brand new password' });
    expect(cookies).toHaveLength(1);
    expect(await outcome(t.call().auth.login({ username: 'other', password: 'a brand new password' }))).toBe('OK');
  });
});

describe('login throttling', () => {
  it('blocks a username after 5 failures within 15 minutes, even with the right password, and logs the failures', async () => {
    await t.as('root', 'admin');
    for (let i = 0; i < 5; i++) expect(await outcome(t.call().auth.login({ username: 'root', password: `wrong ${i}` }))).toBe('UNAUTHORIZED');
    const error = await t.call().auth.login({ username: 'root', password: PASSWORD }).catch((e: TRPCError) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('TOO_MANY_REQUESTS');
    expect((error as TRPCError).message).toMatch(/try again in 15 minute/);
    expect(((error as TRPCError).cause as unknown as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(890);
    const failures = t.logs.filter((l) => l.event === 'login.failed');
    expect(failures).toHaveLength(5);
    expect(failures[0]).toMatchObject({ username: 'root', remoteAddress: '192.0.2.1' });
    expect(JSON.stringify(t.logs)).not.toContain('wrong 0');
  });

  it('blocks an address after 20 failures, whatever the username', async () => {
    await t.as('root', 'admin');
    for (let i = 0; i < 20; i++) expect(await outcome(t.call().auth.login({ username: `guess${i}`, password: 'x' }))).toBe('UNAUTHORIZED');
    expect(await outcome(t.call().auth.login({ username: 'root', password: PASSWORD }))).toBe('TOO_MANY_REQUESTS');
    expect(await outcome(t.call({ remoteAddress: '192.0.2.2' }).auth.login({ username: 'root', password: PASSWORD }))).toBe('OK');
  });

  it('does not let wrong passwords for a user from one address stop it signing in from another', async () => {
    await t.as('root', 'admin');
    const attacker = t.call({ remoteAddress: '203.0.113.66' });
    for (let i = 0; i < 5; i++) expect(await outcome(attacker.auth.login({ username: 'root', password: `guess ${i}` }))).toBe('UNAUTHORIZED');
    expect(await outcome(attacker.auth.login({ username: 'root', password: PASSWORD }))).toBe('TOO_MANY_REQUESTS');
    expect(await outcome(t.call({ remoteAddress: '192.0.2.2' }).auth.login({ username: 'root', password: PASSWORD }))).toBe('OK');
  });

  it('slows guessing at one username from many addresses to 10 a minute, without locking it out', async () => {
    let now = Date.now();
    t.services.throttle = new SignInThrottle({ now: () => now });
    await t.as('root', 'admin');
    for (let i = 0; i < 10; i++) {
      expect(await outcome(t.call({ remoteAddress: `198.51.100.${i}` }).auth.login({ username: 'root', password: 'guess' }))).toBe('UNAUTHORIZED');
    }
    const error = (await t.call({ remoteAddress: '192.0.2.2' }).auth.login({ username: 'root', password: PASSWORD }).catch((e) => e)) as TRPCError;
    expect(error.code).toBe('TOO_MANY_REQUESTS');
    expect((error.cause as unknown as { retryAfterSeconds: number }).retryAfterSeconds).toBeLessThanOrEqual(60);
    now += 60_000;
    expect(await outcome(t.call({ remoteAddress: '192.0.2.2' }).auth.login({ username: 'root', password: PASSWORD }))).toBe('OK');
  });

  it('lets a user in at once from an address it signed in from before, however many guesses come from elsewhere', async () => {
    await t.as('root', 'admin');
    expect(await outcome(t.call({ remoteAddress: '192.0.2.2' }).auth.login({ username: 'root', password: PASSWORD }))).toBe('OK');
    for (let i = 0; i < 10; i++) await outcome(t.call({ remoteAddress: `198.51.100.${i}` }).auth.login({ username: 'root', password: 'guess' }));
    expect(await outcome(t.call({ remoteAddress: '192.0.2.3' }).auth.login({ username: 'root', password: PASSWORD }))).toBe('TOO_MANY_REQUESTS');
    expect(await outcome(t.call({ remoteAddress: '192.0.2.2' }).auth.login({ username: 'root', password: PASSWORD }))).toBe('OK');
  });

  it('counts every attempt sent at once before any is checked', async () => {
    await t.as('root', 'admin');
    const attempts = Array.from({ length: 12 }, (_, i) => outcome(t.call().auth.login({ username: 'root', password: `guess ${i}` })));
    const outcomes = await Promise.all(attempts);
    expect(outcomes.filter((o) => o === 'UNAUTHORIZED').length).toBeLessThanOrEqual(5);
    expect(outcomes.filter((o) => o === 'TOO_MANY_REQUESTS').length).toBeGreaterThanOrEqual(7);
    expect(t.logs.filter((l) => l.event === 'login.failed').length).toBeLessThanOrEqual(5);
  });

  it('applies to password changes: five wrong current passwords, and the right one is refused too', async () => {
    await t.as('root', 'admin');
    const { api } = await t.as('watcher', 'viewer');
    for (let i = 0; i < 5; i++) {
      expect(await outcome(api.auth.changePassword({ currentPassword: `wrong ${i}`, newPassword: 'a brand new password' }))).toBe('BAD_REQUEST');
    }
    expect(await outcome(api.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'a brand new password' }))).toBe('TOO_MANY_REQUESTS');
  });

  it('starts afresh for a user whose password is set anew', async () => {
    const { api: admin } = await t.as('root', 'admin');
    const viewer = await t.as('watcher', 'viewer');
    for (let i = 0; i < 5; i++) await outcome(t.call().auth.login({ username: 'watcher', password: `wrong ${i}` }));
    expect(await outcome(t.call().auth.login({ username: 'watcher', password: PASSWORD }))).toBe('TOO_MANY_REQUESTS');
    await admin.users.update({ id: viewer.user.id, password: 'a brand new password' });
    expect(await outcome(t.call().auth.login({ username: 'watcher', password: 'a brand new password' }))).toBe('OK');
  });
});

describe('API tokens', () => {
  it('act with their owner\'s role, are shown once and stored only hashed', async () => {
    const { api, user } = await t.as('root', 'admin');
    await t.as('second', 'admin');
    const created = await api.tokens.create({ name: 'deploy' });
    expect(created.token).toMatch(/^obk_[A-Za-z0-9_-]{43}$/);
    expect(await api.tokens.list()).toEqual([expect.not.objectContaining({ token: expect.anything() })]);
    expect(t.raw()).not.toContain(created.token);

    const script = t.call({ headers: { authorization: `Bearer ${created.token}` } });
    expect(await script.auth.me()).toMatchObject({ username: 'root', role: 'admin', via: 'token' });
    expect(await outcome(script.tenants.create({ name: 'A', slug: 'a', cpmsUrl: 'ws://cpms' }))).toBe('OK');

    await api.users.update({ id: user.id, role: 'viewer' });
    expect(await outcome(script.tenants.create({ name: 'B', slug: 'b', cpmsUrl: 'ws://cpms' }))).toBe('FORBIDDEN');
  });

  it('stop working when revoked or expired, and a wrong token gets nothing', async () => {
    const { api } = await t.as('root', 'admin');
    const revoked = await api.tokens.create({ name: 'old' });
    const expiring = await api.tokens.create({ name: 'short', expiresAt: new Date(Date.now() + 60_000) });
    await api.tokens.revoke({ id: revoked.id });
    t.store.db.update(apiTokens).set({ expiresAt: new Date(Date.now() - 1) }).where(eq(apiTokens.id, expiring.id)).run();
    for (const token of [revoked.token, expiring.token, 'obk_not-a-token']) {
      expect(await outcome(t.call({ headers: { authorization: `Bearer ${token}` } }).tenants.list())).toBe('UNAUTHORIZED');
    }
    expect(await outcome(api.tokens.create({ name: 'past', expiresAt: new Date(Date.now() - 1000) }))).toBe('BAD_REQUEST');
  });
});

describe('a new password', () => {
  it('set by an admin ends the user\'s API tokens, and says how many', async () => {
    const { api: admin, user } = await t.as('root', 'admin');
    const other = await t.as('second', 'admin');
    const token = await admin.tokens.create({ name: 'deploy' });
    const kept = await other.api.tokens.create({ name: 'other' });
    expect(await other.api.users.update({ id: user.id, password: 'a brand new password' })).toMatchObject({ tokensRevoked: 1 });
    expect(await outcome(t.call({ headers: { authorization: `Bearer ${token.token}` } }).tenants.list())).toBe('UNAUTHORIZED');
    expect(await outcome(t.call({ headers: { authorization: `Bearer ${kept.token}` } }).tenants.list())).toBe('OK');
    expect((await other.api.tokens.list()).find((t) => t.id === token.id)?.revokedAt).toBeInstanceOf(Date);
  });

  it('chosen by its owner ends its API tokens, the one making the change too', async () => {
    const { api } = await t.as('root', 'admin');
    const first = await api.tokens.create({ name: 'first' });
    const second = await api.tokens.create({ name: 'second' });
    const script = t.call({ headers: { authorization: `Bearer ${first.token}` } });
    expect(await script.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'a brand new password' })).toEqual({ changed: true, tokensRevoked: 2 });
    for (const token of [first.token, second.token]) {
      expect(await outcome(t.call({ headers: { authorization: `Bearer ${token}` } }).auth.me())).toBe('UNAUTHORIZED');
    }
  });
});

describe('users', () => {
  it('keep at least one admin', async () => {
    const { api, user } = await t.as('root', 'admin');
    expect(await outcome(api.users.remove({ id: user.id }))).toBe('PRECONDITION_FAILED');
    expect(await outcome(api.users.update({ id: user.id, role: 'viewer' }))).toBe('PRECONDITION_FAILED');
    const other = await api.users.create({ username: 'second', password: PASSWORD, role: 'admin' });
    expect(await outcome(api.users.create({ username: 'SECOND', password: PASSWORD, role: 'viewer' }))).toBe('CONFLICT');
    await api.users.update({ id: user.id, role: 'viewer' });
    expect((await t.call({ headers: { cookie: '' } }).auth.status()).setupRequired).toBe(false);
    expect(other.role).toBe('admin');
  });
});

describe('the audit log', () => {
  it('records who changed what, with before and after, and never a secret', async () => {
    const { api } = await t.as('root', 'admin');
    const tenant = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://cpms/ocpp' });
    await api.tenants.update({ id: tenant.id, name: 'Acme Charging' });
    const viewer = await api.users.create({ username: 'watcher', password: 'watcher password 1', role: 'viewer' });
    await api.users.update({ id: viewer.id, password: 'watcher password 2' });
    const token = await api.tokens.create({ name: 'deploy' });
    await t.call({ headers: { authorization: `Bearer ${token.token}` } }).tenants.remove({ id: tenant.id });
    await api.tokens.revoke({ id: token.id });
    await api.users.remove({ id: viewer.id });

    const entries = await api.audit.list();
    expect(entries.map((e) => [e.actor, e.action, e.target])).toEqual([
      ['user:root', 'user.remove', 'user:watcher'],
      ['user:root', 'token.revoke', 'token:deploy'],
      ['token:deploy (root)', 'tenant.remove', 'tenant:acme'],
      ['user:root', 'token.create', 'token:deploy'],
      ['user:root', 'user.update', 'user:watcher'],
      ['user:root', 'user.create', 'user:watcher'],
      ['user:root', 'tenant.update', 'tenant:acme'],
      ['user:root', 'tenant.create', 'tenant:acme'],
    ]);
    const update = entries.find((e) => e.action === 'tenant.update')!;
    expect(update.before).toMatchObject({ name: 'Acme' });
    expect(update.after).toMatchObject({ name: 'Acme Charging' });
    expect(entries[0]!.remoteAddress).toBe('192.0.2.1');

    const stored = JSON.stringify(t.store.db.select().from(auditLog).all());
    for (const secret of ['watcher password 1', 'watcher password 2', token.token, digest(token.token), 'scrypt$']) {
      expect(stored).not.toContain(secret);
    }

    expect((await api.audit.list({ action: 'tenant.' })).map((e) => e.action)).toEqual(['tenant.remove', 'tenant.update', 'tenant.create']);
    expect((await api.audit.list({ actor: 'deploy' })).map((e) => e.action)).toEqual(['tenant.remove']);
    expect((await api.audit.list({ action: '%' })).length).toBe(0);
    const [newest] = await api.audit.list({ limit: 1 });
    expect((await api.audit.list({ beforeId: newest!.id, limit: 100 })).length).toBe(7);
  });
});

describe('sealed secrets', () => {
  it('are sealed under a key file created with mode 0600 on first start', async () => {
    const broker = await startTestBroker();
    try {
      const stat = fs.statSync(path.join(broker.dataDir, 'secret.key'));
      expect(stat.mode & 0o777).toBe(0o600);
    } finally {
      await broker.close();
    }
  });

  it('open only with the same key and context, and not once altered', () => {
    const key = loadOrCreateKey(path.join(t.dir, 'secret.key'));
    expect(loadOrCreateKey(path.join(t.dir, 'secret.key'))).toEqual(key);
    const sealer = createSealer(key);
    const sealed = sealer.seal('cpms-password-0001', 'station:1:cpmsPassword');
    expect(sealed).not.toContain('cpms-password-0001');
    expect(sealer.open(sealed, 'station:1:cpmsPassword').toString()).toBe('cpms-password-0001');
    expect(() => sealer.open(sealed, 'station:2:cpmsPassword')).toThrow();
    expect(() => createSealer(Buffer.alloc(32, 7)).open(sealed, 'station:1:cpmsPassword')).toThrow();
    const [v, iv, data, tag] = sealed.split('.');
    const flipped = Buffer.from(data!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => sealer.open([v, iv, flipped.toString('base64url'), tag].join('.'), 'station:1:cpmsPassword')).toThrow();
  });
});

describe('over HTTP', () => {
  it('answers 401 to an anonymous call and serves a script with a bearer token', async () => {
    const broker = await startTestBroker();
    try {
      expect((await fetch(`${broker.server.url}/trpc/tenants.list`)).status).toBe(401);
      const { token } = await broker.api.tokens.create.mutate({ name: 'curl' });
      const response = await fetch(`${broker.server.url}/trpc/tenants.list`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ result: { data: [] } });
    } finally {
      await broker.close();
    }
  });

  it('refuses a cross-site form POST with the session cookie (415), and nothing changes', async () => {
    const broker = await startTestBroker();
    try {
      const cookie = await signIn(broker.server.url, TEST_ADMIN.adminUser, TEST_ADMIN.adminPassword);
      for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
        const response = await fetch(`${broker.server.url}/trpc/tenants.create`, {
          method: 'POST',
          headers: { cookie, 'content-type': type, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
          body: type.startsWith('multipart') ? '--x--' : 'name=Evil&slug=evil&cpmsUrl=ws%3A%2F%2Fevil',
        });
        expect([type, response.status]).toEqual([type, 415]);
      }
      expect(await broker.api.tenants.list.query()).toEqual([]);
    } finally {
      await broker.close();
    }
  });
});
