import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';
import { TEST_ADMIN } from './support/broker.ts';
import { station } from './support/ocpp.ts';

// Numbers and dates are compared as the page formats them.
const ui = browserTest({ cpms: ['ocpp1.6'], page: { locale: 'en-US' } });
/** How often the tenant list and the tenant page refresh, and the station page. */
const REFRESH_MS = 3_000;
const PHONE = { width: 390, height: 844 };

/** What has keyboard focus: its tag, id, role, aria-invalid, label text and own text. */
function focused(on: Page = ui.page) {
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
  const cp = station(ui.broker.endpoint(slug), identity, ['ocpp1.6']);
  ui.stations.push(cp);
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
    const context = await ui.browser.newContext();
    const visitor = await context.newPage();
    try {
      await visitor.goto(`${ui.url}/login`);
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
    await ui.broker.api.tenants.create.mutate({ name: 'Taken', slug: 'taken', cpmsUrl: ui.cpms.url });
    await ui.page.goto(`${ui.url}/tenants/new`);
    await ui.page.getByLabel('Name', { exact: true }).fill('Taken again');
    await ui.page.getByLabel('Slug', { exact: true }).fill('taken');
    await ui.page.getByLabel('CPMS URL', { exact: true }).fill(ui.cpms.url);
    await ui.page.getByRole('button', { name: 'Create tenant' }).click();
    await expect.poll(() => focused()).toMatchObject({ tag: 'input', label: 'Slug', invalid: 'true' });
  });

  it('meets a skip link first on every page, which leads past the header to the content', async () => {
    await ui.page.goto(ui.url);
    await ui.page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await ui.page.keyboard.press('Tab');
    expect(await focused()).toMatchObject({ tag: 'a', text: 'Skip to content' });
    await ui.page.keyboard.press('Enter');
    await expect.poll(() => focused()).toMatchObject({ tag: 'main', id: 'main' });
    await ui.page.keyboard.press('Tab');
    expect(await ui.page.evaluate(() => document.querySelector('main')!.contains(document.activeElement))).toBe(true);
  });
});

describe('live figures', () => {
  it('counts the stations of each tenant live on the tenant list, without a reload', async () => {
    await ui.broker.api.tenants.create.mutate({ name: 'Counted', slug: 'counted', cpmsUrl: ui.cpms.url, allowUnknownStations: true });
    await ui.page.goto(ui.url);
    const count = ui.page.getByTestId('tenants').getByRole('row').filter({ hasText: 'Counted' }).getByTestId('stations-connected');
    expect(await count.innerText()).toBe('0');
    await ui.page.evaluate(() => Object.assign(window, { marker: 'not reloaded' }));

    const cp = await connect('counted', 'CP-COUNT');
    await expect.poll(() => count.innerText(), { timeout: REFRESH_MS * 2 }).toBe('1');
    await cp.close();
    await expect.poll(() => count.innerText(), { timeout: REFRESH_MS * 2 }).toBe('0');
    expect(await ui.page.evaluate(() => (window as Window & { marker?: string }).marker)).toBe('not reloaded');
  });

  it('charts the live session over its own span, keeps the live figures on a phone screen, and marks them offline when the station drops', async () => {
    const tenant = await ui.broker.api.tenants.create.mutate({ name: 'Live', slug: 'live', cpmsUrl: ui.cpms.url, allowUnknownStations: true });
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

    // The writer writes in batches, at least every second: the page is opened once both readings are in.
    await expect
      .poll(async () => (await ui.broker.api.transactions.list.query({ tenantId: tenant.id, identity: 'CP-LIVE' })).transactions[0]?.energyWh, { timeout: 5000 })
      .toBe(5000);
    await ui.page.goto(`${ui.url}/tenants/${tenant.id}/stations/CP-LIVE`);
    const chart = ui.page.getByTestId('power-chart');
    await chart.locator('.uplot canvas').waitFor();
    expect(await ui.page.getByLabel('Show', { exact: true }).locator('option:checked').innerText()).toMatch(/^The live session/);
    // From the session's start to now: not the last 24 hours, with the session squeezed against the edge.
    const startedAt = Date.parse(minutesAgo(30));
    await expect.poll(async () => Date.parse((await chart.getAttribute('data-to')) ?? '')).toBeGreaterThan(Date.now() - 60_000);
    const from = Date.parse((await chart.getAttribute('data-from')) ?? '');
    expect(from).toBeLessThanOrEqual(startedAt);
    expect(from).toBeGreaterThan(startedAt - 5 * 60_000);
    // The energy so far is the broker's (from the meter register), the power the last reading, with its age.
    const energy = ui.page.getByTestId('energy-so-far');
    const power = ui.page.getByTestId('power');
    await expect.poll(() => energy.innerText()).toBe('5.00 kWh');
    expect(await power.innerText()).toBe('9,600 W');
    expect(await ui.page.getByTestId('live-sessions').getByRole('row').nth(1).innerText()).toMatch(/10 min ago/);

    await ui.page.setViewportSize(PHONE);
    try {
      for (const figure of [energy, power]) expect(await withinWidth(figure, PHONE.width)).toBe(true);
      expect(await scrollsSideways(ui.page)).toBe(false);
      const header = await ui.page.locator('header.top').boundingBox();
      expect(header!.height).toBeLessThan(PHONE.height * 0.1);

      await ui.page.goto(`${ui.url}/tenants/${tenant.id}`);
      const frames = ui.page.getByTestId('stations').getByTestId('frames-in');
      await frames.waitFor();
      for (const figure of [frames, ui.page.getByTestId('stations').getByTestId('last-frame')]) expect(await withinWidth(figure, PHONE.width)).toBe(true);
      expect(await scrollsSideways(ui.page)).toBe(false);

      // The menu opens the navigation, within the screen too.
      await ui.page.getByRole('button', { name: 'Menu' }).click();
      expect(await withinWidth(ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Transactions' }), PHONE.width)).toBe(true);
      expect(await scrollsSideways(ui.page)).toBe(false);
    } finally {
      await ui.page.setViewportSize({ width: 1280, height: 720 });
    }

    await ui.page.goto(`${ui.url}/tenants/${tenant.id}/stations/CP-LIVE`);
    await expect.poll(() => power.innerText()).toBe('9,600 W');
    await cp.close();
    await expect.poll(() => power.innerText(), { timeout: REFRESH_MS * 2 }).toBe('Offline');
    const connectors = ui.page.getByTestId('connectors');
    // The connector's last status is history now, not a badge saying it charges.
    expect(await connectors.locator('.badge').allInnerTexts()).toEqual(['Offline']);
    expect(await ui.page.getByTestId('last-seen').innerText()).toMatch(/^last seen /);
  });
});
