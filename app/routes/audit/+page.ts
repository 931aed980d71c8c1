import { filterFromUrl, listInput } from '$lib/audit';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** The first page of entries, newest first; the filters are in the URL so that a filtered view can be shared. */
export const load: PageLoad = async ({ url }) => {
  const filter = filterFromUrl(url.searchParams);
  return { filter, entries: await trpc.audit.list.query(listInput(filter)) };
};
