import { dayBound } from './format.ts';

/**
 * The transactions page's filters, as the form and the URL hold them: the tenant's id, a station identity, a
 * driver's email (drivers belong to a tenant: only with one), and `<input type="date">` values.
 */
export interface TransactionFilter {
  tenant: string;
  station: string;
  driver: string;
  from: string;
  to: string;
}

export const TRANSACTION_PAGE_SIZE = 50;

const keys = ['tenant', 'station', 'driver', 'from', 'to'] as const;

export function filterFromUrl(params: URLSearchParams): TransactionFilter {
  const [tenant, station, driver, from, to] = keys.map((key) => params.get(key)?.trim() ?? '') as [string, string, string, string, string];
  return { tenant, station, driver, from, to };
}

/** `?tenant=1&from=2026-11-01` (and `offset` for a later page), without the empty ones; '' when none is set. */
export function filterToSearch(filter: TransactionFilter, offset = 0): string {
  const params = new URLSearchParams();
  for (const key of keys) if (filter[key].trim()) params.set(key, filter[key].trim());
  if (offset > 0) params.set('offset', String(offset));
  const search = params.toString();
  return search && `?${search}`;
}

/** The tenant's id, when the filter has a valid one. */
export function tenantOf(filter: TransactionFilter): number | undefined {
  const id = Number(filter.tenant);
  return filter.tenant && Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

/** The input of the `transactions` queries: whole local days for the dates, the driver once found by email. */
export function queryInput(filter: TransactionFilter, driverId: number | undefined) {
  return {
    tenantId: tenantOf(filter),
    identity: filter.station || undefined,
    driverId,
    from: dayBound(filter.from, 'start'),
    // `to` is exclusive on the broker: the first millisecond after the day.
    to: exclusiveEnd(filter.to),
  };
}

function exclusiveEnd(value: string): string | undefined {
  const end = dayBound(value, 'end');
  return end && new Date(new Date(end).getTime() + 1).toISOString();
}
