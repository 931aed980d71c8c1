import type { ClientRequest, IncomingMessage } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { Refusal } from './refusals.ts';

export interface UpstreamOptions {
  /** `<cpmsUrl>/<percent-encoded identity>` */
  url: string;
  /** Exactly the subprotocols the station offered, in its order. */
  protocols: string[];
  headers: Record<string, string>;
  /** wss:// only: custom roots (instead of the system's) and the broker's client certificate. */
  tls: { ca?: string[]; cert?: string; key?: string };
  timeoutMs: number;
  maxPayloadBytes: number;
  /** Aborted when the station goes away before the CPMS answered. */
  signal: AbortSignal;
  /** The broker's own CPMS handshakes in flight, so that an upgrade that is one of them is seen as a loop. */
  ownHandshakes: OwnHandshakes;
}

/**
 * The `Sec-WebSocket-Key`s (16 random bytes each, RFC 6455 §4.1) of the broker's CPMS handshakes in flight. A station
 * upgrade that carries one of them is the broker's own handshake come back: a CPMS URL that leads back to the broker
 * through a name or address the check on saving cannot know (DNS, another interface, a port forward, a TCP relay or
 * reverse proxy in between). A key is kept only until its handshake is answered, fails or times out, so the set holds
 * at most the handshakes in flight (`cpmsHandshakeConcurrency`).
 *
 * (Not the socket's ends: on one address, a station's source port is often the local port of one of the broker's
 * CPMS sockets too, as the kernel reuses an ephemeral port for connections to different destinations. Matching
 * ports refused thousands of stations of a reconnect storm on one host as loops.)
 */
export interface OwnHandshakes {
  /** Remembers a handshake's key; the function returned forgets it. */
  track(key: string): () => void;
  has(key: string | undefined): boolean;
}

export function createOwnHandshakes(): OwnHandshakes {
  const keys = new Set<string>();
  return {
    track(key) {
      keys.add(key);
      return () => keys.delete(key);
    },
    has: (key) => key !== undefined && keys.has(key),
  };
}

type ConnectOptions = net.NetConnectOpts &
  tls.ConnectionOptions & { host?: string; socketPath?: string; path?: string; headers?: Record<string, string> };

/** ws's own connect functions (ws/lib/websocket.js netConnect, tlsConnect), handing on the handshake's key. */
function connectTracked(secure: boolean, onKey: (key: string) => void) {
  return (options: ConnectOptions) => {
    const key = options.headers?.['Sec-WebSocket-Key'];
    if (key) onKey(key);
    if (secure) {
      options.path = undefined;
      if (!options.servername && options.servername !== '') options.servername = net.isIP(options.host ?? '') ? '' : options.host;
      return tls.connect(options);
    }
    options.path = options.socketPath;
    return net.connect(options);
  };
}

/**
 * permessage-deflate toward the CPMS (RFC 7692), offered as `ws` does by default, with a smaller compressor: an
 * 11-bit window (2 KB, plenty for OCPP's JSON) and memLevel 5, so a link that compresses holds ~24 KB of zlib state
 * instead of ~256 KB. The CPMS's own window is its choice; messages under 1 KB are never compressed.
 */
const CPMS_DEFLATE = { clientMaxWindowBits: 11, zlibDeflateOptions: { memLevel: 5 }, threshold: 1024 } as const;

const ignore = () => {};

/**
 * Opens the CPMS link for one station. Resolves with the open socket, or rejects with the
 * Refusal the station should get: the CPMS's own HTTP status when it answered with one,
 * 502 when it cannot be reached, 504 when it does not answer within `timeoutMs`.
 */
export function connectUpstream(options: UpstreamOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let forgetKey = ignore;
    const ws = new WebSocket(options.url, options.protocols, {
      headers: options.headers,
      maxPayload: options.maxPayloadBytes,
      followRedirects: false,
      perMessageDeflate: CPMS_DEFLATE,
      minVersion: 'TLSv1.2', // hostname verification is Node's default and is never turned off
      ...options.tls,
      createConnection: connectTracked(options.url.startsWith('wss:'), (key) => {
        forgetKey();
        forgetKey = options.ownHandshakes.track(key);
      }) as unknown as typeof net.createConnection,
    });
    let settled = false;

    const settle = (refusal?: Refusal) => {
      if (settled) return;
      settled = true;
      forgetKey();
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('error', onError);
      ws.off('unexpected-response', onUnexpectedResponse);
      if (refusal) {
        ws.on('error', ignore); // terminate() may still report the failed handshake
        ws.terminate();
        reject(refusal);
      } else {
        resolve(ws);
      }
    };
    const onOpen = () => settle();
    const onAbort = () => settle(new Refusal('CPMS_UNREACHABLE', 'the station went away'));
    const onError = (error: Error) => settle(new Refusal('CPMS_UNREACHABLE', describe(error)));
    const onUnexpectedResponse = (request: ClientRequest, response: IncomingMessage) => {
      response.resume();
      request.destroy();
      settle(refusalFor(response));
    };

    const timer = setTimeout(
      () => settle(new Refusal('CPMS_TIMEOUT', `no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    options.signal.addEventListener('abort', onAbort, { once: true });
    ws.once('open', onOpen);
    ws.on('error', onError);
    ws.once('unexpected-response', onUnexpectedResponse);
  });
}

/** 4xx and 5xx reach the station as they are; anything else (a redirect, a 200) is not a WebSocket CPMS. */
function refusalFor(response: IncomingMessage): Refusal {
  const status = response.statusCode ?? 502;
  if (status < 400 || status > 599) {
    return new Refusal('CPMS_UNREACHABLE', `the CPMS answered HTTP ${status} instead of switching protocols`);
  }
  const headers: Record<string, string> = {};
  const challenge = response.headers['www-authenticate'];
  if (challenge) headers['WWW-Authenticate'] = challenge;
  return new Refusal('CPMS_REFUSED', { detail: `HTTP ${status}`, status, headers });
}

function describe(error: Error & { code?: string }): string {
  return error.code ? `${error.code} ${error.message}` : error.message;
}
