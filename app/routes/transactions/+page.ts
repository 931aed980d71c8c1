import { offsetFromUrl } from '$lib/paging';
import { filterErrors, filterFromUrl, queryInput, tenantOf, TRANSACTION_PAGE_SIZE } from '$lib/transactions';
import { trpc } from '$lib/trpc';
import type { PageLoad } from './$types';

/**
 * A page of sessions, newest first, and the energy per driver and month, for the filters in the URL (so that a view
 * can be shared). The driver is given by email, and found among the drivers of the chosen tenant.
 */
export const load: PageLoad = async ({ url }) => {
  const filter = filterFromUrl(url.searchParams);
  const offset = offsetFromUrl(url.searchParams);
  const tenantId = tenantOf(filter);
  const errors = filterErrors(filter);
  if (Object.keys(errors).length > 0) {
    const tenants = await trpc.tenants.list.query();
    return { filter, offset, tenants, errors, problem: 'Correct the filters above.', driverId: undefined, total: 0, transactions: [], months: [] };
  }
  const [tenants, matches] = await Promise.all([
    trpc.tenants.list.query(),
    filter.driver && tenantId ? trpc.drivers.list.query({ tenantId, search: filter.driver, limit: 20 }) : undefined,
  ]);
  const driver = matches?.drivers.find((d) => d.email === filter.driver.toLowerCase());
  if (filter.driver && !driver) {
    const problem = tenantId
      ? `No driver of this tenant has the email ${filter.driver}.`
      : 'Choose the tenant of the driver: drivers belong to a tenant.';
    return { filter, offset, tenants, errors, problem, driverId: undefined, total: 0, transactions: [], months: [] };
  }
  const input = queryInput(filter, driver?.id);
  const [page, months] = await Promise.all([
    trpc.transactions.list.query({ ...input, limit: TRANSACTION_PAGE_SIZE, offset }),
    trpc.transactions.energyByDriverMonth.query(input),
  ]);
  return { filter, offset, tenants, errors, problem: undefined, driverId: driver?.id, ...page, months };
};
