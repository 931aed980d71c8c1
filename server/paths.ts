import path from 'node:path';

/**
 * Where the files the server needs at run time live: the built admin UI, the SQL migrations, the writer's worker.
 * The only module that knows; the packaged executable replaces it.
 */
const root = path.resolve(import.meta.dirname, '..');

export const paths = {
  root,
  ui: path.join(root, 'build', 'ui'),
  migrations: path.join(root, 'db', 'migrations'),
  /** The observation writer's worker thread (server/observers/writer.ts). */
  writerWorker: path.join(root, 'server', 'observers', 'writer-worker.ts'),
};
