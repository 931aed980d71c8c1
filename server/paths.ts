import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sea from 'node:sea';

/**
 * Where the files the server needs at run time live: the built admin UI, the SQL migrations, the writer's worker and
 * SQLite's native addon. The only module that knows.
 *
 * From the source tree, they are the project's own files. In the single executable (scripts/package.ts), they are
 * SEA assets, written once per build to a cache directory (see `extractAssets`); every thread resolves the same one.
 * Resolved on first use, so that `--help` and `--version` never touch the disk.
 */
export interface Paths {
  /** The project root; in the executable, the directory its files were extracted to. */
  root: string;
  ui: string;
  /** Drizzle's migrations folder, with meta/_journal.json. */
  migrations: string;
  /** The observation writer's worker thread (server/observers/writer.ts). */
  writerWorker: string;
  /** better-sqlite3's addon for `new Database(file, { nativeBinding })`; undefined: the package finds its own. */
  nativeBinding: string | undefined;
}

/** How the executable's files are laid out, as SEA asset keys and in the extracted directory. */
export const SEA_LAYOUT = {
  /** Not extracted: `SeaManifest`. */
  manifest: 'manifest.json',
  ui: 'ui',
  migrations: 'migrations',
  writerWorker: 'writer-worker.cjs',
  nativeBinding: 'better_sqlite3.node',
} as const;

export interface SeaManifest {
  version: string;
  /** A hash of every extracted file's name and content: a new build never reuses another's files. */
  buildId: string;
  /** Asset keys, which are also paths relative to the extracted directory. */
  files: string[];
}

declare global {
  interface ImportMeta {
    /** True in the bundles of scripts/build-server.ts (build/server/*.mjs, what `npm start` runs). */
    readonly brokerBundle?: boolean;
  }
}

function resolve(): Paths {
  if (!sea.isSea()) {
    // scripts/package.ts defines import.meta.dirname for its CommonJS bundles, where import.meta is empty.
    // The bundles `npm start` runs live in build/server, beside each other.
    const root = path.resolve(import.meta.dirname, ...(import.meta.brokerBundle ? ['..', '..'] : ['..']));
    return {
      root,
      ui: path.join(root, 'build', 'ui'),
      migrations: path.join(root, 'db', 'migrations'),
      writerWorker: import.meta.brokerBundle
        ? path.join(import.meta.dirname, 'writer-worker.mjs')
        : path.join(root, 'server', 'observers', 'writer-worker.ts'),
      nativeBinding: undefined,
    };
  }
  const dir = extractAssets(JSON.parse(sea.getAsset(SEA_LAYOUT.manifest, 'utf8')) as SeaManifest);
  return {
    root: dir,
    ui: path.join(dir, SEA_LAYOUT.ui),
    migrations: path.join(dir, SEA_LAYOUT.migrations),
    writerWorker: path.join(dir, SEA_LAYOUT.writerWorker),
    nativeBinding: path.join(dir, SEA_LAYOUT.nativeBinding),
  };
}

let resolved: Paths | undefined;
const get = () => (resolved ??= resolve());

export const paths: Readonly<Paths> = {
  get root() {
    return get().root;
  },
  get ui() {
    return get().ui;
  },
  get migrations() {
    return get().migrations;
  },
  get writerWorker() {
    return get().writerWorker;
  },
  get nativeBinding() {
    return get().nativeBinding;
  },
};

/**
 * Where extracted files may go, in order: the XDG cache (`$XDG_CACHE_HOME`, else `~/.cache`), then a directory next
 * to the executable, for service users whose home is missing or read-only. Never a shared temporary directory: a
 * native addon loaded from there could have been planted by another user.
 */
function cacheCandidates(): string[] {
  // Read here rather than in config.ts: a convention of the platform, not a setting, and needed before any config
  // (in the worker thread, too).
  const xdg = process.env.XDG_CACHE_HOME;
  const home = os.homedir();
  return [
    ...(xdg && path.isAbsolute(xdg) ? [path.join(xdg, 'ocpp-broker')] : []),
    ...(home ? [path.join(home, '.cache', 'ocpp-broker')] : []),
    path.join(path.dirname(process.execPath), '.ocpp-broker-cache'),
  ];
}

/** Errors that mean "this location cannot be written": try the next one. */
const UNWRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENOENT', 'ENOSPC', 'EDQUOT']);

/**
 * Returns `<cache>/<version>-<buildId>`, writing it first when no complete copy exists. Atomic: the files are written
 * (and flushed) into a fresh temporary directory beside it, which is then renamed into place. When another process
 * renamed its copy first, the rename fails and theirs is used; a copy found incomplete (a crash, a disk filled up) is
 * moved aside and replaced the same way.
 */
function extractAssets(manifest: SeaManifest): string {
  const name = `${manifest.version}-${manifest.buildId}`;
  const tried: string[] = [];
  for (const base of cacheCandidates()) {
    const dir = path.join(base, name);
    if (isComplete(dir, manifest)) return dir;
    let temp: string | undefined;
    try {
      fs.mkdirSync(base, { recursive: true, mode: 0o700 });
      const fresh = (temp = fs.mkdtempSync(path.join(base, `.${name}.tmp-`)));
      for (const sub of new Set(manifest.files.map((key) => path.dirname(path.join(fresh, key))))) {
        fs.mkdirSync(sub, { recursive: true });
      }
      for (const key of manifest.files) {
        fs.writeFileSync(path.join(fresh, key), new Uint8Array(sea.getRawAsset(key)), { flush: true });
      }
      if (fs.existsSync(dir) && !isComplete(dir, manifest)) moveAsideAndRemove(dir);
      try {
        fs.renameSync(temp, dir);
        temp = undefined;
      } catch (error) {
        // ENOTEMPTY/EEXIST: another process was first; theirs is as good as ours.
        if (!isComplete(dir, manifest)) throw error;
      }
      return dir;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!code || !UNWRITABLE.has(code)) throw error;
      tried.push(`${base} (${code})`);
    } finally {
      if (temp) fs.rmSync(temp, { recursive: true, force: true });
    }
  }
  throw new Error(`Cannot write the broker's files anywhere; tried ${tried.join(', ')}. Set XDG_CACHE_HOME to a writable directory.`);
}

/** Every file present with the size it has in the executable. */
function isComplete(dir: string, manifest: SeaManifest): boolean {
  return manifest.files.every(
    (key) => fs.statSync(path.join(dir, key), { throwIfNoEntry: false })?.size === sea.getRawAsset(key).byteLength,
  );
}

function moveAsideAndRemove(dir: string): void {
  const aside = path.join(path.dirname(dir), `.${path.basename(dir)}.stale-${process.pid}-${Date.now()}`);
  try {
    fs.renameSync(dir, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // another process moved it
    throw error;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}
