import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { identityProblem } from '../contract/index.ts';
import type { TenantSecurity } from './directory.ts';
import { Refusal, refusals } from './refusals.ts';

/** A station's upgrade request, once its path, tenant and handshake headers check out. */
export interface UpgradeRequest {
  tenant: TenantSecurity;
  identity: string;
  /** Sec-WebSocket-Protocol, in the station's order; empty when it sent none. */
  protocols: string[];
  remoteAddress: string;
}

export const OCPP_PATH_PREFIX = '/ocpp/';

/**
 * Reads `/ocpp/<slug>/<percent-encoded identity>` and the handshake headers.
 * Throws the Refusal the station gets: 404 for an unknown or disabled tenant, 400 for the rest.
 */
export function readUpgradeRequest(
  req: IncomingMessage,
  findTenant: (slug: string) => TenantSecurity | undefined,
): UpgradeRequest {
  const pathname = new URL(req.url ?? '/', 'http://broker').pathname;
  const [slug = '', ...segments] = pathname.slice(OCPP_PATH_PREFIX.length).split('/');
  const tenant = findTenant(slug);
  if (!tenant?.enabled) throw new Refusal('NOT_FOUND');

  if (segments.length !== 1) throw new Refusal('BAD_IDENTITY', 'expected /ocpp/<tenant>/<identity>');
  const identity = decodeIdentity(segments[0]!);
  if (identity === undefined) throw new Refusal('BAD_IDENTITY', 'malformed percent-encoding');
  const problem = identityProblem(identity);
  if (problem) throw new Refusal('BAD_IDENTITY', problem);

  const handshake = handshakeProblem(req);
  if (handshake) throw new Refusal('BAD_HANDSHAKE', handshake);
  const protocols = parseProtocols(req.headers['sec-websocket-protocol']);
  if (!protocols) throw new Refusal('BAD_HANDSHAKE', 'invalid Sec-WebSocket-Protocol header');

  return { tenant, identity, protocols, remoteAddress: req.socket.remoteAddress ?? '' };
}

function decodeIdentity(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The checks `ws` would make after the CPMS link is open; made first so a bad request costs the CPMS nothing. */
export function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'the method is not GET';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'the Upgrade header is not websocket';
  const key = req.headers['sec-websocket-key'];
  if (!key || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'missing or invalid Sec-WebSocket-Key header';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'missing or unsupported Sec-WebSocket-Version header';
  return undefined;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Sec-WebSocket-Protocol as a list (RFC 6455 §4.1); undefined when malformed or repeating a name. */
export function parseProtocols(header: string | undefined): string[] | undefined {
  if (header === undefined) return [];
  const protocols = header.split(',').map((p) => p.trim());
  if (protocols.some((p) => !TOKEN.test(p)) || new Set(protocols).size !== protocols.length) return undefined;
  return protocols;
}

/**
 * Answers an upgrade request with a plain HTTP status and the code's generic message, and closes the socket. The
 * detail stays in the log: a station must not learn the CPMS's internal address or error.
 */
export function refuse(socket: Duplex, refusal: Refusal): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${refusals[refusal.code].message}\n`;
  const headers = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...refusal.headers,
  };
  // As ws's abortHandshake does: the socket is no longer read after an upgrade, so it would never see the
  // station's end of the connection, and stay open (one file descriptor each) until the station went away.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n` +
      Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('') +
      `\r\n${body}`,
  );
}
