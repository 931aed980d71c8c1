import { execFileSync } from 'node:child_process';
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
  page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  await signIn(page, broker.server.url, TEST_ADMIN);
}, 120_000); // building the UI, when it is stale, takes a while

afterAll(async () => {
  await browser?.close();
  await cp?.close({ force: true });
  await cpms?.close();
  await broker?.close();
});

describe("the station page's configuration", () => {
  it("reads the station's configuration into a table, filters it, and triggers a message that reaches the CPMS", async () => {
    const tenant = await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true });
    cp = station(broker.endpoint('acme'), 'CP-TOOLS', ['ocpp1.6']);
    cp.handle('GetConfiguration', async () => ({
      configurationKey: [
        { key: 'HeartbeatInterval', readonly: false, value: '300' },
        { key: 'NumberOfConnectors', readonly: true, value: '2' },
        { key: 'AuthorizeRemoteTxRequests', readonly: false, value: 'true' },
      ],
    }));
    cp.handle('TriggerMessage', async () => {
      setImmediate(() => void cp.call('Heartbeat', {}));
      return { status: 'Accepted' };
    });
    const accepted = cpms.nextClient();
    await cp.connect();
    const client = await accepted;
    const atCpms: string[] = [];
    client.on('message', ({ message, outbound }: { message: unknown; outbound: boolean }) => {
      if (!outbound) atCpms.push(String(message));
    });

    await page.goto(`${broker.server.url}/tenants/${tenant.id}/stations/CP-TOOLS`);
    await page.getByRole('button', { name: 'Read configuration' }).click();
    const table = page.getByTestId('configuration');
    await table.waitFor();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'values read' }).textContent()).toBe('3 values read');
    const rows = table.locator('tbody tr');
    expect(await rows.allInnerTexts()).toEqual([
      expect.stringMatching(/HeartbeatInterval\s+300\s+no/),
      expect.stringMatching(/NumberOfConnectors\s+2\s+yes/),
      expect.stringMatching(/AuthorizeRemoteTxRequests\s+true\s+no/),
    ]);
    await page.getByLabel('Filter').fill('connectors');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().innerText()).toMatch(/NumberOfConnectors/);

    await page.getByLabel('Ask the station to send').selectOption('Heartbeat');
    await page.getByRole('button', { name: 'Trigger' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Heartbeat' }).textContent()).toBe('Heartbeat: Accepted');
    await expect.poll(() => atCpms.some((m) => m.includes('"Heartbeat"'))).toBe(true);
    expect(atCpms.some((m) => m.includes('GetConfiguration') || m.includes('TriggerMessage'))).toBe(false);
  });
});
