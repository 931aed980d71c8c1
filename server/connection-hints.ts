import type { ConnectionEvent } from '../broker/index.ts';
import { tlsCodeIn, tlsProblem } from './tls-problems.ts';

/** What a hint may say about the tenants: for the operator's UI only, never sent to a station. */
export interface HintContext {
  tenants: { slug: string; enabled: boolean; cpmsUrl: string }[];
  upstreamConnectTimeoutMs: number;
}

/** At most this many tenant slugs are named in a hint. */
const SLUGS_NAMED = 10;

/**
 * What an operator should look at for a refused station, or null when the reason says it all. Hints name the
 * tenants of the broker, so they are stored for the UI and never reach the station.
 */
export function hintFor(event: ConnectionEvent, context: HintContext): string | null {
  if (event.kind !== 'refused') return null;
  const tenant = context.tenants.find((t) => t.slug === event.tenantSlug);
  const known = () => {
    const slugs = context.tenants.filter((t) => t.enabled).map((t) => t.slug);
    if (slugs.length === 0) return 'There is no enabled tenant on this broker yet.';
    const named = slugs.slice(0, SLUGS_NAMED).join(', ');
    return `Tenants on this broker: ${named}${slugs.length > SLUGS_NAMED ? ` and ${slugs.length - SLUGS_NAMED} more` : ''}.`;
  };
  switch (event.code) {
    case 'NOT_FOUND':
      if (tenant && !tenant.enabled) return `The tenant "${tenant.slug}" is disabled: enable it to accept its stations.`;
      if (event.tenantSlug === null) return `The path is /ocpp/<tenant>/<identity>, and this one has neither. ${known()}`;
      if (event.identity === null) {
        return `The path is /ocpp/<tenant>/<identity>: "${event.tenantSlug}" is no tenant, so this is probably the station's identity without the tenant. ${known()}`;
      }
      return `No tenant has the slug "${event.tenantSlug}" (the path is /ocpp/<tenant>/<identity>). ${known()}`;
    case 'BAD_IDENTITY':
      return 'The path is /ocpp/<tenant>/<identity>, with one identity of at most 48 characters, percent-encoded, without ":".';
    case 'UNKNOWN_STATION':
      return 'Register the station in the tenant\'s station registry, or let the tenant accept unknown stations.';
    case 'UNAUTHENTICATED':
      return "Check the station's Basic auth: the username must be its identity, and the password the one set in the station registry.";
    case 'BAD_CERTIFICATE':
      return "Check the station's client certificate: issued by one of the tenant's station CAs, valid now, CN = the identity.";
    case 'TLS_REQUIRED':
      return "The tenant's security profile needs wss:// on the broker's TLS port: change the station's URL.";
    case 'TLS_REFUSED':
      return 'The tenant accepts profile 1 over ws:// only: change the station URL to ws://, or allow profile 1 over TLS.';
    case 'THROTTLED':
      return 'Too many failed authentications from this address: fix the credentials and wait for the window to pass.';
    case 'CPMS_CREDENTIALS_MISSING':
      return 'Store a CPMS password for the station in the registry, or upload a client certificate for the CPMS.';
    case 'CPMS_TIMEOUT':
      return `The CPMS took longer than ${context.upstreamConnectTimeoutMs} ms to accept: test the CPMS from the tenant's page.`;
    case 'CPMS_REFUSED':
      if (event.status === 401 || event.status === 403) {
        return "The CPMS refused the credentials: with pass-through it judged the station's own; with stored ones, check the CPMS password in the registry.";
      }
      if (event.status === 404) return 'The CPMS does not know this station or path: check the CPMS URL and that the station exists there.';
      return "The CPMS answered with an error status: test the CPMS from the tenant's page.";
    case 'CPMS_UNREACHABLE': {
      const code = tlsCodeIn(event.reason);
      const host = tenant ? hostOf(tenant.cpmsUrl) : '';
      if (code) return tlsProblem(code, host)!;
      if (/ECONNREFUSED/.test(event.reason)) return `Nothing accepts connections at the CPMS URL${host ? ` (${host})` : ''}: is the CPMS up, and the port right?`;
      if (/ENOTFOUND|EAI_AGAIN/.test(event.reason)) return `The CPMS host name${host ? ` "${host}"` : ''} does not resolve: check the CPMS URL and the broker's DNS.`;
      return "Test the CPMS from the tenant's page to see which step fails.";
    }
    default:
      return null;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
