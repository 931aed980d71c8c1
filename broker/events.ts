import { OCPP_PATH_PREFIX } from './upgrade.ts';
import type { RefusalCode } from './refusals.ts';
import type { Side } from './session.ts';

/**
 * What happened to one station connection, as the broker saw it: opened, refused (before any WebSocket exists,
 * with the HTTP status the station got) or closed (both links gone). Emitted once each, for the connection log.
 */
export type ConnectionEvent =
  | {
      kind: 'opened';
      at: Date;
      tenantId: number;
      tenantSlug: string;
      identity: string;
      remoteAddress: string;
      subprotocol: string | null;
    }
  | {
      kind: 'refused';
      at: Date;
      /** Null when no tenant matched (unknown slug, a path without one). */
      tenantId: number | null;
      /** As the station sent it; null when the path had none. */
      tenantSlug: string | null;
      identity: string | null;
      remoteAddress: string;
      status: number;
      code: RefusalCode;
      reason: string;
    }
  | {
      kind: 'closed';
      at: Date;
      tenantId: number;
      tenantSlug: string;
      identity: string;
      remoteAddress: string;
      /** Who closed first: the station, the CPMS, or the broker (an admin, a replacement, a shutdown, a protocol error). */
      closedBy: Side | 'broker';
      code: number;
      reason: string;
      durationMs: number;
    };

/** What of a path is kept in a refusal: enough to recognise it, never a whole request line. */
export const SENT_PART_MAX = 100;

/**
 * The tenant slug and identity of an upgrade path as the station sent them (`/ocpp/<slug>/<identity…>`), before
 * any check: decoded where the percent-encoding allows, cut to SENT_PART_MAX characters, control characters
 * replaced. Never throws. For refusals that come before a tenant or identity is known.
 */
export function pathAsSent(url: string | undefined): { tenantSlug: string | null; identity: string | null } {
  const path = (url ?? '').split('?')[0]!;
  const rest = path.startsWith(OCPP_PATH_PREFIX) ? path.slice(OCPP_PATH_PREFIX.length) : path.replace(/^\/+/, '');
  const [slug = '', ...segments] = rest.split('/');
  const identity = segments.join('/');
  return { tenantSlug: slug === '' ? null : shown(slug), identity: identity === '' ? null : shown(identity) };
}

function shown(part: string): string {
  let decoded = part;
  try {
    decoded = decodeURIComponent(part);
  } catch {
    // kept as sent
  }
  return [...decoded.replace(/[\u0000-\u001f\u007f]/g, '\uFFFD')].slice(0, SENT_PART_MAX).join('');
}
