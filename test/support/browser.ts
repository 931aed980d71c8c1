import { chromium, type Browser } from 'playwright-core';

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
