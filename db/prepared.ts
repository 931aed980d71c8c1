import type { Db } from './index.ts';

const statements = new WeakMap<Db, Map<object, unknown>>();

/**
 * The statement `build` prepares, prepared once per database: drizzle builds its SQL and SQLite compiles it on the
 * first call only. For queries on a hot path (each station's handshake); `build` must be a module-level function,
 * its parameters `sql.placeholder`s.
 */
export function prepared<T>(db: Db, build: (db: Db) => T): T {
  let forDb = statements.get(db);
  if (!forDb) statements.set(db, (forDb = new Map()));
  let statement = forDb.get(build) as T | undefined;
  if (statement === undefined) forDb.set(build, (statement = build(db)));
  return statement;
}
