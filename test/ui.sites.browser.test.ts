import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Store } from '../db/index.ts';
import { limitChanges, smartOffers, stations as stationsTable } from '../db/schema.ts';
import { browserTest, keepsTheCsp } from './support/browser.ts';
import type { TestBroker } from './support/broker.ts';
import { station, type TestCpms } from './support/ocpp.ts';

// Numbers are compared as the page formats them.
const ui = browserTest({ cpms: ['ocpp1.6'], page: { locale: 'en-US' } });
let broker: TestBroker;
let cpms: TestCpms;
let page: Page;
let url: string;
let tenantId: number;
let store: Store;
const stations = ui.stations;

beforeAll(async () => {
  ({ broker, cpms, page, url } = ui);
  ({ id: tenantId } = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url }));
  for (const identity of ['CP1', 'CP2', 'CP3']) await broker.api.registry.create.mutate({ tenantId, identity });
  // A second connection to the broker's database, to write what dispatch writes (its offers, its log, its marks).
  store = openDatabase(path.join(broker.dataDir, 'broker.db'));
});

afterAll(() => store?.close());

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

/** A 1.6 station of the tenant charging through the broker, its car drawing `amps` on each phase. */
async function charging(identity: string, amps: number) {
  const cp = station(broker.endpoint('acme'), identity, ['ocpp1.6']);
  stations.push(cp);
  await cp.connect();
  await cp.call('StatusNotification', { connectorId: 1, status: 'Charging', errorCode: 'NoError', timestamp: new Date().toISOString() });
  const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE1', meterStart: 0, timestamp: new Date().toISOString() })) as { transactionId: number };
  const draw = async (a: number) => {
    await cp.call('MeterValues', {
      connectorId: 1,
      transactionId,
      meterValue: [{ timestamp: new Date().toISOString(), sampledValue: ['L1', 'L2', 'L3'].map((phase) => ({ value: a.toFixed(1), measurand: 'Current.Import', phase, unit: 'A' })) }],
    });
  };
  await draw(amps);
  return { cp, transactionId: String(transactionId), draw };
}

/** Longer than the page's refresh (3 s) and the limit log's. */
const live = { timeout: 10_000 };

describe('the live site page', () => {
  let siteId: number;
  let stationIds: Record<string, number>;
  let cp2: ReturnType<typeof station>;

  beforeAll(async () => {
    ({ id: siteId } = await broker.api.sites.create.mutate({ tenantId, name: 'Yard', gridLimitA: 20 }));
    stationIds = Object.fromEntries((await broker.api.registry.list.query({ tenantId })).map((s) => [s.identity, s.id]));
    for (const identity of ['CP2', 'CP3']) await broker.api.registry.update.mutate({ id: stationIds[identity]!, siteId, maxCurrentA: 16 });
  });

  it('shows the offer in force against the measured current, and follows a new offer and a new reading live', async () => {
    const { cp, transactionId, draw } = await charging('CP2', 15.6);
    cp2 = cp;
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${url}/tenants/${tenantId}/sites/${siteId}`);
    const session = page.getByTestId('site-sessions').getByRole('row', { name: /CP2/ });
    // Not sent yet: what the allocation would offer (the site's 20 A, capped by the station's 16 A).
    await expect.poll(() => session.getByTestId('offer').textContent(), live).toBe('16.0 A');
    expect(await session.getByTestId('not-sent').isVisible()).toBe(true);
    expect(await session.getByTestId('measured').textContent()).toBe('15.6 A');
    expect(await session.getByRole('img').getAttribute('aria-label')).toBe('Draws 15.6 A of 16.0 A offered');
    expect(await session.getByTestId('stale').count()).toBe(0);

    // Dispatch sends 12 A and the car follows: the page shows both without a reload.
    store.db.insert(smartOffers).values({ tenantId, identity: 'CP2', transactionId, siteId, offerA: 12, reason: 'share', chargingSince: new Date() }).run();
    await expect.poll(() => session.getByTestId('offer').textContent(), live).toBe('12.0 A');
    expect(await session.getByTestId('not-sent').count()).toBe(0);
    await draw(11.9);
    await expect.poll(() => session.getByTestId('measured').textContent(), live).toBe('11.9 A');
    await expect.poll(() => page.getByTestId('offered').textContent(), live).toContain('L1 12.0 A');
  }, 40_000);

  it('lists the limit changes, newest first, 20 and then older ones on request', async () => {
    const start = Date.now() - 60 * 60_000;
    store.db
      .insert(limitChanges)
      .values(Array.from({ length: 45 }, (_, i) => ({ siteId, identity: 'CP2', transactionId: String(i), purpose: 'TxProfile', fromA: 16, toA: 6 + (i % 10), reason: 'share', outcome: i === 44 ? 'Rejected' : 'Accepted', at: new Date(start + i * 60_000) })))
      .run();
    const log = page.getByTestId('limit-changes');
    await expect.poll(() => log.locator('tbody tr').count(), live).toBe(20);
    expect(await log.locator('tbody tr').first().textContent()).toMatch(/CP2\s*transaction 44\s*TxProfile\s*16\.0 A\s*10\.0 A\s*Equal share\s*Rejected/);
    await button('Show older changes').click();
    await expect.poll(() => log.locator('tbody tr').count()).toBe(45);
    expect(await log.locator('tbody tr').last().textContent()).toContain('transaction 0');
    expect(await button('Show older changes').count()).toBe(0);
  });

  it('marks an uncontrollable station with why and since, and an admin clears the mark', async () => {
    store.db.update(stationsTable).set({ uncontrollable: true, uncontrollableReason: 'rejected', uncontrollableSince: new Date(Date.now() - 5 * 60_000) }).where(eq(stationsTable.id, stationIds.CP3!)).run();
    const row = page.getByTestId('site-stations').getByRole('row', { name: /CP3/ });
    await expect.poll(() => row.textContent(), live).toContain('Uncontrollable');
    expect(await row.getByTestId('uncontrollable-why').textContent()).toMatch(/answered a charging profile Rejected, NotSupported or with an error,\s*since 5 min ago/);
    await expect.poll(() => page.getByTestId('available').textContent(), live).toBe('L1 4.0 A · L2 4.0 A · L3 4.0 A');

    // The dashboard alerts it too, and leads to the site page.
    await page.goto(`${url}/`);
    const alert = page.getByTestId('alerts').getByRole('listitem').filter({ hasText: 'CP3' });
    await expect.poll(() => alert.textContent(), live).toMatch(/CP3\s*of acme is not controlled by smart charging, and counted at its maximum, since\s*5 min ago:\s*It answered a charging profile Rejected/);
    await alert.getByRole('link', { name: 'CP3' }).click();
    await page.waitForURL(`${url}/tenants/${tenantId}/sites/${siteId}`);

    await row.getByRole('button', { name: 'Clear the uncontrollable mark of CP3' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'CP3 is controlled again' }).count()).toBe(1);
    await expect.poll(() => row.textContent()).toContain('Controlled');
    expect(await row.getByTestId('uncontrollable-why').count()).toBe(0);
    await expect.poll(() => page.getByTestId('available').textContent()).toBe('L1 20.0 A · L2 20.0 A · L3 20.0 A');
    const [entry] = await broker.api.audit.list.query({ action: 'station.update', limit: 1 });
    expect(entry).toMatchObject({ target: 'station:acme/CP3', after: expect.objectContaining({ uncontrollable: false }) });
  });

  it("refuses taking away the site's only limit and a negative maximum, each under its field with focus on it", async () => {
    const settings = page.getByRole('form', { name: 'Site settings' });
    await settings.getByLabel('Grid limit per phase (A)', { exact: true }).fill('');
    await settings.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => settings.getByText('A limit in A or in kW').count()).toBe(1);
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('gridLimitA');
    expect((await broker.api.sites.get.query({ id: siteId })).site.gridLimitA).toBe(20);
    await settings.getByLabel('Grid limit per phase (A)', { exact: true }).fill('20');

    const assign = page.getByRole('form', { name: 'Assign a station' });
    await assign.getByLabel('Station', { exact: true }).selectOption({ label: 'CP3 (on this site)' });
    await assign.getByLabel('Maximum current per phase (A)', { exact: true }).fill('-1');
    await assign.getByRole('button', { name: 'Assign' }).click();
    await expect.poll(() => assign.getByText('Not negative').count()).toBe(1);
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('maxCurrentA');
  });

  it('keeps the offers on screen and readable on a 390 px wide phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    const session = page.getByTestId('site-sessions').getByRole('row', { name: /CP2/ });
    await expect.poll(() => session.getByTestId('offer').textContent()).toBe('12.0 A');
    for (const cell of [session.getByTestId('offer'), session.getByTestId('measured'), session.getByRole('img')]) {
      const box = (await cell.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
    }
    // The page itself does not scroll sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('marks the reading of a session whose station went offline', async () => {
    const session = page.getByTestId('site-sessions').getByRole('row', { name: /CP2/ });
    expect(await session.getByTestId('stale').count()).toBe(0);
    await cp2.close({ force: true });
    await expect.poll(() => session.getByTestId('stale').textContent(), live).toBe('Offline');
    expect(await session.getByTestId('measured').textContent()).toBe('11.9 A');
  });

  it('saves the CPMS charging policy in the tenant settings, which it enables with smart charging', async () => {
    await page.goto(`${url}/tenants/${tenantId}`);
    const settings = page.getByRole('form', { name: 'Tenant settings' });
    const reject = settings.getByRole('radio', { name: /Answer Rejected/ });
    expect(await reject.isDisabled()).toBe(true);
    await settings.getByLabel('Smart charging').check();
    expect(await reject.isDisabled()).toBe(false);
    await reject.check();
    await settings.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => settings.getByRole('status').textContent()).toBe('Saved');
    expect(await broker.api.tenants.get.query({ id: tenantId })).toMatchObject({ smartCharging: true, cpmsChargingPolicy: 'reject' });
    await page.reload();
    expect(await page.getByRole('form', { name: 'Tenant settings' }).getByRole('radio', { name: /Answer Rejected/ }).isChecked()).toBe(true);
  });
});

keepsTheCsp(ui);
