import { describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';
import { attempt, freePort, station } from './support/ocpp.ts';

const ui = browserTest({ broker: { upstreamConnectTimeoutMs: 1_000 } });

describe('seeing every connection in the admin UI', () => {
  it('follows a station refused because the CPMS is down from the dashboard to its reason on the tenant page', async () => {
    const port = await freePort();
    const tenant = await ui.broker.api.tenants.create.mutate({ name: 'Down Town', slug: 'downtown', cpmsUrl: `ws://127.0.0.1:${port}/ocpp`, allowUnknownStations: true });
    expect(await attempt(station(ui.broker.endpoint('downtown'), 'CP-17', ['ocpp1.6']))).toBe(502);

    await ui.page.goto(ui.broker.server.url);
    const alert = ui.page.getByTestId('alerts').getByRole('link', { name: 'The CPMS of downtown refused or could not be reached' });
    await alert.click();
    await ui.page.waitForURL(`${ui.broker.server.url}/tenants/${tenant.id}#connections`);

    const row = ui.page.getByTestId('connection-log').getByRole('row').filter({ hasText: 'CP-17' });
    await row.waitFor();
    expect(await row.getByRole('cell').nth(1).innerText()).toBe('refused 502');
    expect(await row.innerText()).toContain('The CPMS could not be reached: ECONNREFUSED');
    expect(await row.getByTestId('connection-hint').innerText()).toBe('Nothing accepts connections at the CPMS URL (127.0.0.1): is the CPMS up, and the port right?');
    expect(await ui.page.getByTestId('cpms-health').innerText()).toContain('The last handshake failed');

    // The admin tests the CPMS from the same page, and sees which step fails.
    await ui.page.getByRole('button', { name: 'Test the CPMS' }).click();
    const steps = ui.page.getByTestId('cpms-test');
    await steps.waitFor();
    expect(await ui.page.getByTestId('cpms-test-summary').innerText()).toContain('Handshake failed');
    expect(await steps.getByRole('listitem').allInnerTexts()).toEqual([
      expect.stringMatching(/^Credentials\s+OK/),
      expect.stringMatching(/^DNS lookup\s+OK/),
      expect.stringMatching(/^TCP connection\s+Failed[\s\S]*ECONNREFUSED/),
    ]);
  });

  it('shows a station that left the tenant out of its path on the connections page, with the right URL', async () => {
    await ui.broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'ws://127.0.0.1:9/ocpp' });
    expect(await attempt(station(`ws://127.0.0.1:${ui.broker.server.port}/ocpp`, 'CP-99', ['ocpp1.6']))).toBe(404);

    await ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connections', exact: true }).click();
    const row = ui.page.getByTestId('connection-log').getByRole('row').filter({ hasText: 'CP-99' });
    await row.waitFor();
    expect(await row.innerText()).toContain('refused 404');
    expect(await row.getByTestId('connection-hint').innerText()).toMatch(/^The path is \/ocpp\/<tenant>\/<identity>: "CP-99" is no tenant.*Tenants on this broker: acme, downtown\.$/);
  });
});
