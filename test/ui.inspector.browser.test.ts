import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../server/paths.ts';
import { launchChromium, signIn } from './support/browser.ts';
import { startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';

let broker: TestBroker;
let cpms: TestCpms;
let browser: Browser;
let page: Page;
let cp: ReturnType<typeof station>;

beforeAll(async () => {
  // The server serves build/ui as it is; make sure it is built from the current sources.
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
  [broker, cpms, browser] = await Promise.all([startTestBroker({ logLevel: 'silent' }), startCpms({ protocols: ['ocpp1.6'] }), launchChromium()]);
  page = await browser.newPage({ acceptDownloads: true });
  page.setDefaultTimeout(10_000);
  await signIn(page, broker.server.url, TEST_ADMIN);
}, 120_000); // building the UI, when it is stale, takes a while

afterAll(async () => {
  await browser?.close();
  await cp?.close({ force: true });
  await cpms?.close();
  await broker?.close();
});

const frames = () => page.getByTestId('frames').getByTestId('frame');
const frameRow = (action: string, type: string) => frames().filter({ hasText: action }).filter({ hasText: type });

describe('the station page\'s message inspector', () => {
  it('shows a station\'s frames live, expands one to its JSON, pauses, filters by action and downloads JSON', async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
    cp = station(broker.endpoint('acme'), 'CP-UI', ['ocpp1.6']);
    await cp.connect();
    await cp.call('BootNotification', { chargePointVendor: 'Alfen', chargePointModel: 'Eve' });

    await page.goto(`${broker.server.url}/tenants/${tenant.id}/stations/CP-UI`);
    await expect.poll(() => page.getByTestId('inspector-state').textContent()).toBe('Live');
    // what was held before the page opened
    await frameRow('BootNotification', 'Result').waitFor();

    // a frame appears as it happens, without reloading
    await cp.call('Authorize', { idTag: 'UIBADGE-0042' });
    const call = frameRow('Authorize', 'Call');
    await call.waitFor();
    await expect.poll(() => call.textContent()).toMatch(/→\s*to CPMS\s*Station/);
    await frameRow('Authorize', 'Result').waitFor();
    await call.getByRole('button', { name: /Show the frame Authorize/ }).click();
    const json = page.getByTestId('frame-json');
    expect(JSON.parse((await json.textContent())!)).toEqual([2, expect.any(String), 'Authorize', { idTag: 'UIBA****' }]);

    // an admin may show the badge ids: the view starts over with them
    await page.getByLabel('Show badge ids').check();
    await frameRow('Authorize', 'Call').getByRole('button', { name: /Show the frame Authorize/ }).click();
    await expect.poll(async () => JSON.parse((await page.getByTestId('frame-json').textContent())!)[3]).toEqual({ idTag: 'UIBADGE-0042' });
    await page.getByLabel('Show badge ids').uncheck();

    // paused, new frames wait; resumed, they show
    await page.getByRole('button', { name: 'Pause' }).click();
    await cp.call('Heartbeat', {});
    await expect.poll(() => page.getByTestId('inspector-waiting').textContent()).toBe('2 new frames while paused.');
    expect(await frames().filter({ hasText: 'Heartbeat' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Resume' }).click();
    await frameRow('Heartbeat', 'Result').waitFor();

    await page.getByLabel('Action').selectOption('Authorize');
    await expect.poll(() => frames().count()).toBe(2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^frames-CP-UI-Authorize-.*\.json$/);
    const file = path.join(broker.dataDir, 'frames.json');
    await download.saveAs(file);
    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { action: string; type: string; text: string }[];
    expect(saved.map((f) => `${f.type} ${f.action}`)).toEqual(['call Authorize', 'result Authorize']);
    expect(saved[0]!.text).not.toContain('UIBADGE-0042');
  });
});
