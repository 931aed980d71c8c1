import { describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';
import { station } from './support/ocpp.ts';

const ui = browserTest({ cpms: ['ocpp1.6'] });

describe("the station page's configuration", () => {
  it("reads the station's configuration into a table, filters it, and triggers a message that reaches the CPMS", async () => {
    const tenant = await ui.broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: ui.cpms.url, allowUnknownStations: true });
    const cp = station(ui.broker.endpoint('acme'), 'CP-TOOLS', ['ocpp1.6']);
    ui.stations.push(cp);
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
    const accepted = ui.cpms.nextClient();
    await cp.connect();
    const client = await accepted;
    const atCpms: string[] = [];
    client.on('message', ({ message, outbound }: { message: unknown; outbound: boolean }) => {
      if (!outbound) atCpms.push(String(message));
    });

    await ui.page.goto(`${ui.broker.server.url}/tenants/${tenant.id}/stations/CP-TOOLS`);
    await ui.page.getByRole('button', { name: 'Read configuration' }).click();
    const table = ui.page.getByTestId('configuration');
    await table.waitFor();
    await expect.poll(() => ui.page.getByRole('status').filter({ hasText: 'values read' }).textContent()).toBe('3 values read');
    const rows = table.locator('tbody tr');
    expect(await rows.allInnerTexts()).toEqual([
      expect.stringMatching(/HeartbeatInterval\s+300\s+no/),
      expect.stringMatching(/NumberOfConnectors\s+2\s+yes/),
      expect.stringMatching(/AuthorizeRemoteTxRequests\s+true\s+no/),
    ]);
    await ui.page.getByLabel('Filter').fill('connectors');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().innerText()).toMatch(/NumberOfConnectors/);

    await ui.page.getByLabel('Ask the station to send').selectOption('Heartbeat');
    await ui.page.getByRole('button', { name: 'Trigger' }).click();
    await expect.poll(() => ui.page.getByRole('status').filter({ hasText: 'Heartbeat' }).textContent()).toBe('Heartbeat: Accepted');
    await expect.poll(() => atCpms.some((m) => m.includes('"Heartbeat"'))).toBe(true);
    expect(atCpms.some((m) => m.includes('GetConfiguration') || m.includes('TriggerMessage'))).toBe(false);
  });
});
