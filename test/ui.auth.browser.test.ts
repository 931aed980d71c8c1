import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';
import { apiClient, signIn, startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';

const ADMIN = { username: 'root', password: 'first admin password' };
const VIEWER = { username: 'vera', password: 'a viewer password' };

// No BROKER_ADMIN_USER: the broker starts without any account, as a fresh install does.
const ui = browserTest({ broker: { adminUser: undefined, adminPassword: undefined }, signIn: false });

const field = (label: string) => ui.page.getByLabel(label, { exact: true });
const nav = (name: string) => ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const alert = () => ui.page.getByRole('alert');

/** The error message shown for the field with this label: the one its aria-describedby points to. */
function errorUnder(label: string): Promise<string | null> {
  return field(label).evaluate((input) => {
    const ids = input.getAttribute('aria-describedby')?.split(' ') ?? [];
    const error = ids.map((id) => document.getElementById(id)).find((element) => element?.classList.contains('error'));
    return error?.textContent ?? null;
  });
}

/** Fills in the login form, which must be on screen, and submits it. */
async function submitLogin(user: { username: string; password: string }) {
  await field('Username').fill(user.username);
  await field('Password').fill(user.password);
  await ui.page.getByRole('button', { name: 'Sign in' }).click();
}

async function signInAs(user: { username: string; password: string }) {
  await ui.page.goto(`${ui.url}/login`);
  await submitLogin(user);
  await ui.page.waitForURL(`${ui.url}/`);
  await ui.page.getByTestId('current-user').filter({ hasText: user.username }).waitFor();
}

async function signOut() {
  await ui.page.getByRole('button', { name: 'Sign out' }).click();
  await ui.page.waitForURL(`${ui.url}/login`);
}

/** The rows of a table (by test id) that contain all these texts. */
function rowWith(table: string, ...texts: string[]) {
  return texts.reduce((rows, text) => rows.filter({ hasText: text }), ui.page.getByTestId(table).getByRole('row'));
}

/** The texts in one column of the audit log, top to bottom (1: time, 2: actor, 3: action, 4: target). */
const auditColumn = (n: number) => ui.page.locator(`[data-testid="audit"] > tbody > tr > td:nth-child(${n})`).allInnerTexts();

/** An API client signed in as the admin, for setting up what a test needs besides the UI under test. */
async function adminApi() {
  return apiClient(ui.url, { cookie: await signIn(ui.url, ADMIN.username, ADMIN.password) });
}

describe('signing in to the admin UI', () => {
  it('shows the setup page on a fresh broker, and creating the first admin signs in to the tenant list', async () => {
    await ui.page.goto(ui.url);
    await ui.page.waitForURL(`${ui.url}/setup`);
    await ui.page.getByRole('heading', { name: 'Create the first admin' }).waitFor();
    expect(await ui.page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);

    await field('Username').fill(ADMIN.username);
    await field('Password').fill('too short');
    await field('Repeat password').fill('something else');
    await ui.page.getByRole('button', { name: 'Create admin and sign in' }).click();
    await expect.poll(() => errorUnder('Password')).toBe('At least 12 characters');
    expect(await errorUnder('Repeat password')).toBe('Does not match the password above');
    expect(await ui.broker.api.auth.status.query()).toEqual({ setupRequired: true });

    await field('Password').fill(ADMIN.password);
    await field('Repeat password').fill(ADMIN.password);
    await ui.page.getByRole('button', { name: 'Create admin and sign in' }).click();
    await ui.page.waitForURL(`${ui.url}/`);
    await ui.page.getByRole('heading', { name: 'Tenants' }).waitFor();
    expect(await ui.page.getByTestId('current-user').innerText()).toMatch(/^root\s+admin$/);
    expect(await ui.page.getByRole('link', { name: 'New tenant' }).count()).toBe(1);

    // The setup page is one-time.
    await ui.page.goto(`${ui.url}/setup`);
    await ui.page.waitForURL(`${ui.url}/`);
  });

  it('signs out to the login page, which then stands in for every page', async () => {
    await signOut();
    await ui.page.getByRole('heading', { name: 'Sign in' }).waitFor();

    await ui.page.goto(ui.url);
    await ui.page.waitForURL(`${ui.url}/login`);
    await ui.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await ui.page.getByTestId('current-user').count()).toBe(0);

    await ui.page.goto(`${ui.url}/users`);
    await ui.page.waitForURL(`${ui.url}/login?next=%2Fusers`);
  });

  it('refuses a wrong password with "Wrong username or password", then signs in to the tenant list', async () => {
    await ui.page.goto(`${ui.url}/login`);
    await submitLogin({ username: ADMIN.username, password: 'not the password' });
    expect(await alert().filter({ hasText: 'Wrong username or password' }).innerText()).toBe('Wrong username or password');
    expect(ui.page.url()).toBe(`${ui.url}/login`);

    await submitLogin(ADMIN);
    await ui.page.waitForURL(`${ui.url}/`);
    await ui.page.getByTestId('tenants').or(ui.page.getByText('No tenant yet')).waitFor();
    expect(await ui.page.getByTestId('current-user').innerText()).toMatch(/^root\s+admin$/);
  });

  it('lets an admin add a viewer, who then sees the tenants without any control that changes them', async () => {
    const tenant = await (await adminApi()).tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://127.0.0.1:9/ocpp' });
    await nav('Users').click();
    await ui.page.getByRole('heading', { name: 'Users' }).waitFor();

    // The last admin cannot be demoted; the refusal shows in the list.
    await ui.page.getByRole('button', { name: 'Make viewer: root' }).click();
    await alert().filter({ hasText: 'The last admin cannot be removed or demoted' }).waitFor();

    await field('Username').fill(VIEWER.username);
    await field('Password').fill('short');
    await ui.page.getByRole('button', { name: 'Add user' }).click();
    await expect.poll(() => errorUnder('Password')).toBe('At least 12 characters');
    await field('Password').fill(VIEWER.password);
    await ui.page.getByRole('radio', { name: /^Viewer/ }).check();
    await ui.page.getByRole('button', { name: 'Add user' }).click();
    await rowWith('users', VIEWER.username, 'Viewer').waitFor();

    await signOut();
    await submitLogin(VIEWER);
    await ui.page.waitForURL(`${ui.url}/`);
    expect(await ui.page.getByTestId('current-user').innerText()).toMatch(/^vera\s+viewer$/);
    await rowWith('tenants', 'Acme').waitFor();
    expect(await ui.page.getByRole('link', { name: 'New tenant' }).count()).toBe(0);
    expect(await ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts()).toEqual(['Tenants', 'Connections', 'Transactions', 'Certificates', 'Audit log']);

    await ui.page.getByRole('link', { name: 'Acme' }).click();
    await ui.page.waitForURL(`${ui.url}/tenants/${tenant.id}`);
    await ui.page.getByTestId('no-stations').waitFor();
    expect(await field('CPMS URL').isDisabled()).toBe(true);
    expect(await ui.page.getByRole('button', { name: 'Save' }).count()).toBe(0);
    expect(await ui.page.getByRole('button', { name: 'Remove tenant…' }).count()).toBe(0);

    await ui.page.goto(`${ui.url}/tenants/new`);
    await ui.page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    await ui.page.goto(`${ui.url}/users`);
    await ui.page.getByRole('heading', { name: 'Not allowed' }).waitFor();

    await signOut();
    await signInAs(ADMIN);
  });

  it('shows a new API token once; it works with fetch until it is revoked in the UI', async () => {
    await nav('API tokens').click();
    await ui.page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await field('Name').fill('billing export');
    await ui.page.getByRole('button', { name: 'Create token' }).click();

    const secret = ui.page.getByRole('region', { name: /Token “billing export” created/ });
    expect(await secret.innerText()).toContain('you will not see it again');
    const token = await ui.page.getByTestId('new-token').innerText();
    expect(token).toMatch(/^obk_/);
    const list = () => fetch(`${ui.url}/trpc/tenants.list`, { headers: { Authorization: `Bearer ${token}` } });
    expect((await list()).status).toBe(200);

    const row = rowWith('tokens', 'billing export');
    expect(await row.getByRole('cell').allInnerTexts()).toEqual(['root', expect.any(String), 'Never', expect.any(String), '—', 'Revoke…']);
    await ui.page.getByRole('button', { name: 'Revoke billing export' }).click();
    await ui.page.getByRole('group', { name: 'Confirm revoking billing export' }).getByRole('button', { name: 'Revoke', exact: true }).click();
    await row.filter({ hasText: 'Revoked' }).waitFor();
    expect((await list()).status).toBe(401);

    // Only in the answer to its creation: not after a reload.
    await ui.page.reload();
    await row.waitFor();
    expect(await ui.page.getByTestId('new-token').count()).toBe(0);
    expect(await ui.page.content()).not.toContain(token);
  });

  it('lists the creation of the viewer and of the token in the audit log, with their author', async () => {
    await nav('Audit log').click();
    const userCreated = rowWith('audit', 'user.create', `user:${VIEWER.username}`);
    await userCreated.waitFor();
    expect((await userCreated.getByRole('cell').allInnerTexts()).slice(1, 4)).toEqual(['user:root', 'user.create', 'user:vera']);
    const tokenCreated = rowWith('audit', 'token.create', 'token:billing export');
    expect((await tokenCreated.getByRole('cell').allInnerTexts()).slice(1, 4)).toEqual(['user:root', 'token.create', 'token:billing export']);

    // Newest first: the revocation came after the creation.
    const actions = await auditColumn(3);
    expect(actions.indexOf('token.revoke')).toBeLessThan(actions.indexOf('token.create'));

    await tokenCreated.getByRole('button', { name: /^Details/ }).click();
    const details = ui.page.locator('table.diff');
    expect(await details.getByRole('row').filter({ hasText: 'owner' }).getByRole('cell').allInnerTexts()).toEqual(['—', 'root']);

    await field('Action').fill('token.');
    await ui.page.getByRole('button', { name: 'Filter' }).click();
    await ui.page.waitForURL(`${ui.url}/audit?action=token.`);
    await expect.poll(() => auditColumn(3)).toEqual(['token.revoke', 'token.create']);
  });

  it('pages through the audit log with Load more', async () => {
    const api = await adminApi();
    for (let i = 0; i < 55; i++) await api.tenants.create.mutate({ name: `T${i}`, slug: `t${i}`, cpmsUrl: 'ws://127.0.0.1:9/ocpp' });
    await ui.page.goto(`${ui.url}/audit?action=tenant.create`);
    const targets = () => auditColumn(4);
    await expect.poll(targets).toHaveLength(50);
    expect((await targets())[0]).toBe('tenant:t54');
    await ui.page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(targets).toHaveLength(56);
    expect((await targets()).at(-1)).toBe('tenant:acme');
    expect(await ui.page.getByRole('button', { name: 'Load more' }).count()).toBe(0);
  });

  it('sends the user to the login page when the session ends, and back to where they were going', async () => {
    await ui.page.goto(`${ui.url}/audit`);
    await ui.page.getByTestId('audit').waitFor();
    // A new password (the same one here) ends every session of the user.
    const api = await adminApi();
    const [root] = (await api.users.list.query()).filter((user) => user.username === ADMIN.username);
    await api.users.update.mutate({ id: root!.id, password: ADMIN.password });

    await nav('Users').click();
    await ui.page.waitForURL(`${ui.url}/login?next=%2Fusers`);
    await submitLogin(ADMIN);
    await ui.page.waitForURL(`${ui.url}/users`);
    await rowWith('users', VIEWER.username).waitFor();
  });

  it('lets a viewer change their own password on the account page, once the current one is right', async () => {
    await signOut();
    await submitLogin(VIEWER);
    await ui.page.waitForURL(`${ui.url}/`);
    await ui.page.getByTestId('current-user').click();
    await ui.page.waitForURL(`${ui.url}/account`);

    const newPassword = 'a new viewer password';
    await field('Current password').fill('not my password');
    await field('New password').fill(newPassword);
    await field('Repeat new password').fill(newPassword);
    await ui.page.getByRole('button', { name: 'Change password' }).click();
    // One scrypt run: more than the default second on a busy machine.
    await expect.poll(() => errorUnder('Current password'), { timeout: 10_000 }).toBe('The current password is wrong');

    await field('Current password').fill(VIEWER.password);
    await ui.page.getByRole('button', { name: 'Change password' }).click();
    await ui.page.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
    expect(await errorUnder('Current password')).toBeNull();

    // Still signed in here; the new password is the one that works from now on.
    await signOut();
    await submitLogin(VIEWER);
    await alert().filter({ hasText: 'Wrong username or password' }).waitFor();
    await submitLogin({ ...VIEWER, password: newPassword });
    await ui.page.waitForURL(`${ui.url}/`);
    expect(await ui.page.getByTestId('current-user').innerText()).toMatch(/^vera\s+viewer$/);
  });
});

describe('login throttling', () => {
  let throttled: TestBroker;

  beforeAll(async () => {
    throttled = await startTestBroker({ logLevel: 'silent' });
  });

  afterAll(() => throttled?.close());

  it('says when to try again after five wrong passwords', async () => {
    await ui.page.goto(`${throttled.server.url}/login`);
    for (let attempt = 1; attempt <= 5; attempt++) {
      await submitLogin({ username: TEST_ADMIN.adminUser, password: `wrong password ${attempt}` });
      await alert().filter({ hasText: 'Wrong username or password' }).waitFor();
    }
    await submitLogin({ username: TEST_ADMIN.adminUser, password: TEST_ADMIN.adminPassword });
    const message = await alert().filter({ hasText: 'Too many failed sign-ins' }).innerText();
    expect(message).toMatch(/^Too many failed sign-ins\. Try again in 15 min \(at .+\)\.$/);
    expect(ui.page.url()).toBe(`${throttled.server.url}/login`);
  });
});
