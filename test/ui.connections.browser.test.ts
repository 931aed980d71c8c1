import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../server/paths.ts';
import { launchChromium, signIn } from './support/browser.ts';
import { startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';
import { attempt, freePort, station } from './support/ocpp.ts';

let broker: TestBroker;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
  [broker, browser] = await Promise.all([startTestBroker({ logLevel: 'silent', upstreamConnectTimeoutMs: 1_000 }), launchChromium()]);
  page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  await signIn(page, broker.server.url, TEST_ADMIN);
});

afterAll(async () => {
  await browser?.close();
  await broker?.close();
});

describe('seeing every connection in the admin UI', () => {
  it('follows a station refused because the CPMS is down from the dashboard to its reason on the tenant page', async () => {
    const port = await freePort();
    const tenant = await broker.api.tenants.create.mutate({ name: 'Down Town', slug: 'downtown', cpmsUrl: `ws://127.0.0.1:${port}/ocpp`, allowUnknownStations: true });
    expect(await attempt(station(broker.endpoint('downtown'), 'CP-17', ['ocpp1.6']))).toBe(502);

    await page.goto(broker.server.url);
    const alert = page.getByTestId('alerts').getByRole('link', { name: 'The CPMS of downtown refused or could not be reached' });
    await alert.click();
    await page.waitForURL(`${broker.server.url}/tenants/${tenant.id}#connections`);

    const row = page.getByTestId('connection-log').getByRole('row').filter({ hasText: 'CP-17' });
    await row.waitFor();
    expect(await row.getByRole('cell').nth(1).innerText()).toBe('refused 502');
    expect(await row.innerText()).toContain('The CPMS could not be reached: ECONNREFUSED');
    expect(await row.getByTestId('connection-hint').innerText()).toBe('Nothing accepts connections at the CPMS URL (127.0.0.1): is the CPMS up, and the port right?');
    expect(await page.getByTestId('cpms-health').innerText()).toContain('The last handshake failed');

    // The admin tests the CPMS from the same page, and sees which step fails.
    await page.getByRole('button', { name: 'Test the CPMS' }).click();
    const steps = page.getByTestId('cpms-test');
    await steps.waitFor();
    expect(await page.getByTestId('cpms-test-summary').innerText()).toContain('Handshake failed');
    expect(await steps.getByRole('listitem').allInnerTexts()).toEqual([
      expect.stringMatching(/^Credentials\s+OK/),
      expect.stringMatching(/^DNS lookup\s+OK/),
      expect.stringMatching(/^TCP connection\s+Failed[\s\S]*ECONNREFUSED/),
    ]);
  });

  it('shows a station that left the tenant out of its path on the connections page, with the right URL', async () => {
    await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://127.0.0.1:9/ocpp' });
    expect(await attempt(station(`ws://127.0.0.1:${broker.server.port}/ocpp`, 'CP-99', ['ocpp1.6']))).toBe(404);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connections', exact: true }).click();
    const row = page.getByTestId('connection-log').getByRole('row').filter({ hasText: 'CP-99' });
    await row.waitFor();
    expect(await row.innerText()).toContain('refused 404');
    expect(await row.getByTestId('connection-hint').innerText()).toMatch(/^The path is \/ocpp\/<tenant>\/<identity>: "CP-99" is no tenant.*Tenants on this broker: acme, downtown\.$/);
  });
});
