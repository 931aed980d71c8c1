import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
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
let tenantId: number;
const stations: ReturnType<typeof station>[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
  [broker, cpms, browser] = await Promise.all([startTestBroker({ logLevel: 'silent' }), startCpms({ protocols: ['ocpp1.6'] }), launchChromium()]);
  url = broker.server.url;
  page = await browser.newPage({ locale: 'en-US' });
  page.setDefaultTimeout(10_000);
  await page.goto(url);
  await page.waitForURL(`${url}/login`);
  await page.getByLabel('Username', { exact: true }).fill(TEST_ADMIN.adminUser);
  await page.getByLabel('Password', { exact: true }).fill(TEST_ADMIN.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${url}/`);
  ({ id: tenantId } = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url }));
  for (const identity of ['CP1', 'CP2']) await broker.api.registry.create.mutate({ tenantId, identity });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(stations.map((cp) => cp.close({ force: true })));
  await cpms?.close();
  await broker?.close();
});

const field = (label: string) => page.getByLabel(label, { exact: true });
const button = (name: string) => page.getByRole('button', { name, exact: true });

describe('sites in the UI', () => {
  it("creates a site from the tenant page, assigns a station, and shows its session's offer against what it draws", async () => {
    await page.goto(`${url}/tenants/${tenantId}`);
    await page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Sites' }).click();
    await page.waitForURL(`${url}/tenants/${tenantId}/sites`);
    await expect.poll(() => page.getByTestId('smart-charging').textContent()).toContain('Off');

    // A site without a limit is refused in the form.
    await field('Name').fill('Depot');
    await button('Create site').click();
    await expect.poll(() => page.getByText('A limit in A or in kW').count()).toBe(1);
    await field('Grid limit per phase (A)').fill('32');
    await button('Create site').click();
    await page.waitForURL(new RegExp(`/tenants/${tenantId}/sites/\\d+$`));
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Depot');
    await expect.poll(() => page.getByTestId('limit-now').textContent()).toContain('32.0 A per phase');
    expect(await page.getByTestId('no-site-stations').isVisible()).toBe(true);

    await page.getByLabel('Station', { exact: true }).selectOption({ label: 'CP1' });
    await field('Maximum current per phase (A)').fill('16');
    await button('Assign').click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'CP1 assigned' }).count()).toBe(1);
    const row = page.getByTestId('site-stations').getByRole('row', { name: /CP1/ });
    await expect.poll(() => row.textContent()).toMatch(/CP1\s*16 A\s*3\s*0\s*Controlled/);

    // The station charges through the broker: its car takes 10 A of the 16 A its station allows.
    const cp = station(broker.endpoint('acme'), 'CP1', ['ocpp1.6']);
    stations.push(cp);
    await cp.connect();
    await cp.call('StatusNotification', { connectorId: 1, status: 'Charging', errorCode: 'NoError', timestamp: new Date().toISOString() });
    const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE1', meterStart: 0, timestamp: new Date().toISOString() })) as { transactionId: number };
    await cp.call('MeterValues', {
      connectorId: 1,
      transactionId,
      meterValue: [
        {
          timestamp: new Date().toISOString(),
          sampledValue: [
            ...['L1', 'L2', 'L3'].map((phase) => ({ value: '10.0', measurand: 'Current.Import', phase, unit: 'A' })),
            { value: '6900', measurand: 'Power.Active.Import', unit: 'W' },
          ],
        },
      ],
    });
    const session = page.getByTestId('site-sessions').getByRole('row', { name: /CP1/ });
    // Offered 16 A it would take 10 A: the car is the limit, at the ampere above 10 A + 0.8 A.
    await expect.poll(() => session.getByTestId('offer').textContent(), { timeout: 15_000 }).toBe('11.0 A');
    expect(await session.getByTestId('measured').textContent()).toBe('10.0 A');
    expect(await session.textContent()).toContain('Car takes less');
    expect(await page.getByTestId('site-load-chart').count()).toBe(1);

    // Excluded, it is counted at its maximum and not offered anything.
    await row.getByRole('button', { name: 'Change CP1' }).click();
    await page.getByLabel('Excluded').check();
    await button('Assign').click();
    await expect.poll(() => row.textContent()).toContain('Excluded');
    await expect.poll(() => page.getByTestId('available').textContent()).toBe('L1 16.0 A · L2 16.0 A · L3 16.0 A');
    await expect.poll(() => session.textContent()).toContain('Not controlled');
  });

  it('shows the site in the list of the tenant sites, and the window of the schedule in force', async () => {
    const [site] = await broker.api.sites.list.query({ tenantId });
    const now = new Date();
    const from = `${String(now.getUTCHours()).padStart(2, '0')}:00`;
    const to = `${String((now.getUTCHours() + 1) % 24).padStart(2, '0')}:00`;
    const weekday = ((now.getUTCDay() + 6) % 7) + 1;
    await broker.api.sites.update.mutate({ id: site!.id, schedule: [{ weekdays: [weekday as 1], from, to, limitA: 20 }] });
    await page.goto(`${url}/tenants/${tenantId}/sites`);
    await expect.poll(() => page.getByTestId('sites').textContent()).toMatch(/Depot\s*32 A per phase\s*1\s*1 window/);
    await page.getByRole('link', { name: 'Depot' }).click();
    await expect.poll(() => page.getByTestId('limit-now').textContent()).toContain('20.0 A per phase');
    expect(await page.getByTestId('limit-now').textContent()).toContain(`Schedule:`);
    expect(await page.getByTestId('schedule-window').count()).toBe(1);
  });
});
