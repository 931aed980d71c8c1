/**
 * Makes sure Debian's Chromium is installed for the browser tests (`npm test` runs this first).
 * Playwright's own browser download needs the internet; the Debian package only needs the mirror.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const executable = '/usr/bin/chromium';

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) {
    console.error(`ensure-chromium: \`${command} ${args.join(' ')}\` failed (${result.error?.message ?? `exit ${result.status}`})`);
    process.exit(1);
  }
}

if (fs.existsSync(executable)) {
  process.exit(0);
}

const isRoot = process.getuid?.() === 0;
const isDebian = fs.existsSync('/etc/debian_version') && fs.existsSync('/usr/bin/apt-get');

if (!isRoot || !isDebian) {
  console.error(
    `ensure-chromium: ${executable} is missing. The browser tests need it: ` +
      (isDebian ? 'run `sudo apt-get install -y chromium`.' : 'install Chromium so that it is at that path.'),
  );
  process.exit(1);
}

console.log(`ensure-chromium: ${executable} is missing; installing the Debian package`);
run('apt-get', ['update']);
run('apt-get', ['install', '-y', 'chromium']);
console.log(`ensure-chromium: installed ${executable}`);
