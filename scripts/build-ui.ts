/**
 * Builds the admin UI into build/ui with the project's own Vite, under this same Node.
 * `--if-stale`: only when build/ui/index.html is missing or older than a source of the UI (`npm start`, `npm test`).
 * Prints one line; on failure, Vite's output too, and exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { newest } from './newest.ts';

const root = path.resolve(import.meta.dirname, '..');
const index = path.join(root, 'build', 'ui', 'index.html');
/** What the UI is built from: its own files, and the contract (contract/) that its forms share with the API. */
const sources = ['app', 'static', 'svelte.config.js', 'vite.config.ts', 'contract'];

function staleness(): string | undefined {
  const built = fs.statSync(index, { throwIfNoEntry: false });
  if (!built) return 'build/ui/index.html was missing';
  const changed = sources.find((source) => newest(path.join(root, source)) > built.mtimeMs);
  return changed && `${changed} changed`;
}

let reason = 'requested';
if (process.argv.includes('--if-stale')) {
  const stale = staleness();
  if (!stale) {
    console.log('build-ui: build/ui is up to date');
    process.exit(0);
  }
  reason = stale;
}

const started = performance.now();
const vite = path.join(root, 'node_modules', '.bin', 'vite');
const result = spawnSync(process.execPath, [vite, 'build'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
if (result.status !== 0) {
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  console.error(`build-ui: vite build failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`);
  process.exit(1);
}
console.log(`build-ui: built build/ui in ${((performance.now() - started) / 1000).toFixed(1)} s (${reason})`);
