import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { browserTest, keepsTheCsp } from './support/browser.ts';
import { station } from './support/ocpp.ts';

const ui = browserTest({ cpms: ['ocpp1.6'] });
/** How often the tenant page refreshes its stations table. */
const REFRESH_MS = 2_000;

/** Connects a station (OCPP 1.6) to the broker under the tenant's slug. */
async function connect(slug: string, identity: string) {
  const cp = station(ui.broker.endpoint(slug), identity, ['ocpp1.6']);
  ui.stations.push(cp);
  await cp.connect();
  return cp;
}

const field = (label: string) => ui.page.getByLabel(label, { exact: true });
/** A link of the header's navigation. */
const nav = (name: string) => ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

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
  return ui.page
    .getByTestId('stations')
    .getByRole('row')
    .filter({ has: ui.page.getByRole('rowheader', { name: identity, exact: true }) });
}

/** A tenant that lets any station identity in: these tests connect stations that were never registered. */
async function createTenant(name: string, slug: string) {
  return ui.broker.api.tenants.create.mutate({ name, slug, cpmsUrl: ui.cpms.url, allowUnknownStations: true });
}

describe('the admin UI', () => {
  it('creates a tenant through the form, after showing the field errors of the shared schema', async () => {
    await ui.page.goto(ui.broker.server.url);
    await ui.page.getByRole('link', { name: 'New tenant' }).click();

    await field('Name').fill('Acme Charging');
    expect(await field('Slug').inputValue()).toBe('acme-charging');
    await field('Slug').fill('Acme!');
    await field('CPMS URL').fill('http://cpms.example.com/ocpp');
    await ui.page.getByRole('button', { name: 'Create tenant' }).click();

    await expect.poll(() => errorUnder('CPMS URL')).toBe('Must start with ws:// or wss://');
    expect(await errorUnder('Slug')).toBe('Lower-case letters, digits and inner hyphens only');
    expect(await errorUnder('Name')).toBeNull();
    expect(await ui.broker.api.tenants.list.query()).toEqual([]);

    await field('Slug').fill('acme');
    await field('CPMS URL').fill(ui.cpms.url);
    await ui.page.getByRole('button', { name: 'Create tenant' }).click();
    await ui.page.waitForURL(/\/tenants\/\d+$/);
    const stationUrl = `ws://127.0.0.1:${ui.broker.server.port}/ocpp/acme`;
    expect(await ui.page.getByTestId('station-url').textContent()).toBe(stationUrl);

    await nav('Tenants').click();
    const row = ui.page.getByTestId('tenants').getByRole('row').filter({ hasText: 'Acme Charging' });
    await row.waitFor();
    expect(await row.getByRole('cell').allInnerTexts()).toEqual(['acme', ui.cpms.url, 'Enabled', '0', '0', 'No handshake yet', 'Drivers\nTransactions']);
    await row.getByRole('link', { name: 'Acme Charging' }).click();
    expect(await ui.page.getByTestId('station-url').textContent()).toBe(stationUrl);
  });

  it("shows the broker's refusal of a taken slug under the slug field", async () => {
    await createTenant('Busy', 'busy');
    await ui.page.goto(`${ui.broker.server.url}/tenants/new`);
    await field('Name').fill('Busy again');
    await field('Slug').fill('busy');
    await field('CPMS URL').fill(ui.cpms.url);
    await ui.page.getByRole('button', { name: 'Create tenant' }).click();

    await expect.poll(() => errorUnder('Slug')).toMatch(/"busy" is taken/);
    expect(ui.page.url()).toBe(`${ui.broker.server.url}/tenants/new`);
  });

  it('lists a connecting station live, counts its frames, and drops it when it closes', async () => {
    const tenant = await createTenant('Live', 'live');
    // A deep link: the server answers it with the single-page app.
    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}`);
    await ui.page.getByTestId('no-stations').waitFor();
    await ui.page.evaluate(() => Object.assign(window, { marker: 'not reloaded' }));

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
    await ui.page.getByTestId('no-stations').waitFor();
    expect(await ui.page.evaluate(() => (window as Window & { marker?: string }).marker)).toBe('not reloaded');
  });

  it('stops refreshing the stations table once the page is left', async () => {
    const tenant = await createTenant('Quiet', 'quiet');
    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}`);
    await ui.page.getByTestId('no-stations').waitFor();
    const refreshes: string[] = [];
    const count = (request: { url(): string }) => {
      if (request.url().includes('stations.list')) refreshes.push(request.url());
    };
    ui.page.on('request', count);
    try {
      await expect.poll(() => refreshes.length, { timeout: REFRESH_MS * 2 }).toBeGreaterThan(0);
      await nav('Tenants').click();
      await ui.page.getByTestId('tenants').waitFor();
      const before = refreshes.length;
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS * 1.5));
      expect(refreshes.length).toBe(before);
    } finally {
      ui.page.off('request', count);
    }
  });

  it('disconnects a station with its Disconnect button', async () => {
    const tenant = await createTenant('Kick', 'kick');
    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}`);
    const cp = await connect('kick', 'CP-2');
    const closed = once(cp, 'close');

    await ui.page.getByRole('button', { name: 'Disconnect CP-2' }).click();
    const [{ code }] = (await closed) as [{ code: number }];
    expect(code).toBe(1000);
    await stationRow('CP-2').waitFor({ state: 'detached' });
  });

  it('saves the settings, showing an invalid CPMS URL under its field', async () => {
    const tenant = await createTenant('Before', 'settings');
    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}`);
    expect(await field('Slug').getAttribute('readonly')).not.toBeNull();

    await field('CPMS URL').fill('http://cpms.example.com');
    await ui.page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => errorUnder('CPMS URL')).toBe('Must start with ws:// or wss://');

    await field('Name').fill('After');
    await field('CPMS URL').fill(`${ui.cpms.url}/`);
    await ui.page.getByLabel('Enabled').uncheck();
    await ui.page.getByRole('button', { name: 'Save', exact: true }).click();
    await ui.page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await ui.page.getByRole('heading', { level: 1 }).textContent()).toBe('After');
    expect(await errorUnder('CPMS URL')).toBeNull();
    expect(await ui.broker.api.tenants.get.query({ id: tenant.id })).toMatchObject({
      name: 'After',
      cpmsUrl: ui.cpms.url,
      enabled: false,
    });
  });

  it('removes a tenant with connected stations only after a second confirmation', async () => {
    const tenant = await createTenant('Gone', 'gone');
    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}`);
    const cp = await connect('gone', 'CP-3');
    await stationRow('CP-3').waitFor();
    const closed = once(cp, 'close');

    await ui.page.getByRole('button', { name: 'Remove tenant…' }).click();
    await ui.page.getByRole('button', { name: 'Remove', exact: true }).click();
    await ui.page.getByRole('alert').filter({ hasText: 'connected' }).waitFor();
    expect((await ui.broker.api.tenants.list.query()).map((t) => t.slug)).toContain('gone');

    await ui.page.getByRole('button', { name: 'Disconnect them and remove' }).click();
    await ui.page.waitForURL(`${ui.broker.server.url}/`);
    await closed;
    expect((await ui.broker.api.tenants.list.query()).map((t) => t.slug)).not.toContain('gone');
    expect(await ui.page.getByTestId('tenants').textContent()).not.toContain('Gone');
  });
});

keepsTheCsp(ui);
