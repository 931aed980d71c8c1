import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';
import { station } from './support/ocpp.ts';

const ui = browserTest({ cpms: ['ocpp1.6'], page: { acceptDownloads: true } });

const frames = () => ui.page.getByTestId('frames').getByTestId('frame');
const frameRow = (action: string, type: string) => frames().filter({ hasText: action }).filter({ hasText: type });

describe('the station page\'s message inspector', () => {
  it('shows a station\'s frames live, expands one to its JSON, pauses, filters by action and downloads JSON', async () => {
    const tenant = await ui.broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: ui.cpms.url, allowUnknownStations: true });
    const cp = station(ui.broker.endpoint('acme'), 'CP-UI', ['ocpp1.6']);
    ui.stations.push(cp);
    await cp.connect();
    await cp.call('BootNotification', { chargePointVendor: 'Alfen', chargePointModel: 'Eve' });

    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}/stations/CP-UI`);
    await expect.poll(() => ui.page.getByTestId('inspector-state').textContent()).toBe('Live');
    // what was held before the page opened
    await frameRow('BootNotification', 'Result').waitFor();

    // a frame appears as it happens, without reloading
    await cp.call('Authorize', { idTag: 'UIBADGE-0042' });
    const call = frameRow('Authorize', 'Call');
    await call.waitFor();
    await expect.poll(() => call.textContent()).toMatch(/→\s*to CPMS\s*Station/);
    await frameRow('Authorize', 'Result').waitFor();
    await call.getByRole('button', { name: /Show the frame Authorize/ }).click();
    const json = ui.page.getByTestId('frame-json');
    expect(JSON.parse((await json.textContent())!)).toEqual([2, expect.any(String), 'Authorize', { idTag: 'UIBA****' }]);

    // an admin may show the badge ids: the view starts over with them
    await ui.page.getByLabel('Show badge ids').check();
    await frameRow('Authorize', 'Call').getByRole('button', { name: /Show the frame Authorize/ }).click();
    await expect.poll(async () => JSON.parse((await ui.page.getByTestId('frame-json').textContent())!)[3]).toEqual({ idTag: 'UIBADGE-0042' });
    await ui.page.getByLabel('Show badge ids').uncheck();

    // paused, new frames wait; resumed, they show
    await ui.page.getByRole('button', { name: 'Pause' }).click();
    await cp.call('Heartbeat', {});
    await expect.poll(() => ui.page.getByTestId('inspector-waiting').textContent()).toBe('2 new frames while paused.');
    expect(await frames().filter({ hasText: 'Heartbeat' }).count()).toBe(0);
    await ui.page.getByRole('button', { name: 'Resume' }).click();
    await frameRow('Heartbeat', 'Result').waitFor();

    await ui.page.getByLabel('Action').selectOption('Authorize');
    await expect.poll(() => frames().count()).toBe(2);
    const [download] = await Promise.all([ui.page.waitForEvent('download'), ui.page.getByRole('button', { name: 'Download JSON' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^frames-CP-UI-Authorize-.*\.json$/);
    const file = path.join(ui.broker.dataDir, 'frames.json');
    await download.saveAs(file);
    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { action: string; type: string; text: string }[];
    expect(saved.map((f) => `${f.type} ${f.action}`)).toEqual(['call Authorize', 'result Authorize']);
    expect(saved[0]!.text).not.toContain('UIBADGE-0042');
  });
});
