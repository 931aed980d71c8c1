/**
 * Bundles the server for `npm start`: server/main.ts and the writer's worker (server/observers/writer-worker.ts), each
 * with every dependency but better-sqlite3 (a native addon, loaded from node_modules), into build/server/main.mjs and
 * build/server/writer-worker.mjs, with esbuild. Each thread then loads one file instead of ~1,000 modules through
 * Node's TypeScript type stripping and module loader, which is ~65 MB less memory just after start (docs/performance.md).
 * The code is the same as from the sources (not minified: stack traces keep their function names); the tests run the
 * sources.
 *
 * `--if-stale`: only when a bundle is missing or older than a file it is made from (`npm start`, `npm run bench`).
 * Prints one line; on failure, esbuild's messages, and exits non-zero.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { newest } from './newest.ts';
import { asciiOnly, englishOnlyZod, requiredBuiltins } from './bundling.ts';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'build', 'server');
const bundles = { main: path.join(root, 'server', 'main.ts'), 'writer-worker': path.join(root, 'server', 'observers', 'writer-worker.ts') };
/** What the bundles are made of (node_modules through the lock file). */
const sources = ['server', 'broker', 'db', 'contract', 'package.json', 'package-lock.json', 'scripts/build-server.ts', 'scripts/bundling.ts'];

function staleness(): string | undefined {
  const built = Object.keys(bundles).map((name) => fs.statSync(path.join(out, `${name}.mjs`), { throwIfNoEntry: false }));
  if (built.some((stat) => !stat)) return 'a bundle was missing';
  const oldest = Math.min(...built.map((stat) => stat!.mtimeMs));
  const changed = sources.find((source) => newest(path.join(root, source)) > oldest);
  return changed && `${changed} changed`;
}

let reason = 'requested';
if (process.argv.includes('--if-stale')) {
  const stale = staleness();
  if (!stale) {
    console.log('build-server: build/server is up to date');
    process.exit(0);
  }
  reason = stale;
}

const started = performance.now();
try {
  const result = await esbuild.build({
    entryPoints: bundles,
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    plugins: [requiredBuiltins, englishOnlyZod],
    external: ['better-sqlite3'],
    logLevel: 'silent',
    legalComments: 'none',
    // One byte per character (see asciiOnly).
    charset: 'ascii',
    write: false,
    define: {
      // server/paths.ts: the UI, the migrations and the worker, seen from build/server.
      'import.meta.brokerBundle': 'true',
      // ws's optional native helpers are not installed; without these it would try to require them.
      'process.env.WS_NO_BUFFER_UTIL': '"1"',
      'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
    },
    // The CommonJS packages bundled into these ES modules (ws, pino, prom-client…) call require() and read __dirname.
    banner: {
      js: [
        "import { createRequire as __createRequire } from 'node:module';",
        "import { fileURLToPath as __fileURLToPath } from 'node:url';",
        'const require = __createRequire(import.meta.url);',
        'const __filename = __fileURLToPath(import.meta.url);',
        "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
      ].join('\n'),
    },
  });
  if (result.warnings.length > 0) {
    const text = await esbuild.formatMessages(result.warnings, { kind: 'warning' });
    process.stderr.write(text.join(''));
    console.error('build-server: esbuild warned; the bundle may fail at run time');
    process.exit(1);
  }
  for (const file of result.outputFiles) {
    fs.mkdirSync(path.dirname(file.path), { recursive: true });
    fs.writeFileSync(file.path, asciiOnly(file.text));
  }
} catch (error) {
  const errors = (error as { errors?: esbuild.Message[] }).errors;
  process.stderr.write(errors ? (await esbuild.formatMessages(errors, { kind: 'error' })).join('') : `${String(error)}\n`);
  console.error('build-server: esbuild failed');
  process.exit(1);
}
console.log(`build-server: built build/server in ${((performance.now() - started) / 1000).toFixed(1)} s (${reason})`);
