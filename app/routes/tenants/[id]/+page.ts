import { error } from '@sveltejs/kit';
import { errorCode } from '$lib/forms';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

export const load: PageLoad = async ({ params }) => {
  const id = Number(params.id);
  if (!Number.isSafeInteger(id) || id < 1) error(404, 'No such tenant');
  try {
    return { tenant: await trpc.tenants.get.query({ id }) };
  } catch (cause) {
    if (errorCode(cause) === 'NOT_FOUND') error(404, 'No such tenant');
    throw cause;
  }
};
