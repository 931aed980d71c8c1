import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../server/paths.ts';
import { cspViolations, launchChromium } from './support/browser.ts';
import { startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';

let broker: TestBroker;
let cpms: TestCpms;
let browser: Browser;
let page: Page;
/** Content-Security-Policy violations reported while the tests ran. */
let violations: string[] = [];
const stations: ReturnType<typeof station>[] = [];
/** How often the tenant page refreshes its stations table. */
const REFRESH_MS = 2_000;

beforeAll(async () => {
  // The server serves build/ui as it is; make sure it is built from the current sources.
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
  [broker, cpms, browser] = await Promise.all([
    startTestBroker({ logLevel: 'silent' }),
    startCpms({ protocols: ['ocpp1.6'] }),
    launchChromium(),
  ]);
  page = await browser.newPage();
  violations = cspViolations(page);
  page.setDefaultTimeout(10_000);

  // Every page needs a session: sign in as the broker's first admin, as a user would.
  await page.goto(broker.server.url);
  await page.waitForURL(`${broker.server.url}/login`);
  await field('Username').fill(TEST_ADMIN.adminUser);
  await field('Password').fill(TEST_ADMIN.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${broker.server.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(stations.map((cp) => cp.close({ force: true })));
  await cpms?.close();
  await broker?.close();
});

/** Connects a station (OCPP 1.6) to the broker under the tenant's slug. */
async function connect(slug: string, identity: string) {
  const cp = station(broker.endpoint(slug), identity, ['ocpp1.6']);
  stations.push(cp);
  await cp.connect();
  return cp;
}

const field = (label: string) => page.getByLabel(label, { exact: true });
/** A link of the header's navigation. */
const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

/** The error message shown for the field with this label: the one its aria-describedby points to. */
function errorUnder(label: string): Promise<string | null> {
  return field(label).evaluate((input) => {
    const ids = input.getAttribute('aria-describedby')?.split(' ') ?? [];
    const error = ids.map((id) => document.getElementById(id)).find((element) => element?.classList.contains('error'));
    return error?.textContent ?? null;
  });
}

/** The row of the live stations table whose identity is `identity`. */
function stationRow(identity: string) {
  return page
    .getByTestId('stations')
    .getByRole('row')
    .filter({ has: page.getByRole('rowheader', { name: identity, exact: true }) });
}

/** A tenant that lets any station identity in: these tests connect stations that were never registered. */
async function createTenant(name: string, slug: string) {
  return broker.api.tenants.create.mutate({ name, slug, cpmsUrl: cpms.url, allowUnknownStations: true });
}

describe('the admin UI', () => {
  it('creates a tenant through the form, after showing the field errors of the shared schema', async () => {
    await page.goto(broker.server.url);
    await page.getByRole('link', { name: 'New tenant' }).click();

    await field('Name').fill('Acme Charging');
    expect(await field('Slug').inputValue()).toBe('acme-charging');
    await field('Slug').fill('Acme!');
    await field('CPMS URL').fill('http://cpms.example.com/ocpp');
    await page.getByRole('button', { name: 'Create tenant' }).click();

    await expect.poll(() => errorUnder('CPMS URL')).toBe('Must start with ws:// or wss://');
    expect(await errorUnder('Slug')).toBe('Lower-case letters, digits and inner hyphens only');
    expect(await errorUnder('Name')).toBeNull();
    expect(await broker.api.tenants.list.query()).toEqual([]);

    await field('Slug').fill('acme');
    await field('CPMS URL').fill(cpms.url);
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.waitForURL(/\/tenants\/\d+$/);
    const stationUrl = `ws://127.0.0.1:${broker.server.port}/ocpp/acme`;
    expect(await page.getByTestId('station-url').textContent()).toBe(stationUrl);

    await nav('Tenants').click();
    const row = page.getByTestId('tenants').getByRole('row').filter({ hasText: 'Acme Charging' });
    await row.waitFor();
    expect(await row.getByRole('cell').allInnerTexts()).toEqual(['acme', cpms.url, 'Enabled', '0', '0', 'No handshake yet', 'Drivers\nTransactions']);
    await row.getByRole('link', { name: 'Acme Charging' }).click();
    expect(await page.getByTestId('station-url').textContent()).toBe(stationUrl);
  });

  it("shows the broker's refusal of a taken slug under the slug field", async () => {
    await createTenant('Busy', 'busy');
    await page.goto(`${broker.server.url}/tenants/new`);
    await field('Name').fill('Busy again');
    await field('Slug').fill('busy');
    await field('CPMS URL').fill(cpms.url);
    await page.getByRole('button', { name: 'Create tenant' }).click();

    await expect.poll(() => errorUnder('Slug')).toMatch(/"busy" is taken/);
    expect(page.url()).toBe(`${broker.server.url}/tenants/new`);
  });

  it('lists a connecting station live, counts its frames, and drops it when it closes', async () => {
    const tenant = await createTenant('Live', 'live');
    // A deep link: the server answers it with the single-page app.
    await page.goto(`${broker.server.url}/tenants/${tenant.id}`);
    await page.getByTestId('no-stations').waitFor();
    await page.evaluate(() => Object.assign(window, { marker: 'not reloaded' }));

    const cp = await connect('live', 'CP-1');
    const row = stationRow('CP-1');
    await row.waitFor();
    const cells = () => row.getByRole('cell').allInnerTexts();
    const [subprotocol, , remoteAddress, , framesIn, framesOut] = await cells();
    expect({ subprotocol, remoteAddress, framesIn, framesOut }).toEqual({
      subprotocol: 'ocpp1.6',
      remoteAddress: expect.stringContaining('127.0.0.1'),
      framesIn: '0',
      framesOut: '0',
    });

    await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'Wallbox' });
    await expect.poll(async () => (await cells()).slice(4, 6), { timeout: REFRESH_MS * 2 }).toEqual(['1', '1']);
    expect((await cells())[3]).toMatch(/^(just now|\d+ s ago)$/);

    await cp.close();
    await row.waitFor({ state: 'detached' });
    await page.getByTestId('no-stations').waitFor();
    expect(await page.evaluate(() => (window as Window & { marker?: string }).marker)).toBe('not reloaded');
  });

  it('stops refreshing the stations table once the page is left', async () => {
    const tenant = await createTenant('Quiet', 'quiet');
    await page.goto(`${broker.server.url}/tenants/${tenant.id}`);
    await page.getByTestId('no-stations').waitFor();
    const refreshes: string[] = [];
    const count = (request: { url(): string }) => {
      if (request.url().includes('stations.list')) refreshes.push(request.url());
    };
    page.on('request', count);
    try {
      await expect.poll(() => refreshes.length, { timeout: REFRESH_MS * 2 }).toBeGreaterThan(0);
      await nav('Tenants').click();
      await page.getByTestId('tenants').waitFor();
      const before = refreshes.length;
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS * 1.5));
      expect(refreshes.length).toBe(before);
    } finally {
      page.off('request', count);
    }
  });

  it('disconnects a station with its Disconnect button', async () => {
    const tenant = await createTenant('Kick', 'kick');
    await page.goto(`${broker.server.url}/tenants/${tenant.id}`);
    const cp = await connect('kick', 'CP-2');
    const closed = once(cp, 'close');

    await page.getByRole('button', { name: 'Disconnect CP-2' }).click();
    const [{ code }] = (await closed) as [{ code: number }];
    expect(code).toBe(1000);
    await stationRow('CP-2').waitFor({ state: 'detached' });
  });

  it('saves the settings, showing an invalid CPMS URL under its field', async () => {
    const tenant = await createTenant('Before', 'settings');
    await page.goto(`${broker.server.url}/tenants/${tenant.id}`);
    expect(await field('Slug').getAttribute('readonly')).not.toBeNull();

    await field('CPMS URL').fill('http://cpms.example.com');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => errorUnder('CPMS URL')).toBe('Must start with ws:// or wss://');

    await field('Name').fill('After');
    await field('CPMS URL').fill(`${cpms.url}/`);
    await page.getByLabel('Enabled').uncheck();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('After');
    expect(await errorUnder('CPMS URL')).toBeNull();
    expect(await broker.api.tenants.get.query({ id: tenant.id })).toMatchObject({
      name: 'After',
      cpmsUrl: cpms.url,
      enabled: false,
    });
  });

  it('removes a tenant with connected stations only after a second confirmation', async () => {
    const tenant = await createTenant('Gone', 'gone');
    await page.goto(`${broker.server.url}/tenants/${tenant.id}`);
    const cp = await connect('gone', 'CP-3');
    await stationRow('CP-3').waitFor();
    const closed = once(cp, 'close');

    await page.getByRole('button', { name: 'Remove tenant…' }).click();
    await page.getByRole('button', { name: 'Remove', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'connected' }).waitFor();
    expect((await broker.api.tenants.list.query()).map((t) => t.slug)).toContain('gone');

    await page.getByRole('button', { name: 'Disconnect them and remove' }).click();
    await page.waitForURL(`${broker.server.url}/`);
    await closed;
    expect((await broker.api.tenants.list.query()).map((t) => t.slug)).not.toContain('gone');
    expect(await page.getByTestId('tenants').textContent()).not.toContain('Gone');
  });
});

describe('the Content-Security-Policy', () => {
  it('is in force, and nothing the pages above did broke it', async () => {
    const response = await page.goto(broker.server.url);
    expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await page.waitForLoadState('networkidle');
    expect(violations).toEqual([]);
  });
});
