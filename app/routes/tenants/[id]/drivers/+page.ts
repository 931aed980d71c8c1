import { error } from '@sveltejs/kit';
import { DRIVER_PAGE_SIZE } from '$lib/drivers';
import { errorCode } from '$lib/forms';
import { offsetFromUrl } from '$lib/paging';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** The tenant and a page of its drivers; the search and the page are in the URL so that a view can be shared. */
export const load: PageLoad = async ({ params, url, depends }) => {
  depends('app:drivers');
  const id = Number(params.id);
  if (!Number.isSafeInteger(id) || id < 1) error(404, 'No such tenant');
  const search = url.searchParams.get('search')?.trim() ?? '';
  const offset = offsetFromUrl(url.searchParams);
  try {
    // One batched request.
    const [tenant, page] = await Promise.all([
      trpc.tenants.get.query({ id }),
      trpc.drivers.list.query({ tenantId: id, search: search || undefined, limit: DRIVER_PAGE_SIZE, offset }),
    ]);
    return { tenant, search, offset, ...page };
  } catch (cause) {
    if (errorCode(cause) === 'NOT_FOUND') error(404, 'No such tenant');
    throw cause;
  }
};
