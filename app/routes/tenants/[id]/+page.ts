import { error } from '@sveltejs/kit';
import { errorCode } from '$lib/forms';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** The tenant, its station registry and the certificates (the security section says which ones it lacks). */
export const load: PageLoad = async ({ params, depends }) => {
  depends('app:registry');
  const id = Number(params.id);
  if (!Number.isSafeInteger(id) || id < 1) error(404, 'No such tenant');
  try {
    // One batched request.
    const [tenant, registry, certificates] = await Promise.all([
      trpc.tenants.get.query({ id }),
      trpc.registry.list.query({ tenantId: id }),
      trpc.certificates.list.query(),
    ]);
    return { tenant, registry, certificates };
  } catch (cause) {
    if (errorCode(cause) === 'NOT_FOUND') error(404, 'No such tenant');
    throw cause;
  }
};
