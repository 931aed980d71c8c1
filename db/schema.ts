import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** Milliseconds since the epoch, as `timestamp_ms` columns store them. */
const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

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
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

export type Tenant = typeof tenants.$inferSelect;

/** Admin UI and API accounts. `admin` may do everything, `viewer` only read. */
export const users = sqliteTable('users', {
  id: integer().primaryKey({ autoIncrement: true }),
  username: text().notNull().unique(),
  /** scrypt, with its parameters (server/auth/password.ts). */
  passwordHash: text('password_hash').notNull(),
  role: text({ enum: ['admin', 'viewer'] }).notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

/** Browser sessions. The id in the cookie is never stored: only its SHA-256. */
export const sessions = sqliteTable('sessions', {
  idHash: text('id_hash').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

/** Bearer tokens for scripts, acting with their owner's role. Only the SHA-256 of a token is stored. */
export const apiTokens = sqliteTable('api_tokens', {
  id: integer().primaryKey({ autoIncrement: true }),
  name: text().notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
  lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
  revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
});

/** Who changed what, and when. `before` and `after` are JSON of the public view of the thing: never a secret. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    at: integer({ mode: 'timestamp_ms' }).notNull().default(now),
    /** "user:alice", "token:deploy (alice)", "system" */
    actor: text().notNull(),
    action: text().notNull(),
    target: text(),
    before: text({ mode: 'json' }),
    after: text({ mode: 'json' }),
    remoteAddress: text('remote_address'),
  },
  (table) => [index('audit_log_at').on(table.at), index('audit_log_action').on(table.action)],
);

export type User = typeof users.$inferSelect;
export type Role = User['role'];
