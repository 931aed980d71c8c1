import { requireAdmin } from '$lib/session';
import type { PageLoad } from './$types';

export const load: PageLoad = async ({ parent }) => {
  await requireAdmin(parent, 'add tenants');
};
