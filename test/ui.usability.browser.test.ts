import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../server/paths.ts';
import { launchChromium } from './support/browser.ts';
import { startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';

let broker: TestBroker;
let cpms: TestCpms;
let browser: Browser;
let page: Page;
let url: string;
const stations: ReturnType<typeof station>[] = [];
/** How often the tenant list and the tenant page refresh, and the station page. */
const REFRESH_MS = 3_000;
const PHONE = { width: 390, height: 844 };

beforeAll(async () => {
  // The server serves build/ui as it is; make sure it is built from the current sources.
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
  [broker, cpms, browser] = await Promise.all([startTestBroker({ logLevel: 'silent' }), startCpms({ protocols: ['ocpp1.6'] }), launchChromium()]);
  url = broker.server.url;
  page = await browser.newPage({ locale: 'en-US' });
  page.setDefaultTimeout(10_000);
  await signIn(page);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(stations.map((cp) => cp.close({ force: true })));
  await cpms?.close();
  await broker?.close();
});

async function signIn(on: Page) {
  await on.goto(url);
  await on.waitForURL(`${url}/login`);
  await on.getByLabel('Username', { exact: true }).fill(TEST_ADMIN.adminUser);
  await on.getByLabel('Password', { exact: true }).fill(TEST_ADMIN.adminPassword);
  await on.getByRole('button', { name: 'Sign in' }).click();
  await on.waitForURL(`${url}/`);
}

/** What has keyboard focus: its tag, id, role, aria-invalid, label text and own text. */
function focused(on: Page = page) {
  return on.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    const input = element as HTMLInputElement | null;
    return {
      tag: element?.tagName.toLowerCase(),
      id: element?.id,
      role: element?.getAttribute('role') ?? null,
      invalid: element?.getAttribute('aria-invalid') ?? null,
      label: input?.labels?.[0]?.textContent?.trim() ?? null,
      text: element?.textContent?.trim() ?? '',
    };
  });
}

async function connect(slug: string, identity: string) {
  const cp = station(broker.endpoint(slug), identity, ['ocpp1.6']);
  stations.push(cp);
  await cp.connect();
  return cp;
}

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** Whether an element lies within the page's viewport, left to right. */
async function withinWidth(locator: Locator, width: number): Promise<boolean> {
  const box = await locator.boundingBox();
  return box !== null && box.x >= 0 && box.x + box.width <= width;
}

/** Whether the page scrolls sideways. */
const scrollsSideways = (on: Page) => on.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

describe('keyboard focus', () => {
  it('starts on the username of the login page, and goes to the message when a sign-in is refused', async () => {
    const context = await browser.newContext();
    const visitor = await context.newPage();
    try {
      await visitor.goto(`${url}/login`);
      await expect.poll(() => focused(visitor)).toMatchObject({ tag: 'input', label: 'Username' });
      await visitor.keyboard.type(TEST_ADMIN.adminUser);
      await visitor.getByLabel('Password', { exact: true }).fill('not the password');
      await visitor.keyboard.press('Enter');
      await visitor.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
      await expect.poll(() => focused(visitor)).toMatchObject({ role: 'alert', text: 'Wrong username or password' });
    } finally {
      await context.close();
    }
  });

  it('goes to the slug field when the broker refuses a taken slug', async () => {
    await broker.api.tenants.create.mutate({ name: 'Taken', slug: 'taken', cpmsUrl: cpms.url });
    await page.goto(`${url}/tenants/new`);
    await page.getByLabel('Name', { exact: true }).fill('Taken again');
    await page.getByLabel('Slug', { exact: true }).fill('taken');
    await page.getByLabel('CPMS URL', { exact: true }).fill(cpms.url);
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await expect.poll(() => focused()).toMatchObject({ tag: 'input', label: 'Slug', invalid: 'true' });
  });

  it('meets a skip link first on every page, which leads past the header to the content', async () => {
    await page.goto(url);
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await focused()).toMatchObject({ tag: 'a', text: 'Skip to content' });
    await page.keyboard.press('Enter');
    await expect.poll(() => focused()).toMatchObject({ tag: 'main', id: 'main' });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.querySelector('main')!.contains(document.activeElement))).toBe(true);
  });
});

describe('live figures', () => {
  it('counts the stations of each tenant live on the tenant list, without a reload', async () => {
    await broker.api.tenants.create.mutate({ name: 'Counted', slug: 'counted', cpmsUrl: cpms.url, allowUnknownStations: true });
    await page.goto(url);
    const count = page.getByTestId('tenants').getByRole('row').filter({ hasText: 'Counted' }).getByTestId('stations-connected');
    expect(await count.innerText()).toBe('0');
    await page.evaluate(() => Object.assign(window, { marker: 'not reloaded' }));

    const cp = await connect('counted', 'CP-COUNT');
    await expect.poll(() => count.innerText(), { timeout: REFRESH_MS * 2 }).toBe('1');
    await cp.close();
    await expect.poll(() => count.innerText(), { timeout: REFRESH_MS * 2 }).toBe('0');
    expect(await page.evaluate(() => (window as Window & { marker?: string }).marker)).toBe('not reloaded');
  });

  it('charts the live session over its own span, keeps the live figures on a phone screen, and marks them offline when the station drops', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Live', slug: 'live', cpmsUrl: cpms.url, allowUnknownStations: true });
    const cp = await connect('live', 'CP-LIVE');
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: minutesAgo(30) });
    const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE-L', meterStart: 1000, timestamp: minutesAgo(30) })) as { transactionId: number };
    for (const [minutes, energyWh] of [[20, 3500], [10, 6000]] as const) {
      await cp.call('MeterValues', {
        connectorId: 1,
        transactionId,
        meterValue: [
          {
            timestamp: minutesAgo(minutes),
            sampledValue: [
              { value: String(energyWh), unit: 'Wh', measurand: 'Energy.Active.Import.Register' },
              { value: '9600', unit: 'W', measurand: 'Power.Active.Import' },
            ],
          },
        ],
      });
    }

    await page.goto(`${url}/tenants/${tenant.id}/stations/CP-LIVE`);
    const chart = page.getByTestId('power-chart');
    await chart.locator('.uplot canvas').waitFor();
    expect(await page.getByLabel('Show', { exact: true }).locator('option:checked').innerText()).toMatch(/^The live session/);
    // From the session's start to now: not the last 24 hours, with the session squeezed against the edge.
    const startedAt = Date.parse(minutesAgo(30));
    await expect.poll(async () => Date.parse((await chart.getAttribute('data-to')) ?? '')).toBeGreaterThan(Date.now() - 60_000);
    const from = Date.parse((await chart.getAttribute('data-from')) ?? '');
    expect(from).toBeLessThanOrEqual(startedAt);
    expect(from).toBeGreaterThan(startedAt - 5 * 60_000);
    // The energy so far is the broker's (from the meter register), the power the last reading, with its age.
    const energy = page.getByTestId('energy-so-far');
    const power = page.getByTestId('power');
    await expect.poll(() => energy.innerText()).toBe('5.00 kWh');
    expect(await power.innerText()).toBe('9,600 W');
    expect(await page.getByTestId('live-sessions').getByRole('row').nth(1).innerText()).toMatch(/10 min ago/);

    await page.setViewportSize(PHONE);
    try {
      for (const figure of [energy, power]) expect(await withinWidth(figure, PHONE.width)).toBe(true);
      expect(await scrollsSideways(page)).toBe(false);
      const header = await page.locator('header.top').boundingBox();
      expect(header!.height).toBeLessThan(PHONE.height * 0.1);

      await page.goto(`${url}/tenants/${tenant.id}`);
      const frames = page.getByTestId('stations').getByTestId('frames-in');
      await frames.waitFor();
      for (const figure of [frames, page.getByTestId('stations').getByTestId('last-frame')]) expect(await withinWidth(figure, PHONE.width)).toBe(true);
      expect(await scrollsSideways(page)).toBe(false);

      // The menu opens the navigation, within the screen too.
      await page.getByRole('button', { name: 'Menu' }).click();
      expect(await withinWidth(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Transactions' }), PHONE.width)).toBe(true);
      expect(await scrollsSideways(page)).toBe(false);
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
    }

    await page.goto(`${url}/tenants/${tenant.id}/stations/CP-LIVE`);
    await expect.poll(() => power.innerText()).toBe('9,600 W');
    await cp.close();
    await expect.poll(() => power.innerText(), { timeout: REFRESH_MS * 2 }).toBe('Offline');
    const connectors = page.getByTestId('connectors');
    // The connector's last status is history now, not a badge saying it charges.
    expect(await connectors.locator('.badge').allInnerTexts()).toEqual(['Offline']);
    expect(await page.getByTestId('last-seen').innerText()).toMatch(/^last seen /);
  });
});
