import type { Logger } from 'pino';
import type { PendingCall, RouteHooks, SessionFacts } from '../../broker/index.ts';
import { findDriverByBadge } from '../../db/badges.ts';
import type { Db } from '../../db/index.ts';
import { getTenant } from '../../db/tenants.ts';
import { ocppVersionOf, type OcppVersion } from '../../contract/index.ts';
import { v16, v201 } from './payloads.ts';
import { captures, type Captured } from './read.ts';
import type { Writer } from './writer.ts';

/**
 * What the observers attach to a call in flight (PendingCall.context): the broker's own answer to it, or the captured
 * call whose CALLRESULT the writer needs too.
 */
type CallContext = { answer: string } | { awaiting: Captured };

/**
 * Captures what the broker records from each session's traffic (badges, transactions, meter values, station facts):
 * the station calls of the actions server/observers/read.ts reads, as text, queued for the writer's thread, which
 * parses them. Nothing here parses a payload, with one exception: in the tenant's `broker` authorization mode,
 * Authorize is answered here, at once, from the driver list instead of forwarded.
 */
export function createObservers(db: Db, writer: Writer, log: Logger): RouteHooks {
  /** A station's call as the writer gets it: its text, when it came, and the broker's own answer to it, if any. */
  function capture(session: SessionFacts, action: string, frame: Buffer, call: PendingCall | undefined): Captured {
    const context = call?.context as CallContext | undefined;
    const captured: Captured = {
      tenantId: session.tenantId,
      identity: session.identity,
      version: ocppVersionOf(session.subprotocol),
      action,
      at: call?.startedAt ?? Date.now(),
      call: frame.toString(),
    };
    if (context && 'answer' in context) captured.answer = context.answer;
    return captured;
  }

  return {
    answer(session, call, frame, pending) {
      if (call.action !== 'Authorize') return undefined;
      if (getTenant(db, session.tenantId)?.authorizationMode !== 'broker') return undefined;
      const version = ocppVersionOf(session.subprotocol);
      const badge = badgeOf(version, frame);
      if (badge === undefined) return undefined; // not a valid Authorize: the CPMS answers it
      const driver = findDriverByBadge(db, session.tenantId, badge);
      const status = !driver ? 'Invalid' : driver.blocked ? 'Blocked' : 'Accepted';
      pending.context = { answer: status } satisfies CallContext;
      const info = version === '1.6' ? { idTagInfo: { status } } : { idTokenInfo: { status } };
      return JSON.stringify([3, call.id, info]);
    },
    observe(session, from, envelope, frame, call) {
      try {
        if (from === 'station' && envelope.kind === 'call') {
          const captured = captures(ocppVersionOf(session.subprotocol), envelope.action);
          if (!captured) return;
          const item = capture(session, envelope.action, frame, call);
          writer.push(item);
          if (captured.awaitsResult && call) call.context = { awaiting: item } satisfies CallContext;
        } else if (from === 'cpms' && envelope.kind === 'result') {
          // The answer to a station's call: the call in flight it answers carries what the writer needs with it.
          const context = call?.context as CallContext | undefined;
          if (context && 'awaiting' in context) writer.push({ ...context.awaiting, result: frame.toString() });
        }
      } catch (error) {
        log.error({ err: error, tenantId: session.tenantId, identity: session.identity }, 'observing a frame failed');
      }
    },
  };
}


/** The badge of an Authorize, read only to answer it (broker mode); undefined when it is not a valid Authorize. */
function badgeOf(version: OcppVersion, frame: Buffer): string | undefined {
  try {
    const payload = (JSON.parse(frame.toString()) as unknown[])[3];
    return version === '1.6' ? v16.Authorize.safeParse(payload).data?.idTag : v201.Authorize.safeParse(payload).data?.idToken.idToken;
  } catch {
    return undefined;
  }
}
