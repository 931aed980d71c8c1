import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTest, keepsTheCsp, signIn } from './support/browser.ts';
import { station } from './support/ocpp.ts';

// Numbers and dates are compared as the page formats them.
const ui = browserTest({ cpms: ['ocpp1.6', 'ocpp2.0.1'], page: { locale: 'en-US' } });
let tenantId: number;
let files: string;

/** The operators' list, exactly as they send it. */
const DRIVERS_CSV = `email,badge_ids
john.doe@example.com,"BADGE001,BADGE002"
jane.smith@example.com,BADGE003
`;

/** Wrong on every row: an email that is not one, an empty badge, and a badge of a driver the file leaves out. */
const BROKEN_CSV = `email,badge_ids
not-an-email,BADGE010
new.person@example.com,"BADGE011,,BADGE012"
other@example.com,BADGE003
`;

beforeAll(async () => {
  files = await mkdtemp(path.join(os.tmpdir(), 'ocpp-broker-csv-'));
  // Stations connect without being registered.
  ({ id: tenantId } = await ui.broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: ui.cpms.url, allowUnknownStations: true }));
});

afterAll(async () => {
  if (files) await rm(files, { recursive: true, force: true });
});

const field = (label: string) => ui.page.getByLabel(label, { exact: true });
const button = (name: string | RegExp) => ui.page.getByRole('button', { name, exact: typeof name === 'string' });
const nav = (name: string) => ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

/** The error message shown for the field with this label: the one its aria-describedby points to. */
function errorUnder(label: string, within = ui.page.locator('body')): Promise<string | null> {
  return within.getByLabel(label, { exact: true }).evaluate((input) => {
    const ids = input.getAttribute('aria-describedby')?.split(' ') ?? [];
    const error = ids.map((id) => document.getElementById(id)).find((element) => element?.classList.contains('error'));
    return error?.textContent ?? null;
  });
}

/** The texts of each body row of a table (its row header first), by test id; not the panels opened below rows. */
async function rows(testId: string): Promise<string[][]> {
  const body = ui.page.getByTestId(testId).locator('tbody > tr:not(.expanded)');
  const texts: string[][] = [];
  for (const row of await body.all()) texts.push((await row.locator(':scope > th, :scope > td').allInnerTexts()).map((t) => t.trim()));
  return texts;
}

/** The row of a table whose row header is `name`. */
function rowOf(testId: string, name: string) {
  return ui.page.getByTestId(testId).getByRole('row').filter({ has: ui.page.getByRole('rowheader', { name, exact: true }) });
}

/** Writes a CSV to a temporary file and chooses it in the import form, as a user would. */
async function chooseCsv(name: string, text: string) {
  const file = path.join(files, name);
  await writeFile(file, text);
  await field('CSV file').setInputFiles(file);
}

/** Connects a station to the tenant (which lets unknown identities in). */
async function connect(identity: string, protocol: 'ocpp1.6' | 'ocpp2.0.1') {
  const cp = station(ui.broker.endpoint('acme'), identity, [protocol]);
  ui.stations.push(cp);
  await cp.connect();
  return cp;
}

/** Minutes from now, as OCPP timestamps: every reading falls within the station page's last 24 hours. */
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** Waits until the broker has written the session (its observers write in batches, at least every second). */
/** Waits until the writer has stored the station's transaction in `state` (and with `energyWh`, when given). */
async function stored(identity: string, state: 'active' | 'completed', energyWh?: number) {
  await expect
    .poll(
      async () =>
        (await ui.broker.api.transactions.list.query({ tenantId, identity })).transactions.find(
          (t) => t.state === state && (energyWh === undefined || t.energyWh === energyWh),
        ),
      { timeout: 5000 },
    )
    .toBeTruthy();
}

describe('drivers in the admin UI', () => {
  it('saves the OCPP version of the tenant’s stations and who authorizes badges in its settings', async () => {
    await ui.page.goto(`${ui.url}/tenants/${tenantId}`);
    const settings = ui.page.getByRole('form', { name: 'Tenant settings' });
    expect(await settings.getByRole('radio', { name: /^OCPP 1\.6/ }).isChecked()).toBe(true);
    expect(await settings.getByRole('radio', { name: /^The CPMS/ }).isChecked()).toBe(true);
    await settings.getByRole('group', { name: 'OCPP version of the stations' }).getByRole('radio', { name: /^OCPP 2\.0\.1/ }).check();
    await settings.getByRole('group', { name: 'Who authorizes badges' }).getByRole('radio', { name: /^The broker/ }).check();
    await settings.getByRole('button', { name: 'Save' }).click();
    await settings.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await ui.broker.api.tenants.get.query({ id: tenantId })).toMatchObject({ ocppVersion: '2.0.1', authorizationMode: 'broker' });

    await ui.page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Drivers' }).click();
    await ui.page.getByText('The broker answers Authorize from this list').waitFor();
    await ui.page.getByText('each at most 36 characters (OCPP 2.0.1)').waitFor();
    await ui.broker.api.tenants.update.mutate({ id: tenantId, ocppVersion: '1.6', authorizationMode: 'cpms' });
  });

  it('imports the operator’s CSV after a preview of what it adds, and lists the drivers', async () => {
    await ui.page.goto(`${ui.url}/tenants/${tenantId}`);
    await ui.page.getByRole('navigation', { name: 'Tenant pages' }).getByRole('link', { name: 'Drivers' }).click();
    await ui.page.waitForURL(`${ui.url}/tenants/${tenantId}/drivers`);
    await ui.page.getByTestId('no-drivers').waitFor();

    await chooseCsv('drivers.csv', DRIVERS_CSV);
    expect(await ui.page.getByRole('radio', { name: /^Merge/ }).isChecked()).toBe(true);
    await button('Check the file').click();
    const preview = ui.page.getByTestId('import-preview');
    await preview.waitFor();
    expect(await preview.getByTestId('import-counts').locator('li').allInnerTexts()).toEqual(['2 to add', '0 to change', '0 to remove', '0 unchanged', '0 errors']);
    expect(await rows('import-added')).toEqual([
      ['2', 'john.doe@example.com', 'BADGE001, BADGE002'],
      ['3', 'jane.smith@example.com', 'BADGE003'],
    ]);
    expect(await ui.page.getByTestId('import-errors').count()).toBe(0);
    // Checking changes nothing.
    expect((await ui.broker.api.drivers.list.query({ tenantId })).total).toBe(0);

    await button('Import: add 2, change 0, remove 0').click();
    await ui.page.getByTestId('import-done').waitFor();
    expect(await ui.page.getByTestId('import-done').getByTestId('import-counts').locator('li').first().innerText()).toBe('2 added');
    await rowOf('drivers', 'john.doe@example.com').waitFor();
    expect((await rows('drivers')).map((cells) => cells.slice(0, 3))).toEqual([
      ['jane.smith@example.com', 'BADGE003', 'Active'],
      ['john.doe@example.com', 'BADGE001, BADGE002', 'Active'],
    ]);
  });

  it('shows each error of a broken file with its row and field, and imports nothing', async () => {
    await chooseCsv('broken.csv', BROKEN_CSV);
    await button('Check the file').click();
    const errors = ui.page.getByTestId('import-errors');
    await errors.waitFor();
    expect(await rows('import-errors')).toEqual([
      ['2', 'email', 'Not a valid email address'],
      ['3', 'badge_ids', 'An empty badge (two commas in a row?)'],
      ['4', 'badge_ids', 'Badge "BADGE003" belongs to jane.smith@example.com, who is not in the file'],
    ]);
    expect(await ui.page.getByTestId('import-counts').locator('li').last().innerText()).toBe('3 errors');
    expect(await button(/^Import:/).count()).toBe(0);
    await ui.page.getByText('Nothing can be imported while the file has errors').waitFor();

    const { drivers } = await ui.broker.api.drivers.list.query({ tenantId });
    expect(drivers.map((d) => [d.email, d.badgeIds])).toEqual([
      ['jane.smith@example.com', ['BADGE003']],
      ['john.doe@example.com', ['BADGE001', 'BADGE002']],
    ]);
    expect(await rows('drivers')).toHaveLength(2);
  });

  it('adds, edits, blocks, finds and removes a driver by hand, and exports the list as CSV', async () => {
    const add = ui.page.getByRole('form', { name: 'Add a driver' });
    await add.getByLabel('Email', { exact: true }).fill('temp@example.com');
    await add.getByRole('button', { name: 'Add driver' }).click();
    await expect.poll(() => errorUnder('Badges', add)).toBe('No badge');
    await add.getByLabel('Badges', { exact: true }).fill('BADGE003');
    await add.getByRole('button', { name: 'Add driver' }).click();
    await add.getByRole('alert').filter({ hasText: 'Badge "BADGE003" belongs to jane.smith@example.com' }).waitFor();
    await add.getByLabel('Badges', { exact: true }).fill('TEMP1');
    await add.getByRole('button', { name: 'Add driver' }).click();
    await rowOf('drivers', 'temp@example.com').waitFor();

    await button('Edit temp@example.com').click();
    const edit = ui.page.getByRole('form', { name: 'Edit temp@example.com' });
    await edit.getByLabel('Badges', { exact: true }).fill('TEMP1,TEMP2');
    await edit.getByRole('button', { name: 'Save driver' }).click();
    await expect.poll(async () => (await rowOf('drivers', 'temp@example.com').getByRole('cell').first().innerText()).trim()).toBe('TEMP1, TEMP2');

    await button('Block temp@example.com').click();
    await expect.poll(() => rowOf('drivers', 'temp@example.com').getByRole('cell').nth(1).innerText()).toBe('Blocked');
    await button('Unblock temp@example.com').waitFor();

    await field('Search').fill('temp2');
    await button('Search').click();
    await ui.page.waitForURL(`${ui.url}/tenants/${tenantId}/drivers?search=temp2`);
    await expect.poll(async () => (await rows('drivers')).map((cells) => cells[0])).toEqual(['temp@example.com']);

    await button('Remove temp@example.com').click();
    await button('Remove').click();
    await ui.page.getByTestId('no-drivers').waitFor();
    await ui.page.getByRole('link', { name: 'Clear' }).click();
    await expect.poll(async () => (await rows('drivers')).map((cells) => cells[0])).toEqual(['jane.smith@example.com', 'john.doe@example.com']);

    const [download] = await Promise.all([ui.page.waitForEvent('download'), button('Export CSV').click()]);
    expect(download.suggestedFilename()).toBe('acme-drivers.csv');
    expect(await readFile((await download.path())!, 'utf8')).toBe(
      'email,badge_ids\njane.smith@example.com,BADGE003\njohn.doe@example.com,"BADGE001,BADGE002"\n',
    );
  });

  it('shows a viewer the drivers without the controls that change them, and lets them export', async () => {
    await ui.broker.api.users.create.mutate({ username: 'vera', password: 'a viewer password', role: 'viewer' });
    const context = await ui.browser.newContext({ locale: 'en-US' });
    const viewer = await context.newPage();
    try {
      await signIn(viewer, ui.url, { username: 'vera', password: 'a viewer password' });
      await viewer.goto(`${ui.url}/tenants/${tenantId}/drivers`);
      await viewer.getByTestId('drivers').getByRole('rowheader', { name: 'john.doe@example.com' }).waitFor();
      expect(await viewer.getByRole('button', { name: /^(Edit|Block|Remove)/ }).count()).toBe(0);
      expect(await viewer.getByRole('form', { name: 'Add a driver' }).count()).toBe(0);
      expect(await viewer.getByRole('form', { name: 'Import drivers' }).count()).toBe(0);
      const [download] = await Promise.all([viewer.waitForEvent('download'), viewer.getByRole('button', { name: 'Export CSV' }).click()]);
      expect(download.suggestedFilename()).toBe('acme-drivers.csv');
    } finally {
      await context.close();
    }
  });
});

describe('sessions in the admin UI', () => {
  it('shows John Doe’s OCPP 1.6 session with 7.40 kWh on the transactions page, and its chart on the station page', async () => {
    const cp = await connect('CP-16', 'ocpp1.6');
    await cp.call('BootNotification', { chargePointVendor: 'Alfen', chargePointModel: 'Eve Single', chargePointSerialNumber: 'ACE0001', firmwareVersion: '5.9.1' });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: minutesAgo(30) });
    const { transactionId } = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE002', meterStart: 1000, timestamp: minutesAgo(30) })) as { transactionId: number };
    for (const [minutes, energyWh] of [[20, 3500], [10, 6000]] as const) {
      await cp.call('MeterValues', {
        connectorId: 1,
        transactionId,
        meterValue: [
          {
            timestamp: minutesAgo(minutes),
            sampledValue: [
              { value: String(energyWh), unit: 'Wh', measurand: 'Energy.Active.Import.Register', context: 'Sample.Periodic' },
              { value: '7400', unit: 'W', measurand: 'Power.Active.Import', context: 'Sample.Periodic' },
            ],
          },
        ],
      });
    }
    await cp.call('StopTransaction', { transactionId, meterStop: 8400, timestamp: minutesAgo(1), reason: 'EVDisconnected' });
    await stored('CP-16', 'completed');

    await nav('Transactions').click();
    await ui.page.waitForURL(`${ui.url}/transactions`);
    await field('Tenant').selectOption({ label: 'Acme' });
    await field('Driver').fill('john.doe@example.com');
    await button('Filter').click();
    await ui.page.waitForURL(`${ui.url}/transactions?tenant=${tenantId}&driver=john.doe%40example.com`);
    await expect.poll(async () => (await rows('transactions')).map((cells) => cells.slice(1, 5))).toEqual([['CP-16', '1', 'john.doe@example.com', '7.40 kWh']]);
    expect((await rows('energy-by-month')).map((cells) => cells.slice(1))).toEqual([['john.doe@example.com', '1', '7.40 kWh']]);

    await rowOf('transactions', 'CP-16').getByRole('link', { name: 'CP-16' }).click();
    await ui.page.waitForURL(/\/tenants\/\d+\/stations\/CP-16\?transaction=\d+$/);
    const facts = ui.page.getByTestId('facts');
    await facts.waitFor();
    expect(await facts.innerText()).toMatch(/Vendor\s+Alfen\s+Model\s+Eve Single\s+Serial number\s+ACE0001\s+Firmware\s+5\.9\.1/);
    expect(await field('Show').locator('option:checked').innerText()).toMatch(/john\.doe@example\.com · 7\.40 kWh$/);
    await ui.page.getByTestId('power-chart').locator('.uplot canvas').waitFor();
    expect(await ui.page.getByTestId('power-chart').locator('.u-legend').innerText()).toMatch(/Power[\s\S]*Energy register/);

    await field('Show').selectOption({ label: 'The last 24 hours' });
    await ui.page.waitForURL(`${ui.url}/tenants/${tenantId}/stations/CP-16`);
    await ui.page.getByTestId('power-chart').locator('.uplot canvas').waitFor();
    expect(await rows('connectors')).toEqual([['1', 'Charging', '—', expect.stringMatching(/ago$/)]]);
    await ui.page.getByTestId('no-live-sessions').waitFor();
  });

  it('shows Jane Smith’s OCPP 2.0.1 session live on the station page, then on the transactions page', async () => {
    const cp = await connect('CS-201', 'ocpp2.0.1');
    await cp.call('BootNotification', { reason: 'PowerUp', chargingStation: { vendorName: 'ABB', model: 'Terra AC', serialNumber: 'T-9', firmwareVersion: '1.8.2' } });
    await cp.call('StatusNotification', { timestamp: minutesAgo(20), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    const base = { transactionInfo: { transactionId: 'tx-jane' }, evse: { id: 1, connectorId: 1 } };
    const register = (wh: number, minutes: number, context: string, powerW?: number) => [
      {
        timestamp: minutesAgo(minutes),
        sampledValue: [
          { value: wh, context, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } },
          ...(powerW === undefined ? [] : [{ value: powerW, context, measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'W' } }]),
        ],
      },
    ];
    await cp.call('TransactionEvent', {
      ...base,
      eventType: 'Started',
      timestamp: minutesAgo(20),
      triggerReason: 'Authorized',
      seqNo: 0,
      idToken: { idToken: 'BADGE003', type: 'ISO14443' },
      meterValue: register(20_000, 20, 'Transaction.Begin'),
    });
    await cp.call('TransactionEvent', {
      ...base,
      eventType: 'Updated',
      timestamp: minutesAgo(5),
      triggerReason: 'MeterValuePeriodic',
      seqNo: 1,
      meterValue: register(22_500, 5, 'Sample.Periodic', 11_000),
    });
    // Both events written (the writer batches each second), so that the page shows them when it opens.
    await stored('CS-201', 'active', 2_500);

    // From the tenant page's live stations table to the station's page.
    await ui.page.goto(`${ui.url}/tenants/${tenantId}`);
    await ui.page.getByTestId('stations').getByRole('link', { name: 'CS-201', exact: true }).click();
    await ui.page.waitForURL(`${ui.url}/tenants/${tenantId}/stations/CS-201`);
    await ui.page.getByRole('heading', { name: 'CS-201' }).waitFor();
    await expect.poll(async () => (await rows('live-sessions')).map((cells) => [cells[0], cells[1], cells[2], cells[4], cells[5]])).toEqual([
      ['tx-jane', '1 / 1', 'jane.smith@example.com', '2.50 kWh', '11,000 W'],
    ]);
    expect(await ui.page.getByTestId('facts').innerText()).toMatch(/Vendor\s+ABB\s+Model\s+Terra AC/);
    await ui.page.getByTestId('power-chart').locator('.uplot canvas').waitFor();

    await cp.call('TransactionEvent', {
      ...base,
      eventType: 'Ended',
      timestamp: minutesAgo(0),
      triggerReason: 'EVCommunicationLost',
      seqNo: 2,
      transactionInfo: { transactionId: 'tx-jane', stoppedReason: 'EVDisconnected' },
      meterValue: register(31_000, 0, 'Transaction.End'),
    });
    // The page notices by itself that the session ended.
    await ui.page.getByTestId('no-live-sessions').waitFor();

    await ui.page.getByRole('link', { name: 'All sessions' }).click();
    await ui.page.waitForURL(`${ui.url}/transactions?tenant=${tenantId}&station=CS-201`);
    await expect.poll(async () => (await rows('transactions')).map((cells) => cells.slice(1, 5))).toEqual([['CS-201', '1 / 1', 'jane.smith@example.com', '11.00 kWh']]);

    // Both sessions, newest first, when only the tenant is chosen.
    await ui.page.goto(`${ui.url}/transactions?tenant=${tenantId}`);
    await expect.poll(async () => (await rows('transactions')).map((cells) => [cells[1], cells[3], cells[4]])).toEqual([
      ['CS-201', 'jane.smith@example.com', '11.00 kWh'],
      ['CP-16', 'john.doe@example.com', '7.40 kWh'],
    ]);
    const [download] = await Promise.all([ui.page.waitForEvent('download'), button('Export CSV').click()]);
    expect(download.suggestedFilename()).toBe('acme-transactions.csv');
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv.split('\n')[0]).toBe('station,transaction_id,evse,connector,badge,driver_email,started_at,stopped_at,meter_start_wh,meter_stop_wh,energy_wh,stop_reason,state');
    expect(csv).toContain('john.doe@example.com');
    expect(csv).toContain('jane.smith@example.com');
  });
});

keepsTheCsp(ui);
