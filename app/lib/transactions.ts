import { dayBound } from './format.ts';
import type { FieldErrors } from './forms.ts';

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

/**
 * What is wrong with the filter's dates, as field errors: a date that is not one, and a From after the To (which
 * could only ever match nothing). Dates are `<input type="date">` values, compared as days.
 */
export function filterErrors(filter: Pick<TransactionFilter, 'from' | 'to'>): FieldErrors {
  const errors: FieldErrors = {};
  for (const key of ['from', 'to'] as const) {
    if (filter[key] && !isDay(filter[key])) errors[key] = ['Not a date (year-month-day)'];
  }
  if (!errors.from && !errors.to && filter.from && filter.to && filter.from > filter.to) {
    errors.from = ['After the To date: no session could match'];
  }
  return errors;
}

/** How long a session took, or has taken until `now` while it charges; undefined without a start. */
export function sessionSeconds(t: { startedAt: string | null; stoppedAt: string | null; state: string }, now: Date): number | undefined {
  if (!t.startedAt) return undefined;
  const end = t.stoppedAt ? Date.parse(t.stoppedAt) : t.state === 'active' ? now.getTime() : undefined;
  return end === undefined ? undefined : Math.max(0, (end - Date.parse(t.startedAt)) / 1000);
}

/** A real calendar day as "2026-11-24" (not "2026-02-30"). */
function isDay(value: string): boolean {
  const start = dayBound(value, 'start');
  if (!start) return false;
  const date = new Date(start);
  const local = `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
  return local === value;
}
