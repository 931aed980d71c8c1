import { error } from '@sveltejs/kit';
import { errorCode } from '$lib/forms';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/**
 * The tenant and what the chart shows: one session (`?transaction=`), the last 24 hours (`?range=day`), or by
 * default the live session while there is one, else the last 24 hours. The page polls the rest.
 */
export const load: PageLoad = async ({ params, url }) => {
  const id = Number(params.id);
  if (!Number.isSafeInteger(id) || id < 1) error(404, 'No such tenant');
  const ref = Number(url.searchParams.get('transaction'));
  try {
    return {
      tenant: await trpc.tenants.get.query({ id }),
      identity: params.identity,
      transactionRef: Number.isSafeInteger(ref) && ref > 0 ? ref : undefined,
      day: url.searchParams.get('range') === 'day',
    };
  } catch (cause) {
    if (errorCode(cause) === 'NOT_FOUND') error(404, 'No such tenant');
    throw cause;
  }
};
