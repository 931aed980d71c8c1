import { requireAdmin } from '$lib/session';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

export const load: PageLoad = async ({ parent, depends }) => {
  depends('app:users');
  await requireAdmin(parent, 'manage users');
  return { users: await trpc.users.list.query() };
};
