import { chromium, type Browser, type Page } from 'playwright-core';

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

/** Opens the UI at `url`, which sends a signed-out browser to its login page, and signs in as `user`. */
export async function signIn(page: Page, url: string, user: { adminUser: string; adminPassword: string }): Promise<void> {
  await page.goto(url);
  await page.waitForURL(`${url}/login`);
  await page.getByLabel('Username', { exact: true }).fill(user.adminUser);
  await page.getByLabel('Password', { exact: true }).fill(user.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${url}/`);
}
