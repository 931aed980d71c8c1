import type { Logger } from 'pino';
import { countAdmins, createUser } from '../../db/users.ts';
import { appendAudit } from '../../db/audit.ts';
import type { Db } from '../../db/index.ts';
import type { Config } from '../config.ts';
import { hashPassword } from './password.ts';

/** BROKER_ADMIN_USER and BROKER_ADMIN_PASSWORD create the first admin of an unattended install, and only that. */
export async function createFirstAdmin(db: Db, config: Config, log: Logger): Promise<void> {
  if (!config.adminUser || !config.adminPassword || countAdmins(db) > 0) return;
  const passwordHash = await hashPassword(config.adminPassword);
  const user = db.transaction(() => {
    if (countAdmins(db) > 0) return undefined;
    const created = createUser(db, { username: config.adminUser!, passwordHash, role: 'admin' });
    appendAudit(db, { actor: 'system', action: 'user.create', target: `user:${created.username}`, after: created });
    return created;
  });
  if (user) log.info({ event: 'auth.setup', username: user.username }, 'first admin created from BROKER_ADMIN_USER');
}
