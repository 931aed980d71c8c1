import type { Logger } from 'pino';
import WebSocket from 'ws';
import { CallsInFlight } from './calls.ts';
import { CloseCode, closeCodeOfError, partnerCloseCode } from './close-codes.ts';
import type { Keepalive } from './keepalive.ts';
import { Outbox, type OutboxEvent, type OwnCallOptions } from './outbox.ts';
import { deliver, forward, type RouteHooks, type SessionFacts } from './route.ts';
import type { Envelope } from './frame.ts';
import type { PendingCall } from './calls.ts';
import type { StationInfo } from './types.ts';

export type Side = 'station' | 'cpms';

/** One WebSocket of a session, with what the broker tracks of it. */
export interface Link {
  side: Side;
  ws: WebSocket;
  /** The other link of the same session. */
  partner: Link;
  session: SessionState;
  /** Calls this side sent that the other side has not answered yet. */
  calls: CallsInFlight;
  framesReceived: number;
  framesSent: number;
  lastFrameAt: number | undefined;
  /** Pings sent since the last pong or frame. */
  missedPongs: number;
  /** The close code `ws` sent when it failed this link for a protocol error. */
  failedWith: number | undefined;
}

/** One station link paired with its CPMS link (OCPP-J 2.0.1 §6: two WebSockets, one identity). */
export interface Session extends SessionFacts {
  readonly tenantId: number;
  readonly tenantSlug: string;
  readonly identity: string;
  readonly subprotocol: string | null;
  readonly remoteAddress: string;
  readonly connectedAt: number;
  readonly station: Link;
  readonly cpms: Link;
  /** Closes both links with the same code. */
  close(code: number, reason: string): void;
  /** Ends both links at once, without a close handshake. */
  terminate(): void;
  info(): StationInfo;
  /**
   * Sends the broker's own call to the station, in the slot it shares with the CPMS (broker/outbox.ts); resolves with
   * the CALLRESULT's payload, rejects with an OwnCallError.
   */
  call(action: string, payload: unknown, options?: OwnCallOptions): Promise<unknown>;
  /** The broker's own calls and what it answers itself on this session. */
  readonly outbox: Outbox;
  /** Resolves once both sockets are closed and nothing of the session is left, with who closed and how. */
  readonly closed: Promise<SessionEnd>;
}

/** How a session ended: who closed first, with which code and reason, after how long. */
export interface SessionEnd {
  closedBy: Side | 'broker';
  code: number;
  reason: string;
  durationMs: number;
}

export interface SessionOptions {
  tenantId: number;
  tenantSlug: string;
  identity: string;
  remoteAddress: string;
  station: WebSocket;
  cpms: WebSocket;
  /** The broker's one keepalive timer. */
  keepalive: Keepalive;
  log: Logger;
  /** The broker's one set of route hooks (the same for every session). */
  hooks?: RouteHooks;
  /** Called once, when both sockets are closed. */
  onClosed?(session: Session, end: SessionEnd): void;
}

/** A link that misses this many pongs in a row is dropped. */
const MISSED_PONGS_LIMIT = 3;
/** Unanswered calls are forgotten after this long (real ones time out at the peers long before). */
const CALL_MEMORY_MS = 10 * 60_000;
const NO_HOOKS: RouteHooks = {};
/** Where a socket finds its link: one property, so the listeners below are shared by every session. */
const LINK = Symbol('link');
type LinkedSocket = WebSocket & { [LINK]: Link };

/** One station's key in maps of stations (SessionFacts.key). */
export const stationKey = (tenantId: number, identity: string): string => `${tenantId}/${identity}`;

/** Pairs an open station socket with an open CPMS socket: forwarding, keepalive, closing both. */
export function createSession(options: SessionOptions): Session {
  return new SessionState(options);
}

/**
 * A session's state. Every session shares the same socket listeners and methods: per station, the broker keeps
 * two sockets and this object, and no closures.
 */
class SessionState implements Session {
  readonly tenantId: number;
  readonly tenantSlug: string;
  readonly identity: string;
  readonly subprotocol: string | null;
  readonly remoteAddress: string;
  readonly key: string;
  readonly connectedAt = Date.now();
  readonly station: Link;
  readonly cpms: Link;
  readonly hooks: RouteHooks;
  readonly outbox: Outbox;
  closedBy: { side: Side | 'broker'; code: number; reason: string } | undefined;
  /** The Heartbeat interval the CPMS gave the station in its BootNotification answer on this link (s). */
  heartbeatIntervalS: number | null = null;
  readonly #log: Logger;
  readonly #keepalive: Keepalive;
  readonly #onClosed: ((session: Session, end: SessionEnd) => void) | undefined;
  #end: SessionEnd | undefined;
  #closed: Promise<SessionEnd> | undefined;
  #resolveClosed: ((end: SessionEnd) => void) | undefined;

  constructor(options: SessionOptions) {
    this.tenantId = options.tenantId;
    this.tenantSlug = options.tenantSlug;
    this.identity = options.identity;
    this.subprotocol = options.station.protocol || null;
    this.remoteAddress = options.remoteAddress;
    this.key = stationKey(options.tenantId, options.identity);
    this.hooks = options.hooks ?? NO_HOOKS;
    this.#log = options.log;
    this.#keepalive = options.keepalive;
    this.#onClosed = options.onClosed;
    this.station = link('station', options.station, this);
    this.cpms = link('cpms', options.cpms, this);
    this.station.partner = this.cpms;
    this.cpms.partner = this.station;
    this.outbox = new Outbox(this);
    for (const self of [this.station, this.cpms]) {
      self.ws.on('message', onMessage);
      self.ws.on('pong', onPong);
      self.ws.on('error', onError);
      self.ws.once('close', onClose);
    }
    this.#keepalive.add(this);
  }

  get closed(): Promise<SessionEnd> {
    this.#closed ??= this.#end ? Promise.resolve(this.#end) : new Promise<SessionEnd>((resolve) => (this.#resolveClosed = resolve));
    return this.#closed;
  }

  close(code: number, reason: string): void {
    this.closedBy ??= { side: 'broker', code, reason };
    closeLink(this.station, code, reason);
    closeLink(this.cpms, code, reason);
  }

  terminate(): void {
    this.closedBy ??= { side: 'broker', code: 1006, reason: 'terminated' };
    this.station.ws.terminate();
    this.cpms.ws.terminate();
  }

  info(): StationInfo {
    return {
      tenantId: this.tenantId,
      tenantSlug: this.tenantSlug,
      identity: this.identity,
      subprotocol: this.subprotocol,
      connectedAt: new Date(this.connectedAt),
      remoteAddress: this.remoteAddress,
      lastFrameAt: this.station.lastFrameAt === undefined ? null : new Date(this.station.lastFrameAt),
      framesIn: this.station.framesReceived,
      framesOut: this.station.framesSent,
      heartbeatIntervalS: this.heartbeatIntervalS,
    };
  }

  call(action: string, payload: unknown, options?: OwnCallOptions): Promise<unknown> {
    return this.outbox.call(action, payload, options);
  }

  /** The outbox's own frames, observed as coming from the broker (`local`): the inspector shows them so. */
  observeOwn(from: Side, envelope: Envelope, frame: Buffer, call: PendingCall): void {
    this.hooks.observe?.(this, from, envelope, frame, call, 'own');
  }

  /** A CPMS frame the outbox held, on its way to the station now. */
  release(frame: Buffer, envelope: Envelope): void {
    deliver(this.cpms, this.station, frame, envelope, this.hooks, Date.now());
  }

  event(event: OutboxEvent): void {
    this.hooks.outbox?.(this, event);
  }

  /** Called by the keepalive timer: pings each open link, drops one that missed MISSED_PONGS_LIMIT pongs. */
  keepalive(now: number): void {
    for (const self of [this.station, this.cpms]) {
      self.calls.sweep(now - CALL_MEMORY_MS);
      if (self.ws.readyState !== WebSocket.OPEN) continue;
      if (self.missedPongs >= MISSED_PONGS_LIMIT) {
        this.closedBy ??= { side: self.side, code: 1006, reason: `missed ${MISSED_PONGS_LIMIT} pongs` };
        self.ws.terminate();
        continue;
      }
      self.missedPongs++;
      self.ws.ping();
    }
  }

  debug(self: Link, error: Error): void {
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ ...this.#who(), side: self.side, err: error.message }, 'socket error');
    }
  }

  /** Both sockets are closed: nothing of the session is left. */
  finish(): void {
    if (this.#end) return;
    const end: SessionEnd = {
      closedBy: this.closedBy?.side ?? 'broker',
      code: this.closedBy?.code ?? 1006,
      reason: this.closedBy?.reason ?? '',
      durationMs: Date.now() - this.connectedAt,
    };
    this.#end = end;
    this.outbox.close();
    this.#keepalive.delete(this);
    this.#log.info(
      { event: 'connection.closed', ...this.#who(), ...end, framesIn: this.station.framesReceived, framesOut: this.station.framesSent },
      'station disconnected',
    );
    this.#onClosed?.(this, end);
    this.#resolveClosed?.(end);
  }

  #who() {
    return { tenant: this.tenantSlug, identity: this.identity, remoteAddress: this.remoteAddress };
  }
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const self = (this as LinkedSocket)[LINK];
  if (isBinary) {
    self.session.closedBy ??= { side: 'broker', code: CloseCode.UNSUPPORTED_DATA, reason: `binary frame from the ${self.side}` };
    closeLink(self, CloseCode.UNSUPPORTED_DATA, 'OCPP-J uses text frames only');
    return;
  }
  self.missedPongs = 0;
  forward(self, self.partner, data, self.session.hooks);
}

function onPong(this: WebSocket): void {
  (this as LinkedSocket)[LINK].missedPongs = 0;
}

function onError(this: WebSocket, error: Error): void {
  const self = (this as LinkedSocket)[LINK];
  const code = closeCodeOfError(error);
  if (code) {
    self.failedWith = code;
    self.session.closedBy ??= { side: 'broker', code, reason: `${error.message} (from the ${self.side})` };
  }
  self.session.debug(self, error);
}

function onClose(this: WebSocket, code: number, reasonBytes: Buffer): void {
  const self = (this as LinkedSocket)[LINK];
  const reason = reasonBytes.toString();
  self.session.closedBy ??= { side: self.side, code, reason };
  self.session.outbox.close(); // the station cannot answer any more; nothing held has anywhere to go
  closeLink(self.partner, partnerCloseCode(self.failedWith ?? code, self.side), reason);
  if (self.partner.ws.readyState === WebSocket.CLOSED) self.session.finish();
}

function link(side: Side, ws: WebSocket, session: SessionState): Link {
  const self: Link = {
    side,
    ws,
    partner: undefined as unknown as Link, // set right after both links exist
    session,
    calls: new CallsInFlight(),
    framesReceived: 0,
    framesSent: 0,
    lastFrameAt: undefined,
    missedPongs: 0,
    failedWith: undefined,
  };
  (ws as LinkedSocket)[LINK] = self;
  return self;
}

function closeLink(link: Link, code: number, reason: string): void {
  if (link.ws.readyState === WebSocket.OPEN || link.ws.readyState === WebSocket.CONNECTING) {
    link.ws.close(code, truncate(reason));
  }
}

/** A close reason is at most 123 bytes (RFC 6455 §5.5). */
function truncate(reason: string): string {
  if (reason.length <= 30) return reason; // at most 4 bytes a character
  const bytes = Buffer.from(reason);
  return bytes.length <= 123 ? reason : bytes.subarray(0, 123).toString().replace(/\uFFFD$/, '');
}
