import { error } from '@sveltejs/kit';
import { errorCode } from '$lib/forms';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** The tenant, the site with its allocation now, and the tenant's registered stations (to assign). The page polls the rest. */
export const load: PageLoad = async ({ params, depends }) => {
  depends('app:registry');
  const id = Number(params.id);
  const siteId = Number(params.siteId);
  if (!Number.isSafeInteger(id) || id < 1 || !Number.isSafeInteger(siteId) || siteId < 1) error(404, 'No such site');
  try {
    const [tenant, live, registry] = await Promise.all([
      trpc.tenants.get.query({ id }),
      trpc.sites.get.query({ id: siteId }),
      trpc.registry.list.query({ tenantId: id }),
    ]);
    if (live.site.tenantId !== tenant.id) error(404, 'No such site');
    return { tenant, live, registry };
  } catch (cause) {
    if (errorCode(cause) === 'NOT_FOUND') error(404, 'No such site');
    throw cause;
  }
};
