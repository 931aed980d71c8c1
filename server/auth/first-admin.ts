import type { Logger } from 'pino';
import { countAdmins } from '../../db/users.ts';
import type { Db } from '../../db/index.ts';
import type { Config } from '../config.ts';
import { createAdmin } from '../accounts.ts';
import { hashPassword } from './password.ts';

/** BROKER_ADMIN_USER and BROKER_ADMIN_PASSWORD create the first admin of an unattended install, and only that. */
export async function createFirstAdmin(db: Db, config: Config, log: Logger): Promise<void> {
  if (!config.adminUser || !config.adminPassword || countAdmins(db) > 0) return;
  const passwordHash = await hashPassword(config.adminPassword);
  const user = createAdmin(db, { username: config.adminUser, passwordHash }, { actor: 'system' }, { onlyFirst: true });
  if (user) log.info({ event: 'auth.setup', username: user.username }, 'first admin created from BROKER_ADMIN_USER');
}
