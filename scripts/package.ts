/**
 * Packages the broker as one executable, dist/ocpp-broker: Node's single executable application (SEA) support, the
 * pinned Node 24 binary (node_modules/node), and no network.
 *
 *   1. the admin UI, built when stale (scripts/build-ui.ts --if-stale);
 *   2. server/main.ts and the writer's worker bundled by esbuild into CommonJS files (SEA runs CommonJS only);
 *   3. a SEA blob of the main bundle, with the UI, the migrations, the worker and better-sqlite3's addon as assets,
 *      plus a manifest (server/paths.ts extracts them at the first start);
 *   4. the blob injected into a copy of the Node binary with postject.
 *
 * `--if-stale`: only when dist/ocpp-broker is missing or older than a file it is made from (npm test).
 * Prints one line per step; on failure, what failed, and exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';
import pkg from '../package.json' with { type: 'json' };
import { SEA_LAYOUT, type SeaManifest } from '../server/paths.ts';
import { newest } from './newest.ts';
import { asciiOnly, englishOnlyZod } from './bundling.ts';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const work = path.join(dist, 'sea');
const executable = path.join(dist, 'ocpp-broker');
/** The Node the executable is made of: the project's pinned one, never whichever `node` is on PATH. */
const pinnedNode = path.join(root, 'node_modules', 'node', 'bin', 'node');
/** Node's sentinel that tells a binary it carries a SEA blob. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** What the executable is made of, besides build/ui (rebuilt when stale, then compared by its index.html). */
const sources = ['server', 'broker', 'db', 'contract', 'package.json', 'package-lock.json', 'scripts/package.ts', 'scripts/bundling.ts'];

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

function fail(message: string, output = ''): never {
  process.stderr.write(output);
  console.error(`package: ${message}`);
  process.exit(1);
}

/** Every file under `dir`, as paths relative to it with `/` separators, sorted. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

/**
 * The addon better-sqlite3 itself loads on this machine (a prebuilt one under prebuilds/, or build/Release when
 * compiled from source): whichever `.node` file the package required to open a database.
 */
function sqliteAddon(): string {
  const require = createRequire(import.meta.filename);
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  new Database(':memory:').close();
  const addon = Object.keys(require.cache).find((file) => file.endsWith('.node') && file.includes('better-sqlite3'));
  return addon ?? fail('could not find the addon better-sqlite3 loads');
}

/** Runs a step; returns its standard output, or shows all its output and exits when it fails. */
function run(command: string, args: string[], what: string): string {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    fail(`${what} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`, `${result.stdout ?? ''}${result.stderr ?? ''}`);
  }
  return result.stdout;
}

// 1. The UI. It goes first: a rebuilt UI makes the executable stale.
process.stdout.write(run(process.execPath, [path.join(root, 'scripts', 'build-ui.ts'), '--if-stale'], 'build-ui'));

if (process.argv.includes('--if-stale')) {
  const built = fs.statSync(executable, { throwIfNoEntry: false });
  const changed = built && [...sources, 'build/ui'].find((source) => newest(path.join(root, source)) > built.mtimeMs);
  if (built && !changed) {
    console.log('package: dist/ocpp-broker is up to date');
    process.exit(0);
  }
}
if (!fs.existsSync(pinnedNode)) fail(`${path.relative(root, pinnedNode)} is missing: run npm ci`);

// 2. The bundles. ws would try to require its optional native helpers; the executable can only require built-ins.
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const mainBundle = path.join(work, 'main.cjs');
const workerBundle = path.join(work, SEA_LAYOUT.writerWorker);
const bundling: esbuild.BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  logLevel: 'silent',
  legalComments: 'none',
  // As for npm start's bundles (scripts/bundling.ts): one byte per character, zod's English messages only.
  charset: 'ascii',
  plugins: [englishOnlyZod],
  write: false,
  define: {
    'process.env.WS_NO_BUFFER_UTIL': '"1"',
    'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    // import.meta is empty in CommonJS; server/paths.ts is the one place that uses it.
    'import.meta.dirname': '__dirname',
    'import.meta.brokerBundle': 'false', // npm start's bundles only (server/paths.ts)
  },
  // The SEA's `require` reaches built-in modules only, so better-sqlite3 could not load its addon from a path. It
  // takes webpack's name for "the real require" when that exists: give it one that loads from the file system.
  banner: { js: 'var __non_webpack_require__ = require("node:module").createRequire(__filename);' },
};
try {
  const results = await Promise.all([
    esbuild.build({ ...bundling, entryPoints: [path.join(root, 'server', 'main.ts')], outfile: mainBundle }),
    esbuild.build({ ...bundling, entryPoints: [path.join(root, 'server', 'observers', 'writer-worker.ts')], outfile: workerBundle }),
  ]);
  const warnings = results.flatMap((result) => result.warnings);
  if (warnings.length > 0) {
    const text = await esbuild.formatMessages(warnings, { kind: 'warning' });
    fail('esbuild warned; the executable may fail at run time', text.join(''));
  }
  for (const file of results.flatMap((result) => result.outputFiles ?? [])) fs.writeFileSync(file.path, asciiOnly(file.text));
} catch (error) {
  const errors = (error as { errors?: esbuild.Message[] }).errors;
  fail('esbuild failed', errors ? (await esbuild.formatMessages(errors, { kind: 'error' })).join('') : String(error));
}

// 3. The blob: the main bundle, and every file the executable writes out at its first start.
const assets: Record<string, string> = {
  ...Object.fromEntries(filesUnder(path.join(root, 'build', 'ui')).map((f) => [`${SEA_LAYOUT.ui}/${f}`, path.join(root, 'build', 'ui', f)])),
  ...Object.fromEntries(
    filesUnder(path.join(root, 'db', 'migrations')).map((f) => [`${SEA_LAYOUT.migrations}/${f}`, path.join(root, 'db', 'migrations', f)]),
  ),
  [SEA_LAYOUT.writerWorker]: workerBundle,
  [SEA_LAYOUT.nativeBinding]: sqliteAddon(),
};
if (!assets[`${SEA_LAYOUT.ui}/index.html`]) fail('build/ui/index.html is missing');
if (!assets[`${SEA_LAYOUT.migrations}/meta/_journal.json`]) fail('db/migrations/meta/_journal.json is missing');
const files = Object.keys(assets).sort();
const hash = createHash('sha256');
for (const key of files) hash.update(`${key}\0`).update(fs.readFileSync(assets[key]!)).update('\0');
const manifest: SeaManifest = { version: pkg.version, buildId: hash.digest('hex').slice(0, 16), files };
const manifestFile = path.join(work, SEA_LAYOUT.manifest);
fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);

const blob = path.join(work, 'sea-prep.blob');
const seaConfig = path.join(work, 'sea-config.json');
fs.writeFileSync(
  seaConfig,
  `${JSON.stringify(
    {
      main: mainBundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      assets: { ...assets, [SEA_LAYOUT.manifest]: manifestFile },
    },
    null,
    2,
  )}\n`,
);
run(pinnedNode, ['--experimental-sea-config', seaConfig], 'node --experimental-sea-config');

// 4. The executable: written beside, then renamed, so that a failed build never leaves a broken dist/ocpp-broker.
const partial = `${executable}.partial`;
fs.copyFileSync(pinnedNode, partial);
fs.chmodSync(partial, 0o755);
const postject = path.join(root, 'node_modules', 'postject', 'dist', 'cli.js');
run(process.execPath, [postject, partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], 'postject');
fs.renameSync(partial, executable);

const mb = (file: string) => `${(fs.statSync(file).size / 1e6).toFixed(1)} MB`;
console.log(
  `package: built dist/ocpp-broker ${pkg.version} (${manifest.buildId}) in ${elapsed()}: ${mb(executable)} ` +
    `(node ${mb(pinnedNode)}, blob ${mb(blob)}: main bundle ${mb(mainBundle)}, ${files.length} files)`,
);
