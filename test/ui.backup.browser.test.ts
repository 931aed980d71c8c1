import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../server/paths.ts';
import { launchChromium, signIn } from './support/browser.ts';
import { startTestBroker, TEST_ADMIN, type TestBroker } from './support/broker.ts';

let broker: TestBroker;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
  [broker, browser] = await Promise.all([startTestBroker({ logLevel: 'silent' }), launchChromium()]);
  page = await browser.newPage({ acceptDownloads: true });
  page.setDefaultTimeout(10_000);
  await signIn(page, broker.server.url, TEST_ADMIN);
});

afterAll(async () => {
  await browser?.close();
  await broker?.close();
});

describe('the backup in the UI', () => {
  it('downloads a copy of the running database and its key', async () => {
    await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' });
    await page.goto(`${broker.server.url}/account`);

    const [database] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the database' }).click()]);
    expect(database.suggestedFilename()).toMatch(/^broker-[\d-]+\.db$/);
    const file = path.join(broker.dataDir, 'downloaded.db');
    await database.saveAs(file);
    const copy = new Database(file, { readonly: true });
    expect(copy.prepare('select slug from tenants').all()).toEqual([{ slug: 'acme' }]);
    copy.close();

    const [key] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the key' }).click()]);
    await key.saveAs(path.join(broker.dataDir, 'downloaded.key'));
    expect(fs.readFileSync(path.join(broker.dataDir, 'downloaded.key'))).toEqual(fs.readFileSync(path.join(broker.dataDir, 'secret.key')));
  });
});
