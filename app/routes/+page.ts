import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/** The dashboard: tenants with their stations online and offline and their CPMS's health, and the alerts. */
export const load: PageLoad = async () => {
  // One batched request.
  const [tenants, dashboard] = await Promise.all([trpc.tenants.list.query(), trpc.connections.dashboard.query()]);
  return { tenants, dashboard };
};
