import { requireAdmin } from '$lib/session';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

export const load: PageLoad = async ({ parent, depends }) => {
  depends('app:tokens');
  await requireAdmin(parent, 'manage API tokens');
  return { tokens: await trpc.tokens.list.query() };
};
