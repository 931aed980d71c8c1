import type { Logger } from 'pino';
import WebSocket from 'ws';
import { CallsInFlight } from './calls.ts';
import { CloseCode, closeCodeOfError, partnerCloseCode } from './close-codes.ts';
import { forward, type RouteHooks } from './route.ts';
import type { StationInfo } from './types.ts';

export type Side = 'station' | 'cpms';

/** One WebSocket of a session, with what the broker tracks of it. */
export interface Link {
  side: Side;
  ws: WebSocket;
  /** Calls this side sent that the other side has not answered yet. */
  calls: CallsInFlight;
  framesReceived: number;
  framesSent: number;
  lastFrameAt: number | undefined;
  /** Pings sent since the last pong or frame. */
  missedPongs: number;
  /** The close code `ws` sent when it failed this link for a protocol error. */
  failedWith?: number;
}

/** One station link paired with its CPMS link (OCPP-J 2.0.1 §6: two WebSockets, one identity). */
export interface Session {
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
  pingIntervalMs: number;
  log: Logger;
  hooks?: RouteHooks;
}

/** A link that misses this many pongs in a row is dropped. */
const MISSED_PONGS_LIMIT = 3;
/** Unanswered calls are forgotten after this long (real ones time out at the peers long before). */
const CALL_MEMORY_MS = 10 * 60_000;

/** Pairs an open station socket with an open CPMS socket: forwarding, keepalive, closing both. */
export function createSession(options: SessionOptions): Session {
  const station = link('station', options.station);
  const cpms = link('cpms', options.cpms);
  const connectedAt = Date.now();
  const log = options.log.child({ tenant: options.tenantSlug, identity: options.identity, remoteAddress: options.remoteAddress });
  let closedBy: { side: Side | 'broker'; code: number; reason: string } | undefined;
  let resolveClosed!: (end: SessionEnd) => void;
  const closed = new Promise<SessionEnd>((resolve) => (resolveClosed = resolve));

  const session: Session = {
    tenantId: options.tenantId,
    tenantSlug: options.tenantSlug,
    identity: options.identity,
    subprotocol: options.station.protocol || null,
    remoteAddress: options.remoteAddress,
    connectedAt,
    station,
    cpms,
    closed,
    close(code, reason) {
      closedBy ??= { side: 'broker', code, reason };
      closeLink(station, code, reason);
      closeLink(cpms, code, reason);
    },
    terminate() {
      closedBy ??= { side: 'broker', code: 1006, reason: 'terminated' };
      station.ws.terminate();
      cpms.ws.terminate();
    },
    info: () => ({
      tenantId: options.tenantId,
      tenantSlug: options.tenantSlug,
      identity: options.identity,
      subprotocol: session.subprotocol,
      connectedAt: new Date(connectedAt),
      remoteAddress: options.remoteAddress,
      lastFrameAt: station.lastFrameAt === undefined ? null : new Date(station.lastFrameAt),
      framesIn: station.framesReceived,
      framesOut: station.framesSent,
    }),
  };

  for (const [self, partner] of [[station, cpms], [cpms, station]] as const) {
    self.ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        closedBy ??= { side: 'broker', code: CloseCode.UNSUPPORTED_DATA, reason: `binary frame from the ${self.side}` };
        closeLink(self, CloseCode.UNSUPPORTED_DATA, 'OCPP-J uses text frames only');
        return;
      }
      self.missedPongs = 0;
      forward(self, partner, data, options.hooks);
    });
    self.ws.on('pong', () => (self.missedPongs = 0));
    self.ws.on('error', (error) => {
      const code = closeCodeOfError(error);
      if (code) {
        self.failedWith = code;
        closedBy ??= { side: 'broker', code, reason: `${error.message} (from the ${self.side})` };
      }
      log.debug({ side: self.side, err: error.message }, 'socket error');
    });
    self.ws.once('close', (code, reason) => {
      closedBy ??= { side: self.side, code, reason: reason.toString() };
      closeLink(partner, partnerCloseCode(self.failedWith ?? code, self.side), reason.toString());
      if (partner.ws.readyState === WebSocket.CLOSED) finish();
    });
  }

  const keepalive = setInterval(() => {
    const now = Date.now();
    for (const self of [station, cpms]) {
      self.calls.sweep(now - CALL_MEMORY_MS);
      if (self.ws.readyState !== WebSocket.OPEN) continue;
      if (self.missedPongs >= MISSED_PONGS_LIMIT) {
        closedBy ??= { side: self.side, code: 1006, reason: `missed ${MISSED_PONGS_LIMIT} pongs` };
        self.ws.terminate();
        continue;
      }
      self.missedPongs++;
      self.ws.ping();
    }
  }, options.pingIntervalMs);

  function finish() {
    clearInterval(keepalive);
    log.info(
      {
        event: 'connection.closed',
        closedBy: closedBy?.side,
        code: closedBy?.code,
        reason: closedBy?.reason,
        durationMs: Date.now() - connectedAt,
        framesIn: station.framesReceived,
        framesOut: station.framesSent,
      },
      'station disconnected',
    );
    resolveClosed({
      closedBy: closedBy?.side ?? 'broker',
      code: closedBy?.code ?? 1006,
      reason: closedBy?.reason ?? '',
      durationMs: Date.now() - connectedAt,
    });
  }

  return session;
}

function link(side: Side, ws: WebSocket): Link {
  return { side, ws, calls: new CallsInFlight(), framesReceived: 0, framesSent: 0, lastFrameAt: undefined, missedPongs: 0 };
}

function closeLink(link: Link, code: number, reason: string): void {
  if (link.ws.readyState === WebSocket.OPEN || link.ws.readyState === WebSocket.CONNECTING) {
    link.ws.close(code, truncate(reason));
  }
}

/** A close reason is at most 123 bytes (RFC 6455 §5.5). */
function truncate(reason: string): string {
  const bytes = Buffer.from(reason);
  return bytes.length <= 123 ? reason : bytes.subarray(0, 123).toString().replace(/\uFFFD$/, '');
}
