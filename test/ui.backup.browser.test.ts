import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';

const ui = browserTest({ page: { acceptDownloads: true } });

describe('the backup in the UI', () => {
  it('downloads a copy of the running database and its key', async () => {
    await ui.broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });
    await ui.page.goto(`${ui.broker.server.url}/account`);

    const [database] = await Promise.all([ui.page.waitForEvent('download'), ui.page.getByRole('link', { name: 'Download the database' }).click()]);
    expect(database.suggestedFilename()).toMatch(/^broker-[\d-]+\.db$/);
    const file = path.join(ui.broker.dataDir, 'downloaded.db');
    await database.saveAs(file);
    const copy = new Database(file, { readonly: true });
    expect(copy.prepare('select slug from tenants').all()).toEqual([{ slug: 'acme' }]);
    copy.close();

    const [key] = await Promise.all([ui.page.waitForEvent('download'), ui.page.getByRole('link', { name: 'Download the key' }).click()]);
    await key.saveAs(path.join(ui.broker.dataDir, 'downloaded.key'));
    expect(fs.readFileSync(path.join(ui.broker.dataDir, 'downloaded.key'))).toEqual(fs.readFileSync(path.join(ui.broker.dataDir, 'secret.key')));
  });
});
