const time = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const fullDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** The time of day when `iso` is today, otherwise date and time. */
export function when(iso: string, now = new Date()): string {
  const date = new Date(iso);
  return date.toDateString() === now.toDateString() ? time.format(date) : dateTime.format(date);
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", or the date. */
export function ago(iso: string, now = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (seconds < 2) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return dateTime.format(new Date(iso));
}

/** Date and time to the minute: "Nov 24, 2026, 10:30 AM". */
export function dateAndTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

/** Date and time to the second, for logs. */
export function stamp(iso: string): string {
  return fullDateTime.format(new Date(iso));
}

/** The date alone. */
export function date(iso: string): string {
  return day.format(new Date(iso));
}

/** "45 s", "3 min", "1 h 5 min": how long to wait. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return minutes % 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes / 60} h`;
}

/**
 * The first or the last millisecond of a local calendar day given as an `<input type="date">` value
 * ("2025-03-01"), as an ISO string; undefined for an empty or invalid value.
 */
export function dayBound(value: string, edge: 'start' | 'end'): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return undefined;
  const [, year, month, dayOfMonth] = match.map(Number) as [number, number, number, number];
  const start = new Date(year, month - 1, dayOfMonth);
  if (Number.isNaN(start.getTime())) return undefined;
  return (edge === 'start' ? start : new Date(new Date(year, month - 1, dayOfMonth + 1).getTime() - 1)).toISOString();
}

/** A lower-case slug suggested from a tenant name: "Acme Charging GmbH" → "acme-charging-gmbh". */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** The ports the broker listens on: plain HTTP and ws://, and HTTPS and wss:// (`auth.me` says). */
export interface Ports {
  port: number;
  tlsPort: number;
}

/**
 * The addresses stations are configured with: this broker's host as the browser reached it, on the port of the
 * listener the tenant's station profile needs: ws:// for profiles 0 and 1, wss:// for 2 and 3, and both for
 * profile 1 when it is accepted over TLS too. The port the page came in on is used for its own scheme (it may be
 * forwarded); the other one is the port the broker listens on. Stations append `/<identity>`.
 */
export function stationUrls(
  location: Location,
  ports: Ports,
  tenant: { slug: string; stationProfile: number; profile1OverTls: boolean },
): { url: string; tls: boolean }[] {
  const pagePort = location.port || (location.protocol === 'https:' ? '443' : '80');
  const plain = location.protocol === 'http:' ? pagePort : String(ports.port);
  const secure = location.protocol === 'https:' ? pagePort : String(ports.tlsPort);
  const ws = { url: `ws://${location.hostname}:${plain}/ocpp/${tenant.slug}`, tls: false };
  const wss = { url: `wss://${location.hostname}:${secure}/ocpp/${tenant.slug}`, tls: true };
  if (tenant.stationProfile >= 2) return [wss];
  if (tenant.stationProfile === 1 && tenant.profile1OverTls) return [ws, wss];
  return [ws];
}

/** How many whole days from `now` until `iso`; negative once it is past. */
export function daysUntil(iso: string, now = new Date()): number {
  return Math.floor((new Date(iso).getTime() - now.getTime()) / 86_400_000);
}

const kilo = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const monthOfYear = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });

/** Energy given in Wh as "7.40 kWh"; "—" when unknown. */
export function kWh(wh: number | null | undefined): string {
  return wh == null ? '—' : `${kilo.format(wh / 1000)} kWh`;
}

/** A whole number with the locale's grouping: "7,400". */
export function integer(value: number): string {
  return whole.format(value);
}

/** A calendar month given as "2026-11" (UTC, as the broker groups them) as "November 2026". */
export function month(value: string): string {
  const [year, monthNumber] = value.split('-').map(Number) as [number, number];
  return monthOfYear.format(new Date(Date.UTC(year, monthNumber - 1, 1)));
}
