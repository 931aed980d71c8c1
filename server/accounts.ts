import { appendAudit } from '../db/audit.ts';
import type { Db } from '../db/index.ts';
import { countAdmins, createUser, endSessionsAndTokensOf, updateUser, type UserView } from '../db/users.ts';

/**
 * What changes accounts outside a plain update, written once for the API, the `admin` command and start-up: each
 * change and its audit entry in one transaction. Passwords come hashed (hashing is slow and asynchronous).
 */

/** Who makes the change, as the audit log names them: a user, `cli`, `system`, `setup:<username>`. */
export interface AuditedBy {
  actor: string;
  remoteAddress?: string;
}

/**
 * Creates an admin and audits it. `onlyFirst`: only while no admin exists (the setup page, BROKER_ADMIN_USER);
 * undefined when one does.
 */
export function createAdmin(
  db: Db,
  account: { username: string; passwordHash: string },
  by: AuditedBy,
  { onlyFirst = false }: { onlyFirst?: boolean } = {},
): UserView | undefined {
  return db.transaction(() => {
    if (onlyFirst && countAdmins(db) > 0) return undefined;
    const user = createUser(db, { ...account, role: 'admin' });
    appendAudit(db, { ...by, action: 'user.create', target: `user:${user.username}`, after: user });
    return user;
  });
}

/**
 * Sets a user's password, ends their sessions and API tokens, and audits it; returns how many tokens were revoked.
 * A running broker's sign-in throttle is keyed to the password hash: the new one starts with a clean slate.
 */
export function setPassword(db: Db, user: { id: number; username: string }, passwordHash: string, by: AuditedBy): number {
  return db.transaction(() => {
    updateUser(db, user.id, { passwordHash });
    const tokensRevoked = endSessionsAndTokensOf(db, user.id);
    appendAudit(db, { ...by, action: 'user.password', target: `user:${user.username}`, after: { tokensRevoked } });
    return tokensRevoked;
  });
}
