import { readEnvelope } from './frame.ts';
import type { Link } from './session.ts';

/**
 * Forwards one text frame from one link to its partner, untouched, and keeps the counters and
 * the calls in flight of each sender. Nothing here writes to the database or parses a payload.
 *
 * Calls the broker will originate itself toward a station (smart charging) share the CPMS's
 * one-call-at-a-time slot toward it (OCPP-J 2.0.1 §6.4): this is where they will be queued,
 * and where the answers to them will be kept from the CPMS.
 */
export function forward(from: Link, to: Link, frame: Buffer): void {
  const now = Date.now();
  from.framesReceived++;
  from.lastFrameAt = now;

  const envelope = readEnvelope(frame);
  if (envelope.kind === 'call') {
    from.calls.start(envelope.id, envelope.action, now);
  } else if (envelope.kind === 'result' || envelope.kind === 'error') {
    to.calls.finish(envelope.id);
  }

  if (to.ws.readyState !== to.ws.OPEN) return; // the partner is closing; this session is ending
  to.ws.send(frame, { binary: false });
  to.framesSent++;
}
