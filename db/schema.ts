import { sql } from 'drizzle-orm';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * A tenant is one operator: its stations connect to `/ocpp/<slug>/<identity>` on the broker,
 * and the broker connects each of them on to `<cpmsUrl>/<identity>`.
 * Security settings, stations and drivers hang off this table in later migrations.
 */
export const tenants = sqliteTable('tenants', {
  id: integer().primaryKey({ autoIncrement: true }),
  name: text().notNull(),
  slug: text().notNull().unique(),
  cpmsUrl: text('cpms_url').notNull(),
  enabled: integer({ mode: 'boolean' }).notNull().default(true),
  createdAt: integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(cast(unixepoch('subsec') * 1000 as integer))`),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(cast(unixepoch('subsec') * 1000 as integer))`),
});

export type Tenant = typeof tenants.$inferSelect;
