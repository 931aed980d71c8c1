import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { CloseCode } from './close-codes.ts';
import { Refusal, type RefusalCode } from './refusals.ts';
import type { RouteHooks } from './route.ts';
import { HandshakeLimiter } from './handshakes.ts';
import { Keepalive } from './keepalive.ts';
import { createSession, type Session } from './session.ts';
import type { StationInfo } from './types.ts';
import { authenticateStation, upstreamCredentials } from './authenticate.ts';
import type { Directory, TenantSecurity, Throttle } from './directory.ts';
import { readUpgradeRequest, refuse, type UpgradeRequest } from './upgrade.ts';
import { connectUpstream } from './upstream.ts';

export { OCPP_PATH_PREFIX } from './upgrade.ts';
export { Refusal } from './refusals.ts';
export type { Directory, StationCredentials, TenantSecurity, Throttle } from './directory.ts';
export type { Envelope } from './frame.ts';
export type { RouteHooks } from './route.ts';
export type { StationInfo } from './types.ts';

/**
 * permessage-deflate toward stations (RFC 7692; OCPP-J 2.0.1 expects the CSMS side to support it), negotiated only
 * when a station offers it. The broker's compressor is kept small: an 11-bit window (2 KB, plenty for OCPP's JSON;
 * a server may always announce it, RFC 7692 §7.1.2.1) and memLevel 5, about 24 KB of zlib state for a link that
 * compresses instead of ~256 KB. Messages under 1 KB are never compressed.
 */
const STATION_DEFLATE = { serverMaxWindowBits: 11, zlibDeflateOptions: { memLevel: 5 }, threshold: 1024 } as const;

/** Refusals that count as a failed authentication: throttled per address, logged and audited. */
const AUTHENTICATION_FAILURES = new Set<RefusalCode>(['UNKNOWN_STATION', 'UNAUTHENTICATED', 'BAD_CERTIFICATE']);

export interface BrokerOptions {
  directory: Directory;
  /** Failed station authentications, counted per address. */
  authThrottle: Throttle;
  pingIntervalMs: number;
  upstreamConnectTimeoutMs: number;
  /** CPMS handshakes in flight at once; more stations wait in a queue of `cpmsHandshakeQueue`, then get 503. */
  cpmsHandshakeConcurrency: number;
  cpmsHandshakeQueue: number;
  maxPayloadBytes: number;
  log: Logger;
  /** Every refused station, once (for metrics). */
  onRefused?(refusal: Refusal, tenant: string | undefined): void;
  /** Hooks for each new session's traffic (answering calls, observing frames): server/observers. */
  hooksFor?(session: { tenantId: number; tenantSlug: string; identity: string; subprotocol: string | null }): RouteHooks;
}

export interface Broker {
  /** Takes an HTTP upgrade request on `/ocpp/…` (the http.Server's `upgrade` event). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  stations(tenantId?: number): StationInfo[];
  count(tenantId?: number): number;
  /** CPMS handshakes in flight now, and stations waiting for one. */
  handshakes(): { inFlight: number; queued: number };
  /** Closes one station's links; false when it is not connected. */
  disconnect(tenantId: number, identity: string, code: number, reason: string): boolean;
  /** Closes every station link of a tenant; returns how many. */
  disconnectTenant(tenantId: number, code: number, reason: string): number;
  /** Refuses new stations (503), closes every link with 1001 and waits, ending what is left after `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The proxy: for each station that connects, a CPMS link first, then the station's handshake,
 * then a session that pairs the two. Lifecycle and every status and close code: broker/README.md.
 */
export function createBroker(options: BrokerOptions): Broker {
  const { log } = options;
  const sessions = new Map<string, Session>();
  const pending = new Set<AbortController>();
  /** The subprotocol the CPMS selected, handed to the station's handshake. */
  const selected = new WeakMap<IncomingMessage, string>();
  const keepalive = new Keepalive(options.pingIntervalMs);
  const handshakes = new HandshakeLimiter(options.cpmsHandshakeConcurrency, options.cpmsHandshakeQueue);
  let closing = false;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    perMessageDeflate: STATION_DEFLATE,
    clientTracking: false,
    handleProtocols: (_offered, req) => selected.get(req) ?? false,
  });
  const onHandshakeError = (error: Error) => log.debug({ err: error.message }, 'station socket error during handshake');
  const forget = (session: Session) => {
    const id = key(session.tenantId, session.identity);
    if (sessions.get(id) === session) sessions.delete(id);
  };

  const key = (tenantId: number, identity: string) => `${tenantId}/${identity}`;

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', onHandshakeError);
    const context: Record<string, unknown> = { remoteAddress: req.socket.remoteAddress };
    const abort = new AbortController();
    let stopWatching: (() => Buffer) | undefined;
    try {
      if (closing) throw new Refusal('SHUTTING_DOWN');
      const request = readUpgradeRequest(req, (slug) => options.directory.tenant(slug));
      Object.assign(context, { tenant: request.tenant.slug, identity: request.identity });

      pending.add(abort);
      stopWatching = watchForHangUp(socket, () => abort.abort());
      const station = await authenticate(req, request);
      const credentials = upstreamCredentials(req, request.tenant, request.identity, station, options.directory);
      const release = await handshakes.acquire(abort.signal);
      let cpms: WebSocket;
      try {
        cpms = await connectUpstream({
          url: `${request.tenant.cpmsUrl}/${encodeURIComponent(request.identity)}`,
          protocols: request.protocols,
          headers: credentials.headers,
          tls: credentials.tls,
          timeoutMs: options.upstreamConnectTimeoutMs,
          maxPayloadBytes: options.maxPayloadBytes,
          signal: abort.signal,
        });
      } finally {
        release();
      }
      if (closing || abort.signal.aborted || !socket.writable) {
        cpms.on('error', onHandshakeError);
        cpms.close(CloseCode.GOING_AWAY, closing ? 'Broker shutting down' : 'Station went away');
        throw new Refusal('SHUTTING_DOWN');
      }
      if (cpms.protocol) selected.set(req, cpms.protocol);
      const early = stopWatching();
      stopWatching = undefined;
      wss.handleUpgrade(req, socket, early.length ? Buffer.concat([head, early]) : head, (station) => {
        open(request.tenant, request.identity, request.remoteAddress, station, cpms);
      });
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      if (abort.signal.aborted && !closing) {
        socket.destroy(); // the station went away: nobody to answer
        return;
      }
      const refusal = closing ? new Refusal('SHUTTING_DOWN') : error;
      log.warn({ event: 'connection.refused', ...context, status: refusal.status, reason: refusal.message }, 'station refused');
      options.onRefused?.(refusal, context.tenant as string | undefined);
      refuse(socket, refusal);
    } finally {
      pending.delete(abort);
      stopWatching?.();
    }
  }

  /** Station authentication, throttled per address: failures are counted, logged and audited. */
  async function authenticate(req: IncomingMessage, request: UpgradeRequest) {
    const keys = [`ip:${request.remoteAddress}`];
    const waitMs = options.authThrottle.retryAfterMs(keys);
    if (waitMs > 0) throw new Refusal('THROTTLED', undefined, undefined, { 'Retry-After': String(Math.ceil(waitMs / 1000)) });
    try {
      return await authenticateStation(req, request.tenant, request.identity, options.directory);
    } catch (error) {
      if (error instanceof Refusal && AUTHENTICATION_FAILURES.has(error.code)) {
        options.authThrottle.fail(keys);
        options.directory.authenticationFailed({
          tenant: request.tenant.slug,
          identity: request.identity,
          remoteAddress: request.remoteAddress,
          reason: error.message,
        });
      }
      throw error;
    }
  }

  function open(tenant: TenantSecurity, identity: string, remoteAddress: string, station: WebSocket, cpms: WebSocket) {
    const session = createSession({
      tenantId: tenant.id,
      tenantSlug: tenant.slug,
      identity,
      remoteAddress,
      station,
      cpms,
      keepalive,
      log,
      hooks: options.hooksFor?.({ tenantId: tenant.id, tenantSlug: tenant.slug, identity, subprotocol: station.protocol || null }),
      onClosed: forget,
    });
    const id = key(tenant.id, identity);
    const previous = sessions.get(id);
    sessions.set(id, session);
    previous?.close(CloseCode.NORMAL, 'Replaced by a new connection with the same identity');
    log.info(
      { event: 'connection.opened', tenant: tenant.slug, identity, remoteAddress, subprotocol: session.subprotocol },
      'station connected',
    );
  }

  function ofTenant(tenantId?: number): Session[] {
    const all = [...sessions.values()];
    return tenantId === undefined ? all : all.filter((s) => s.tenantId === tenantId);
  }

  return {
    handleUpgrade(req, socket, head) {
      handleUpgrade(req, socket, head).catch((error: unknown) => {
        log.error({ err: error }, 'unexpected error during a station handshake');
        refuse(socket, new Refusal('INTERNAL'));
      });
    },
    stations: (tenantId) => ofTenant(tenantId).map((s) => s.info()).sort((a, b) => +b.connectedAt - +a.connectedAt),
    count: (tenantId) => (tenantId === undefined ? sessions.size : ofTenant(tenantId).length),
    handshakes: () => ({ inFlight: handshakes.active, queued: handshakes.queued }),
    disconnect(tenantId, identity, code, reason) {
      const session = sessions.get(key(tenantId, identity));
      session?.close(code, reason);
      return session !== undefined;
    },
    disconnectTenant(tenantId, code, reason) {
      const affected = ofTenant(tenantId);
      for (const session of affected) session.close(code, reason);
      return affected.length;
    },
    async close(timeoutMs) {
      closing = true;
      for (const abort of pending) abort.abort();
      const all = [...sessions.values()];
      for (const session of all) session.close(CloseCode.GOING_AWAY, 'Broker shutting down');
      const closedAll = Promise.all(all.map((s) => s.closed));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'late')));
      if ((await Promise.race([closedAll, late])) === 'late') {
        for (const session of all) session.terminate();
        await closedAll;
      }
      clearTimeout(timer);
    },
  };
}

/** Bytes a station may send before its handshake is answered that are kept for the WebSocket (it should send none). */
const EARLY_BYTES_LIMIT = 64 * 1024;

/**
 * Notices a station that hangs up while its handshake waits (for a slot, for the CPMS): after an upgrade request its
 * socket is paused, so its end would go unseen. Reads what arrives meanwhile and returns it when stopped, to be read
 * as the start of the WebSocket; a station that sends more than EARLY_BYTES_LIMIT before the 101 is cut off.
 */
function watchForHangUp(socket: Duplex, onGone: () => void): () => Buffer {
  const early: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    early.push(chunk);
    size += chunk.length;
    if (size > EARLY_BYTES_LIMIT) socket.destroy();
  };
  socket.on('data', onData);
  socket.once('end', onGone);
  socket.once('close', onGone);
  return () => {
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    // Still flowing, but with no listener until ws adds its own, in the same turn (WebSocketServer.completeUpgrade).
    return early.length === 1 ? early[0]! : Buffer.concat(early);
  };
}
