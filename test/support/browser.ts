import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../server/config.ts';
import { paths } from '../../server/paths.ts';
import { startTestBroker, TEST_ADMIN, type TestBroker } from './broker.ts';
import { startCpms, type station, type TestCpms } from './ocpp.ts';

/** Debian's Chromium (`npm test` installs it first: scripts/ensure-chromium.ts); Playwright's download needs the internet. */
export const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium driven by playwright-core, with a fresh profile and no calls home. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * What Chromium reports about the page breaking its Content-Security-Policy (console messages "Refused to …",
 * "… violates the following Content Security Policy directive …"), collected for the whole life of the page.
 */
export function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) seen.push(message.text());
  });
  return seen;
}

/** A username and password to sign in with. */
export interface Login {
  username: string;
  password: string;
}

/** The broker's first admin of startTestBroker. */
export const ADMIN_LOGIN: Login = { username: TEST_ADMIN.adminUser, password: TEST_ADMIN.adminPassword };

/** Opens the UI at `url`, which sends a signed-out browser to its login page, and signs in as `user`. */
export async function signIn(page: Page, url: string, user: Login = ADMIN_LOGIN): Promise<void> {
  await page.goto(url);
  await page.waitForURL(`${url}/login`);
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${url}/`);
}

/** The server serves build/ui as it is: built from the current sources when they are newer. */
export function buildUi(): void {
  execFileSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { stdio: 'pipe' });
}

/** Building the UI, when it is stale, takes a while. */
const BUILD_TIMEOUT_MS = 120_000;

export interface BrowserTestOptions {
  /** Settings of the test broker besides port 0 and a silent log. */
  broker?: Partial<Config>;
  /** The subprotocols of a test CPMS to start; without them, no CPMS. */
  cpms?: string[];
  /** Options of the page, e.g. `{ locale: 'en-US' }` where numbers and dates are compared as the page formats them. */
  page?: BrowserContextOptions;
  /** Whether the page signs in as the broker's first admin (the default). */
  signIn?: boolean;
}

/** What a browser test file drives: filled in by its beforeAll. */
export interface BrowserTest {
  broker: TestBroker;
  /** Only when `cpms` was asked for. */
  cpms: TestCpms;
  browser: Browser;
  page: Page;
  /** The broker's UI, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Stations the tests connect: closed before the CPMS and the broker. */
  stations: ReturnType<typeof station>[];
  /** Content-Security-Policy violations of `page` (cspViolations). */
  violations: string[];
}

/**
 * The life of a browser test file, as beforeAll and afterAll hooks: the UI built when stale, a broker (and a CPMS)
 * on port 0, Chromium with a page signed in as the first admin; at the end, stations, Chromium, CPMS and broker closed.
 * Hooks a file adds after this call see everything started, and its afterAll hooks run before this one.
 */
export function browserTest(options: BrowserTestOptions = {}): BrowserTest {
  const ui = { stations: [], violations: [] } as unknown as BrowserTest;
  beforeAll(async () => {
    buildUi();
    [ui.broker, ui.browser, ui.cpms] = (await Promise.all([
      startTestBroker({ logLevel: 'silent', ...options.broker }),
      launchChromium(),
      options.cpms && startCpms({ protocols: options.cpms }),
    ])) as [TestBroker, Browser, TestCpms];
    ui.url = ui.broker.server.url;
    ui.page = await ui.browser.newPage(options.page);
    ui.violations = cspViolations(ui.page);
    ui.page.setDefaultTimeout(10_000);
    if (options.signIn !== false) await signIn(ui.page, ui.url);
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await ui.browser?.close();
    await Promise.all(ui.stations.map((cp) => cp.close({ force: true })));
    await ui.cpms?.close();
    await ui.broker?.close();
  });
  return ui;
}

/** The test a browser test file ends with: the Content-Security-Policy is in force, and nothing its pages did broke it. */
export function keepsTheCsp(ui: BrowserTest): void {
  describe('the Content-Security-Policy', () => {
    it('is in force, and nothing the pages above did broke it', async () => {
      const response = await ui.page.goto(ui.broker.server.url);
      expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
      await ui.page.waitForLoadState('networkidle');
      expect(ui.violations).toEqual([]);
    });
  });
}
