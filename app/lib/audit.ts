import { dayBound } from './format.ts';

/** The audit page's filters, as the form and the URL hold them; dates are `<input type="date">` values. */
export interface AuditFilter {
  action: string;
  actor: string;
  from: string;
  to: string;
}

export const AUDIT_PAGE_SIZE = 50;

const keys = ['action', 'actor', 'from', 'to'] as const;

export function filterFromUrl(params: URLSearchParams): AuditFilter {
  const [action, actor, from, to] = keys.map((key) => params.get(key)?.trim() ?? '') as [string, string, string, string];
  return { action, actor, from, to };
}

/** `?action=tenant.&actor=alice`, without the empty ones; '' when none is set. */
export function filterToSearch(filter: AuditFilter): string {
  const params = new URLSearchParams();
  for (const key of keys) if (filter[key].trim()) params.set(key, filter[key].trim());
  const search = params.toString();
  return search && `?${search}`;
}

/** The input of `audit.list`: whole local days for the dates, entries older than `beforeId` for the next page. */
export function listInput(filter: AuditFilter, beforeId?: number) {
  return {
    action: filter.action || undefined,
    actor: filter.actor || undefined,
    from: dayBound(filter.from, 'start'),
    to: dayBound(filter.to, 'end'),
    beforeId,
    limit: AUDIT_PAGE_SIZE,
  };
}

export interface FieldChange {
  field: string;
  before?: string;
  after?: string;
  changed: boolean;
}

/**
 * Field by field, what an entry's `before` and `after` say: every field of either, marked when it differs
 * (all of them for a creation or a removal). Undefined when they are not both objects or absent.
 */
export function fieldChanges(before: unknown, after: unknown): FieldChange[] | undefined {
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if ((before != null && !isRecord(before)) || (after != null && !isRecord(after))) return undefined;
  const fields = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  return fields.map((field) => {
    const was = before && field in before ? show(before[field]) : undefined;
    const is = after && field in after ? show(after[field]) : undefined;
    return { field, before: was, after: is, changed: was !== is };
  });
}

/** A JSON value as one line: strings as they are, everything else as JSON. */
export function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
