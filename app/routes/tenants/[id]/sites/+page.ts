import { error } from '@sveltejs/kit';
import { errorCode } from '$lib/forms';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** The tenant and its sites. */
export const load: PageLoad = async ({ params, depends }) => {
  depends('app:sites');
  const id = Number(params.id);
  if (!Number.isSafeInteger(id) || id < 1) error(404, 'No such tenant');
  try {
    const [tenant, sites] = await Promise.all([trpc.tenants.get.query({ id }), trpc.sites.list.query({ tenantId: id })]);
    return { tenant, sites };
  } catch (cause) {
    if (errorCode(cause) === 'NOT_FOUND') error(404, 'No such tenant');
    throw cause;
  }
};
