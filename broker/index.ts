import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { CloseCode, type CloseReason } from './close-codes.ts';
import { Refusal } from './refusals.ts';
import type { RouteHooks } from './route.ts';
import { HandshakeLimiter } from './handshakes.ts';
import { Keepalive } from './keepalive.ts';
import { createSession, stationKey as key, type Session, type SessionEnd } from './session.ts';
import { OwnCallError, type OwnCallOptions, type StationCallClaim } from './outbox.ts';
import type { StationInfo } from './types.ts';
import { authenticateStation, upstreamCredentials } from './authenticate.ts';
import type { Directory, StationCredentials, TenantSecurity, Throttle, ThrottleRule } from './directory.ts';
import { readUpgradeRequest, refuse, type UpgradeRequest } from './upgrade.ts';
import { connectUpstream, createOwnHandshakes } from './upstream.ts';
import { pathAsSent, type ConnectionEvent } from './events.ts';

export { OCPP_PATH_PREFIX } from './upgrade.ts';
export { Refusal, refusals, type RefusalCode, type RefusalKind } from './refusals.ts';
export type { Directory, StationCredentials, TenantSecurity, Throttle, ThrottleRule, ThrottleSlot } from './directory.ts';
export type { PendingCall } from './calls.ts';
export { readEnvelope, type Envelope } from './frame.ts';
export type { ConnectionEvent } from './events.ts';
export { stationKey } from './session.ts';
export { combineHooks, type Local, type RouteHooks, type SessionFacts } from './route.ts';
export { OwnCallError, type OwnCallFailure, type OwnCallOptions, type OutboxEvent, type StationCallClaim } from './outbox.ts';
export type { StationInfo } from './types.ts';

/**
 * permessage-deflate toward stations (RFC 7692; OCPP-J 2.0.1 expects the CSMS side to support it), negotiated only
 * when a station offers it. The broker's compressor is kept small: an 11-bit window (2 KB, plenty for OCPP's JSON;
 * a server may always announce it, RFC 7692 §7.1.2.1) and memLevel 5, about 24 KB of zlib state for a link that
 * compresses instead of ~256 KB. Messages under 1 KB are never compressed.
 */
const STATION_DEFLATE = { serverMaxWindowBits: 11, zlibDeflateOptions: { memLevel: 5 }, threshold: 1024 } as const;

/**
 * Failed station authentications (refusals of kind `auth`) allowed per window before THROTTLED: for one identity
 * from one address, and from one address in all, counted apart for registered identities and unknown ones, so that
 * unregistered stations behind a site's router never lock its registered stations out.
 */
export const STATION_AUTH_LIMITS = { windowMs: 15 * 60_000, perStation: 10, perAddress: 200 } as const;

function stationAuthRules(request: UpgradeRequest, registered: boolean, perAddress: number): ThrottleRule[] {
  const { windowMs, perStation } = STATION_AUTH_LIMITS;
  const address = request.remoteAddress;
  return [
    { key: `station:${address}|${request.tenant.id}/${request.identity}`, limit: perStation, windowMs },
    { key: `${registered ? 'address' : 'address-unknown'}:${address}`, limit: perAddress, windowMs },
  ];
}

export interface BrokerOptions {
  directory: Directory;
  /** Station authentication attempts (STATION_AUTH_LIMITS). */
  authThrottle: Throttle;
  /** Failed station authentications one address may make in the window; default STATION_AUTH_LIMITS.perAddress. */
  stationAuthFailuresPerAddress?: number;
  pingIntervalMs: number;
  /** CPMS handshakes in flight at once; more stations wait in a queue of `cpmsHandshakeQueue`, then get 503. */
  cpmsHandshakeConcurrency: number;
  cpmsHandshakeQueue: number;
  upstreamConnectTimeoutMs: number;
  maxPayloadBytes: number;
  log: Logger;
  /** Every refused station, once (for metrics). */
  onRefused?(refusal: Refusal, tenant: string | undefined): void;
  /** Every station connection opened, refused (before a tenant is known too) and closed, once each: the connection log. */
  onConnection?(event: ConnectionEvent): void;
  /** The route hooks of every session's traffic (answering calls, observing frames): combineHooks joins several. */
  hooks?: RouteHooks;
}

export interface Broker {
  /** Takes an HTTP upgrade request on `/ocpp/…` (the http.Server's `upgrade` event). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  stations(tenantId?: number): StationInfo[];
  count(tenantId?: number): number;
  /** CPMS handshakes in flight now, and stations waiting for one. */
  handshakes(): { inFlight: number; queued: number };
  /**
   * The broker's own call to a station (any action, any payload), in the one call slot it shares with the CPMS:
   * resolves with the station's CALLRESULT payload, rejects with an OwnCallError (CALL_ERROR with the station's error
   * code, TIMEOUT, NOT_CONNECTED, GONE, BUSY). Neither the call nor its answer reaches the CPMS. broker/outbox.ts.
   */
  call(tenantId: number, identity: string, action: string, payload: unknown, options?: OwnCallOptions): Promise<unknown>;
  /**
   * Until the returned function is called, the station's calls that `claim` takes (e.g. the NotifyReport frames of the
   * broker's own GetBaseReport) are answered by the broker with `[3, id, {}]` and never reach the CPMS.
   * Throws OwnCallError NOT_CONNECTED.
   */
  claim(tenantId: number, identity: string, claim: StationCallClaim): () => void;
  /** Closes one station's links; false when it is not connected. */
  disconnect(tenantId: number, identity: string, why: CloseReason): boolean;
  /** Closes every station link of a tenant; returns how many. */
  disconnectTenant(tenantId: number, why: CloseReason): number;
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
  const ownHandshakes = createOwnHandshakes();
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

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', onHandshakeError);
    const context: Record<string, unknown> = { remoteAddress: req.socket.remoteAddress };
    const abort = new AbortController();
    let stopWatching: (() => Buffer) | undefined;
    try {
      if (closing) throw new Refusal('SHUTTING_DOWN');
      if (ownHandshakes.has(req.headers['sec-websocket-key'])) {
        throw new Refusal('CPMS_LOOP', `this upgrade is the broker's own CPMS handshake (from port ${req.socket.remotePort})`);
      }
      const request = readUpgradeRequest(req, (slug) => options.directory.tenant(slug));
      Object.assign(context, { tenant: request.tenant.slug, identity: request.identity, tenantId: request.tenant.id });

      pending.add(abort);
      stopWatching = watchForHangUp(socket, () => abort.abort());
      const station = options.directory.station(request.tenant.id, request.identity);
      await authenticate(req, request, station);
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
          ownHandshakes,
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
      refused(req, refusal, context.tenantId as number | undefined);
      refuse(socket, refusal);
    } finally {
      pending.delete(abort);
      stopWatching?.();
    }
  }

  /** Tells the connection log; the slug and identity as sent when the path did not get that far. */
  function refused(req: IncomingMessage, refusal: Refusal, tenantId: number | undefined) {
    emit({
      kind: 'refused',
      at: new Date(),
      tenantId: tenantId ?? null,
      ...pathAsSent(req.url),
      remoteAddress: req.socket.remoteAddress ?? '',
      status: refusal.status,
      code: refusal.code,
      reason: refusal.message,
    });
  }

  /** A listener's mistake must never break a connection. */
  function emit(event: ConnectionEvent) {
    try {
      options.onConnection?.(event);
    } catch (error) {
      log.error({ err: error }, 'connection event listener failed');
    }
  }

  /**
   * Station authentication, throttled: the attempt takes its slots before anything is checked, and keeps them only
   * when it fails to authenticate (a refusal of kind `auth`), which is also logged and audited.
   */
  async function authenticate(req: IncomingMessage, request: UpgradeRequest, station: StationCredentials | undefined) {
    const attempt = options.authThrottle.take(stationAuthRules(request, station !== undefined, options.stationAuthFailuresPerAddress ?? STATION_AUTH_LIMITS.perAddress));
    if (!attempt.ok) {
      throw new Refusal('THROTTLED', { headers: { 'Retry-After': String(Math.ceil(attempt.retryAfterMs / 1000)) } });
    }
    try {
      await authenticateStation(req, request.tenant, request.identity, station, options.directory);
      options.authThrottle.release(attempt.slot);
    } catch (error) {
      if (error instanceof Refusal && error.kind === 'auth') {
        options.directory.authenticationFailed({
          tenant: request.tenant.slug,
          identity: request.identity,
          remoteAddress: request.remoteAddress,
          reason: error.message,
        });
      } else {
        options.authThrottle.release(attempt.slot);
      }
      throw error;
    }
  }

  /** One listener for every session's end (no closure per station). */
  function closed(session: Session, end: SessionEnd) {
    if (sessions.get(session.key) === session) sessions.delete(session.key);
    const { tenantId, tenantSlug, identity, remoteAddress } = session;
    emit({ kind: 'closed', at: new Date(), tenantId, tenantSlug, identity, remoteAddress, ...end });
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
      hooks: options.hooks,
      onClosed: closed,
    });
    const previous = sessions.get(session.key);
    sessions.set(session.key, session);
    previous?.close(CloseCode.NORMAL, 'Replaced by a new connection with the same identity');
    log.info(
      { event: 'connection.opened', tenant: tenant.slug, identity, remoteAddress, subprotocol: session.subprotocol },
      'station connected',
    );
    const where = { tenantId: tenant.id, tenantSlug: tenant.slug, identity, remoteAddress };
    emit({ kind: 'opened', at: new Date(session.connectedAt), ...where, subprotocol: session.subprotocol });
  }

  function ofTenant(tenantId?: number): Session[] {
    const all = [...sessions.values()];
    return tenantId === undefined ? all : all.filter((s) => s.tenantId === tenantId);
  }

  return {
    handleUpgrade(req, socket, head) {
      handleUpgrade(req, socket, head).catch((error: unknown) => {
        log.error({ err: error }, 'unexpected error during a station handshake');
        refused(req, new Refusal('INTERNAL'), undefined);
        refuse(socket, new Refusal('INTERNAL'));
      });
    },
    stations: (tenantId) => ofTenant(tenantId).map((s) => s.info()).sort((a, b) => +b.connectedAt - +a.connectedAt),
    count: (tenantId) => (tenantId === undefined ? sessions.size : ofTenant(tenantId).length),
    handshakes: () => ({ inFlight: handshakes.active, queued: handshakes.queued }),
    call(tenantId, identity, action, payload, callOptions) {
      const session = sessions.get(key(tenantId, identity));
      if (!session) return Promise.reject(new OwnCallError('NOT_CONNECTED', 'That station is not connected'));
      return session.call(action, payload, callOptions);
    },
    claim(tenantId, identity, claim) {
      const session = sessions.get(key(tenantId, identity));
      if (!session) throw new OwnCallError('NOT_CONNECTED', 'That station is not connected');
      return session.outbox.claim(claim);
    },
    disconnect(tenantId, identity, why) {
      const session = sessions.get(key(tenantId, identity));
      session?.close(why.code, why.reason);
      return session !== undefined;
    },
    disconnectTenant(tenantId, why) {
      const affected = ofTenant(tenantId);
      for (const session of affected) session.close(why.code, why.reason);
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
