import { createHash } from 'node:crypto';
import { and, count, desc, eq, gte, isNull, lt, or } from 'drizzle-orm';
import type { Db } from './index.ts';
import { apiTokens, sessions, users, type Role } from './schema.ts';

/** SHA-256, hex: how session ids and API tokens are stored (they are random, so no salt or slow hash is needed). */
export const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');

const userColumns = { id: users.id, username: users.username, role: users.role, createdAt: users.createdAt, updatedAt: users.updatedAt };
export type UserView = { id: number; username: string; role: Role; createdAt: Date; updatedAt: Date };

export function countAdmins(db: Db): number {
  return db.select({ n: count() }).from(users).where(eq(users.role, 'admin')).get()!.n;
}

export function listUsers(db: Db): UserView[] {
  return db.select(userColumns).from(users).orderBy(users.username).all();
}

export function getUser(db: Db, id: number): UserView | undefined {
  return db.select(userColumns).from(users).where(eq(users.id, id)).get();
}

/** The one query that reads a password hash: for checking a login. */
export function findLogin(db: Db, username: string): (UserView & { passwordHash: string }) | undefined {
  return db.select({ ...userColumns, passwordHash: users.passwordHash }).from(users).where(eq(users.username, username)).get();
}

export function createUser(db: Db, input: { username: string; passwordHash: string; role: Role }): UserView {
  return db.insert(users).values(input).returning(userColumns).get();
}

export function updateUser(db: Db, id: number, changes: { role?: Role; passwordHash?: string }): UserView | undefined {
  return db.update(users).set({ ...changes, updatedAt: new Date() }).where(eq(users.id, id)).returning(userColumns).get();
}

export function removeUser(db: Db, id: number): void {
  db.delete(users).where(eq(users.id, id)).run();
}

// Sessions

export function createSession(db: Db, idHash: string, userId: number): void {
  db.insert(sessions).values({ idHash, userId }).run();
}

export function findSession(db: Db, idHash: string) {
  return db
    .select({ idHash: sessions.idHash, createdAt: sessions.createdAt, lastSeenAt: sessions.lastSeenAt, user: userColumns })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.idHash, idHash))
    .get();
}

export function touchSession(db: Db, idHash: string, at: Date): void {
  db.update(sessions).set({ lastSeenAt: at }).where(eq(sessions.idHash, idHash)).run();
}

export function removeSession(db: Db, idHash: string): void {
  db.delete(sessions).where(eq(sessions.idHash, idHash)).run();
}

export function removeSessionsOf(db: Db, userId: number): void {
  db.delete(sessions).where(eq(sessions.userId, userId)).run();
}

/** Deletes sessions idle since `idleBefore` or created before `createdBefore`. */
export function pruneSessions(db: Db, idleBefore: Date, createdBefore: Date): void {
  db.delete(sessions).where(or(lt(sessions.lastSeenAt, idleBefore), lt(sessions.createdAt, createdBefore))).run();
}

// API tokens

const tokenColumns = {
  id: apiTokens.id,
  name: apiTokens.name,
  createdAt: apiTokens.createdAt,
  expiresAt: apiTokens.expiresAt,
  lastUsedAt: apiTokens.lastUsedAt,
  revokedAt: apiTokens.revokedAt,
  owner: users.username,
};

export function listTokens(db: Db) {
  return db.select(tokenColumns).from(apiTokens).innerJoin(users, eq(users.id, apiTokens.userId)).orderBy(desc(apiTokens.createdAt)).all();
}

export function getToken(db: Db, id: number) {
  return db.select(tokenColumns).from(apiTokens).innerJoin(users, eq(users.id, apiTokens.userId)).where(eq(apiTokens.id, id)).get();
}

export function createToken(db: Db, input: { name: string; tokenHash: string; userId: number; expiresAt: Date | null }) {
  const { id } = db.insert(apiTokens).values(input).returning({ id: apiTokens.id }).get();
  return getToken(db, id)!;
}

/** A token that is neither revoked nor expired at `at`, with its owner. */
export function findActiveToken(db: Db, tokenHash: string, at: Date) {
  return db
    .select({ id: apiTokens.id, name: apiTokens.name, lastUsedAt: apiTokens.lastUsedAt, user: userColumns })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(
      and(
        eq(apiTokens.tokenHash, tokenHash),
        isNull(apiTokens.revokedAt),
        or(isNull(apiTokens.expiresAt), gte(apiTokens.expiresAt, at)),
      ),
    )
    .get();
}

export function touchToken(db: Db, id: number, at: Date): void {
  db.update(apiTokens).set({ lastUsedAt: at }).where(eq(apiTokens.id, id)).run();
}

/** Revokes every active token of a user; returns how many. */
export function revokeTokensOf(db: Db, userId: number, at: Date): number {
  return db.update(apiTokens).set({ revokedAt: at }).where(and(eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt))).run().changes;
}

/** What a new password ends: the user's sessions and API tokens. Returns how many tokens were revoked. */
export function endSessionsAndTokensOf(db: Db, userId: number, at = new Date()): number {
  return db.transaction(() => {
    removeSessionsOf(db, userId);
    return revokeTokensOf(db, userId, at);
  });
}

export function revokeToken(db: Db, id: number, at: Date): void {
  db.update(apiTokens).set({ revokedAt: at }).where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt))).run();
}
