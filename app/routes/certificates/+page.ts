import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** Every certificate, and the tenants (their names, and the forms' choice); `?tenant=<id>` preselects one. */
export const load: PageLoad = async ({ depends, url }) => {
  depends('app:certificates');
  // One batched request.
  const [certificates, tenants] = await Promise.all([trpc.certificates.list.query(), trpc.tenants.list.query()]);
  const tenantId = Number(url.searchParams.get('tenant')) || undefined;
  return { certificates, tenants, tenantId };
};
