const time = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

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

/**
 * The address stations are configured with: this broker's host and port, the same ones the browser used.
 * Stations append `/<identity>`. Over HTTPS the broker also terminates TLS, so stations use wss://.
 */
export function stationUrl(location: Location, slug: string): string {
  const secure = location.protocol === 'https:';
  const port = location.port || (secure ? '443' : '80');
  return `${secure ? 'wss' : 'ws'}://${location.hostname}:${port}/ocpp/${slug}`;
}
