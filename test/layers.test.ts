import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { paths } from '../server/paths.ts';

/**
 * The layers import only downward: app -> contract; server -> db, broker, contract; db -> contract;
 * broker -> contract; contract -> zod alone. The UI may name the API's type (AppRouter), never import its code.
 */
const LAYERS = ['app', 'broker', 'contract', 'db', 'server'] as const;
type Layer = (typeof LAYERS)[number];

const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  contract: [],
  db: ['contract'],
  broker: ['contract'],
  server: ['db', 'broker', 'contract'],
  app: ['contract'],
};

/** Packages a layer may use besides its own relative files (checked for the layers that must stay small). */
const PACKAGES: Partial<Record<Layer, (specifier: string) => boolean>> = {
  contract: (s) => s === 'zod',
  db: (s) => !s.startsWith('$'),
  broker: (s) => !/^(drizzle|better-sqlite3|@trpc)/.test(s),
  app: (s) => !/^(node:|drizzle|better-sqlite3|ws$|pino)/.test(s),
};

interface Import {
  file: string;
  specifier: string;
  typeOnly: boolean;
}

function sourceFiles(layer: Layer): string[] {
  const dir = path.join(paths.root, layer);
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|svelte)$/.test(name) && !name.split(path.sep).includes('migrations'))
    .map((name) => path.join(dir, name));
}

/** Every static `import … from`, `export … from`, bare `import '…'` and dynamic `import('…')` of a file. */
function importsOf(file: string): Import[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?\sfrom\s+['"]([^'"]+)['"]/gms)) {
    found.push({ file, specifier: m[3]!, typeOnly: Boolean(m[2]) });
  }
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) found.push({ file, specifier: m[1]!, typeOnly: false });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ file, specifier: m[1]!, typeOnly: false });
  return found;
}

/** The layer a relative import lands in, or undefined for a package or a file outside the layers. */
function targetLayer(from: string, specifier: string): Layer | 'outside' | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const top = path.relative(paths.root, path.resolve(path.dirname(from), specifier)).split(path.sep)[0]!;
  return (LAYERS as readonly string[]).includes(top) ? (top as Layer) : 'outside';
}

function upwardImports(layer: Layer): string[] {
  const wrong: string[] = [];
  for (const file of sourceFiles(layer)) {
    for (const { specifier, typeOnly } of importsOf(file)) {
      const where = `${path.relative(paths.root, file)} imports ${specifier}`;
      const target = targetLayer(file, specifier);
      if (target === undefined) {
        if (PACKAGES[layer] && !PACKAGES[layer](specifier)) wrong.push(where);
      } else if (target === 'outside') {
        // package.json (the version) is read by the server; nothing else outside the layers is imported.
        if (!(layer === 'server' && specifier.endsWith('package.json'))) wrong.push(where);
      } else if (target !== layer && !MAY_IMPORT[layer].includes(target)) {
        // The UI names the API's type to type its client; type imports are erased from the bundle.
        if (!(layer === 'app' && target === 'server' && typeOnly && specifier.endsWith('server/routers/index.ts'))) wrong.push(where);
      }
    }
  }
  return wrong;
}

describe('layers', () => {
  it('reads the imports of a file, type-only ones marked', () => {
    const imports = importsOf(path.join(paths.root, 'app', 'lib', 'trpc.ts'));
    expect(imports).toContainEqual(expect.objectContaining({ specifier: '../../server/routers/index.ts', typeOnly: true }));
    expect(imports.some((i) => i.specifier.endsWith('contract/index.ts'))).toBe(true);
  });

  for (const layer of LAYERS) {
    it(`${layer}/ imports only ${MAY_IMPORT[layer].join(', ') || 'zod'} besides itself`, () => {
      expect(sourceFiles(layer).length).toBeGreaterThan(0);
      expect(upwardImports(layer)).toEqual([]);
    });
  }
});

describe('the built admin UI', () => {
  it('contains no drizzle code', () => {
    const built = spawnSync(process.execPath, [path.join(paths.root, 'scripts', 'build-ui.ts'), '--if-stale'], { encoding: 'utf8' });
    expect(built.status, built.stdout + built.stderr).toBe(0);
    const files = fs
      .readdirSync(paths.ui, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name));
    expect(files.some((file) => file.endsWith('.js'))).toBe(true);
    const withDrizzle = files.filter((file) => /SQLiteTable|drizzle/.test(fs.readFileSync(file, 'latin1')));
    expect(withDrizzle.map((file) => path.relative(paths.ui, file))).toEqual([]);
  }, 180_000);
});
