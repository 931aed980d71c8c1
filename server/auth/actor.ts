import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { parseCookie, stringifySetCookie } from 'cookie';
import { createSession, digest, findActiveToken, findSession, removeSession, touchSession, touchToken, type UserView } from '../../db/users.ts';
import type { Db } from '../../db/index.ts';

export const SESSION_COOKIE = 'broker_session';
/** A session unused this long ends. */
export const SESSION_IDLE_MS = 12 * 60 * 60_000;
/** A session ends this long after login, used or not. */
export const SESSION_MAX_AGE_MS = 7 * 24 * 60 * 60_000;
/** Last-use times are written at most this often, not on every request. */
const TOUCH_EVERY_MS = 60_000;

/** Who is calling: a user through a browser session, or a script through one of the user's API tokens. */
export type Actor =
  | { via: 'session'; user: UserView; sessionIdHash: string }
  | { via: 'token'; user: UserView; tokenId: number; tokenName: string };

/** How the audit log names an actor. */
export function actorName(actor: Actor | null): string {
  if (!actor) return 'anonymous';
  return actor.via === 'token' ? `token:${actor.tokenName} (${actor.user.username})` : `user:${actor.user.username}`;
}

/**
 * The actor behind a request: `Authorization: Bearer <token>` when present (and then only it),
 * else the session cookie. Null when neither is valid now.
 */
export function authenticate(db: Db, headers: IncomingHttpHeaders, now = new Date()): Actor | null {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  if (bearer !== undefined) {
    const token = findActiveToken(db, digest(bearer), now);
    if (!token) return null;
    if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > TOUCH_EVERY_MS) touchToken(db, token.id, now);
    return { via: 'token', user: token.user, tokenId: token.id, tokenName: token.name };
  }

  const sessionId = headers.cookie ? parseCookie(headers.cookie)[SESSION_COOKIE] : undefined;
  if (!sessionId) return null;
  const idHash = digest(sessionId);
  const session = findSession(db, idHash);
  if (!session) return null;
  const idle = now.getTime() - session.lastSeenAt.getTime();
  if (idle > SESSION_IDLE_MS || now.getTime() - session.createdAt.getTime() > SESSION_MAX_AGE_MS) {
    removeSession(db, idHash);
    return null;
  }
  if (idle > TOUCH_EVERY_MS) touchSession(db, idHash, now);
  return { via: 'session', user: session.user, sessionIdHash: idHash };
}

/** Starts a session for a user; returns the cookie value (256 random bits), which is stored only hashed. */
export function startSession(db: Db, userId: number): string {
  const id = randomBytes(32).toString('base64url');
  createSession(db, digest(id), userId);
  return id;
}

export function sessionCookie(id: string, secure: boolean): string {
  return stringifySetCookie({
    name: SESSION_COOKIE,
    value: id,
    httpOnly: true,
    sameSite: 'strict',
    secure,
    path: '/',
    maxAge: SESSION_MAX_AGE_MS / 1000,
  });
}

export function clearedSessionCookie(secure: boolean): string {
  return stringifySetCookie({ name: SESSION_COOKIE, value: '', httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: 0 });
}

/** A new API token: shown to its creator once, stored only hashed. */
export function newApiToken(): string {
  return `obk_${randomBytes(32).toString('base64url')}`;
}
