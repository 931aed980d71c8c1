import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { usesPassword } from '../contract/index.ts';
import { clientCertificateProblem } from './client-certificate.ts';
import type { Directory, StationCredentials, TenantSecurity } from './directory.ts';
import { Refusal } from './refusals.ts';

const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="OCPP", charset="UTF-8"' };
/** When a station refused because too many password checks wait (BUSY) should come back. */
export const BUSY_RETRY_AFTER_SECONDS = 5;

function isTls(req: IncomingMessage): req is IncomingMessage & { socket: TLSSocket } {
  return 'encrypted' in req.socket && Boolean((req.socket as TLSSocket).encrypted);
}

/**
 * Checks a station against its tenant's security profile before the upgrade (see broker/README.md):
 * transport, registry (`station`, as found there), then Basic auth (profiles 1, 2) or the client certificate
 * (profile 3). Throws the Refusal the station gets.
 */
export async function authenticateStation(
  req: IncomingMessage,
  tenant: TenantSecurity,
  identity: string,
  station: StationCredentials | undefined,
  directory: Directory,
): Promise<void> {
  const profile = tenant.stationProfile;
  const tls = isTls(req);
  if (profile >= 2 && !tls) throw new Refusal('TLS_REQUIRED', `profile ${profile} stations must use wss://`);
  if (profile === 1 && tls && !tenant.profile1OverTls) throw new Refusal('TLS_REFUSED');

  if (!station && !tenant.allowUnknownStations) throw new Refusal('UNKNOWN_STATION');

  if (usesPassword(profile)) {
    const credentials = readBasic(req.headers.authorization);
    if (!credentials) throw new Refusal('UNAUTHENTICATED', { detail: 'Basic auth is required', headers: CHALLENGE });
    if (credentials.username !== identity) throw new Refusal('UNAUTHENTICATED', { detail: 'the username is not the identity', headers: CHALLENGE });
    if (station?.passwordHash) {
      const valid = await directory.checkPassword({ ...station, passwordHash: station.passwordHash }, credentials.password);
      if (valid === 'busy') throw new Refusal('BUSY', { headers: { 'Retry-After': String(BUSY_RETRY_AFTER_SECONDS) } });
      if (!valid) throw new Refusal('UNAUTHENTICATED', { detail: 'wrong password', headers: CHALLENGE });
    } else if (!(station === undefined && tenant.cpmsAuth === 'passthrough')) {
      // Only an unregistered station whose credentials go on to the CPMS may be left for the CPMS to judge.
      throw new Refusal('UNAUTHENTICATED', { detail: 'no password is set for this station', headers: CHALLENGE });
    }
  }

  if (profile === 3) {
    const peer = isTls(req) ? req.socket.getPeerCertificate(true) : undefined;
    const problem = clientCertificateProblem(peer && Object.keys(peer).length ? peer : undefined, {
      identity,
      organization: tenant.organization,
      cas: directory.stationCas(tenant.id),
      fingerprint: station?.certificateFingerprint ?? null,
    });
    if (problem) throw new Refusal('BAD_CERTIFICATE', problem);
  }
}

/** `Authorization: Basic base64(username ":" password)`; the password as bytes (OCPP 1.6 keys may be binary). */
export function readBasic(header: string | undefined): { username: string; password: Buffer } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64');
  const colon = decoded.indexOf(0x3a);
  if (colon < 0) return undefined;
  return { username: decoded.subarray(0, colon).toString('utf8'), password: decoded.subarray(colon + 1) };
}

export interface UpstreamCredentials {
  headers: Record<string, string>;
  tls: { ca?: string[]; cert?: string; key?: string };
}

/**
 * What the broker presents to the CPMS for this station. `passthrough` sends the station's own Authorization
 * header unchanged (as a transparent proxy does); `stored` sends Basic auth with the CPMS password stored for the
 * station, for CPMS profiles 1 and 2. Profile 3 adds the broker's client certificate. Custom CA roots replace the
 * system's; hostname verification stays on.
 */
export function upstreamCredentials(
  req: IncomingMessage,
  tenant: TenantSecurity,
  identity: string,
  station: StationCredentials | undefined,
  directory: Directory,
): UpstreamCredentials {
  const headers: Record<string, string> = {};
  if (tenant.cpmsAuth === 'passthrough') {
    if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
  } else if (usesPassword(tenant.cpmsProfile)) {
    const password = station && directory.cpmsPassword(station.id);
    if (!password) throw new Refusal('CPMS_CREDENTIALS_MISSING', 'no CPMS password is stored for this station');
    headers.authorization = `Basic ${Buffer.concat([Buffer.from(`${identity}:`), password]).toString('base64')}`;
  }

  const tls: UpstreamCredentials['tls'] = {};
  const cas = directory.cpmsCas(tenant.id);
  if (cas.length) tls.ca = cas;
  if (tenant.cpmsProfile === 3) {
    const client = directory.cpmsClientCertificate(tenant.id, station?.id);
    if (!client) throw new Refusal('CPMS_CREDENTIALS_MISSING', 'no client certificate for the CPMS');
    tls.cert = client.cert;
    tls.key = client.key;
  }
  return { headers, tls };
}
