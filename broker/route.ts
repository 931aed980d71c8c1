import type { PendingCall } from './calls.ts';
import type { OutboxEvent } from './outbox.ts';
import WebSocket from 'ws';
import { readEnvelope, type Envelope } from './frame.ts';
import type { Link, Side } from './session.ts';

/**
 * What a route hook knows of the session whose traffic it sees: the same object for the whole session, so a hook can
 * keep what it needs per station in a map by `key`, and the broker keeps no hooks per session.
 */
export interface SessionFacts {
  readonly tenantId: number;
  readonly tenantSlug: string;
  readonly identity: string;
  readonly subprotocol: string | null;
  /** `tenantId/identity`: one station's key, made once per session. */
  readonly key: string;
}

/**
 * A frame that never crossed to the other side. `answered`: a call the broker answered itself (a station's, through
 * `answer`, or the CPMS's, through `answerCpms`), and that answer. `own`: a call the broker made itself (observed
 * from the CPMS's side) and the station's answer to it.
 */
export type Local = 'answered' | 'own';

/**
 * What the rest of the broker may do with the traffic, without slowing it down: answer a station's call itself, and
 * observe frames once they are forwarded. One set for the whole broker (combineHooks joins several), each hook called
 * with the session it is about.
 */
export interface RouteHooks {
  /**
   * The broker's own answer to a call from the station (a whole CALLRESULT or CALLERROR frame), sent back instead
   * of forwarding the call; undefined to forward it. Called for calls only, before forwarding: keep it quick.
   * `pending` is the call's entry, handed to `observe` with the call and with this answer: a hook may set its
   * `context`.
   */
  answer?(session: SessionFacts, call: Extract<Envelope, { kind: 'call' }>, frame: Buffer, pending: PendingCall): string | undefined;
  /**
   * The same for a call from the CPMS to the station (smart charging: SetChargingProfile / ClearChargingProfile under
   * the tenant's policy): the broker's answer goes back to the CPMS and the call never reaches the station. Asked
   * before the call could be held for one of the broker's own calls; keep it quick, and leave it undefined when no
   * one answers CPMS calls (the forwarding path then costs one field check).
   */
  answerCpms?(session: SessionFacts, call: Extract<Envelope, { kind: 'call' }>, frame: Buffer, pending: PendingCall): string | undefined;
  /**
   * Every frame that came from `from`, after it was forwarded (or answered). Must not throw or block. `call` is, for
   * a CALL, its entry in the calls in flight (a hook may set its `context`); for a CALLRESULT or CALLERROR, the entry
   * of the call it answers, context included, when that call is known. `local`: the frame never crossed to the other
   * side (see Local); a station's call the broker answered is observed from the station and its answer as coming from
   * the CPMS's side, a CPMS call the broker answered from the CPMS and its answer as coming from the station's side.
   */
  observe?(session: SessionFacts, from: Side, envelope: Envelope, frame: Buffer, call: PendingCall | undefined, local?: Local): void;
  /** A call that `caller` sent was answered through the broker, `ms` after it went through. */
  answered?(session: SessionFacts, caller: Side, action: string, ms: number): void;
  /** What became of the broker's own calls, and CPMS frames held meanwhile (broker/outbox.ts): for metrics. */
  outbox?(session: SessionFacts, event: OutboxEvent): void;
}

/**
 * Several sets of hooks as one, made once: every `observe`, `answered` and `outbox` in the order given; of `answer`
 * and `answerCpms`, the first one given (one part of the broker answers each kind of call).
 */
export function combineHooks(...all: RouteHooks[]): RouteHooks {
  const each = <K extends 'observe' | 'answered' | 'outbox'>(name: K) =>
    all.flatMap((hooks) => (hooks[name] ? [hooks[name].bind(hooks) as NonNullable<RouteHooks[K]>] : []));
  const observers = each('observe');
  const timers = each('answered');
  const outboxes = each('outbox');
  const first = <K extends 'answer' | 'answerCpms'>(name: K) => {
    const hooks = all.find((h) => h[name]);
    return hooks && (hooks[name]!.bind(hooks) as NonNullable<RouteHooks[K]>);
  };
  return {
    answer: first('answer'),
    answerCpms: first('answerCpms'),
    observe:
      observers.length === 0
        ? undefined
        : (session, from, envelope, frame, call, local) => {
            for (const observe of observers) observe(session, from, envelope, frame, call, local);
          },
    answered:
      timers.length === 0
        ? undefined
        : (session, caller, action, ms) => {
            for (const answered of timers) answered(session, caller, action, ms);
          },
    outbox:
      outboxes.length === 0
        ? undefined
        : (session, event) => {
            for (const outbox of outboxes) outbox(session, event);
          },
  };
}

const OPEN = WebSocket.OPEN;
/** One options object for every forwarded frame: a Buffer that goes out as a text frame. */
const TEXT = { binary: false } as const;

/**
 * Forwards one text frame from one link to its partner, untouched, and keeps the counters and
 * the calls in flight of each sender. Nothing here writes to the database.
 *
 * The broker's own calls toward the station (broker/outbox.ts) share the CPMS's one-call-at-a-time slot toward it
 * (OCPP-J 2.0.1 §6.4): while one is out, the CPMS's calls are held there; the station's answers to them, and the
 * station calls the broker asked for itself (NotifyReport of its own GetBaseReport), stop here and never reach the
 * CPMS. On the way through, that costs one field check per frame.
 */
export function forward(from: Link, to: Link, frame: Buffer, hooks: RouteHooks): void {
  const now = Date.now();
  from.framesReceived++;
  from.lastFrameAt = now;

  const envelope = readEnvelope(frame);
  const outbox = from.session.outbox;
  if (from.side === 'cpms') {
    if (hooks.answerCpms !== undefined && envelope.kind === 'call') {
      const local: PendingCall = { action: envelope.action, startedAt: now };
      const reply = hooks.answerCpms(from.session, envelope, frame, local);
      if (reply !== undefined) {
        answerLocally(from, envelope, frame, reply, local, hooks);
        return;
      }
    }
    if (outbox.out !== undefined && outbox.hold(frame, envelope)) return;
  } else if (envelope.kind === 'call') {
    if (outbox.claims !== undefined && outbox.claimed(envelope.action, frame)) {
      answerLocally(from, envelope, frame, `[3,${JSON.stringify(envelope.id)},{}]`, { action: envelope.action, startedAt: now }, hooks);
      return;
    }
    if (hooks.answer) {
      // Answered at once, so never in the calls in flight; the entry only carries the hook's context to `observe`.
      const local: PendingCall = { action: envelope.action, startedAt: now };
      const reply = hooks.answer(from.session, envelope, frame, local);
      if (reply !== undefined) {
        answerLocally(from, envelope, frame, reply, local, hooks);
        return;
      }
    }
  } else if ((envelope.kind === 'result' || envelope.kind === 'error') && outbox.owns(envelope.id)) {
    outbox.answer(envelope, frame);
    return;
  }
  deliver(from, to, frame, envelope, hooks, now);
}

/** Sends a frame on to `to` (also a held CPMS frame, once released), tracking calls in flight, then observes it. */
export function deliver(from: Link, to: Link, frame: Buffer, envelope: Envelope, hooks: RouteHooks, now: number): void {
  let call: PendingCall | undefined;
  if (envelope.kind === 'call') {
    call = from.calls.start(envelope.id, envelope.action, now);
  } else if (envelope.kind === 'result' || envelope.kind === 'error') {
    call = to.calls.finish(envelope.id);
    if (call && hooks.answered) hooks.answered(from.session, to.side, call.action, now - call.startedAt);
  }

  if (to.ws.readyState === OPEN) {
    to.ws.send(frame, TEXT);
    to.framesSent++;
  } // else the partner is closing: this session is ending
  if (hooks.observe) hooks.observe(from.session, from.side, envelope, frame, call);
  // The CPMS tells the station how often to send a Heartbeat: what "silent for too long" means for it (once a link).
  if (call?.action === 'BootNotification' && envelope.kind === 'result') from.session.heartbeatIntervalS = heartbeatInterval(frame);
  // The station answered the CPMS: a broker call waiting for the slot may go now.
  if (call !== undefined && to.side === 'cpms' && from.session.outbox.queue !== undefined) from.session.outbox.pump();
}

/**
 * The broker's own answer to a call (a station's, or the CPMS's): sent back, observed with the call, the answer observed
 * as coming from the other side, and the call never forwarded.
 */
function answerLocally(from: Link, envelope: Envelope, frame: Buffer, reply: string, local: PendingCall, hooks: RouteHooks): void {
  from.ws.send(reply);
  from.framesSent++;
  if (hooks.observe) {
    hooks.observe(from.session, from.side, envelope, frame, local, 'answered');
    const answer = Buffer.from(reply);
    hooks.observe(from.session, from.side === 'station' ? 'cpms' : 'station', readEnvelope(answer), answer, local, 'answered');
  }
}

/** The `interval` (seconds) of a BootNotification's CALLRESULT, 1.6 and 2.0.1 alike; null when it has none. */
export function heartbeatInterval(frame: Buffer): number | null {
  try {
    const interval = (JSON.parse(frame.toString()) as [number, string, { interval?: unknown }])[2]?.interval;
    return typeof interval === 'number' && Number.isInteger(interval) && interval > 0 ? interval : null;
  } catch {
    return null;
  }
}
