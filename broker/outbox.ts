import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { PendingCall } from './calls.ts';
import type { Envelope } from './frame.ts';
import type { Link } from './session.ts';

/**
 * The broker's own calls toward one station, sharing the one call slot toward it with the CPMS (OCPP-J 2.0.1 §6.4:
 * one outstanding call per sender; the station sees the broker and the CPMS as one CSMS). The rules, as broker/README.md
 * "The broker's own calls" states them:
 *
 * - A broker call waits while a CPMS call to the station is unanswered (for at most CPMS_CALL_PATIENCE_MS after that
 *   call went out: the CPMS has given up on it by then).
 * - While a broker call is out, the CPMS's calls to the station are held, in order, and released right after the
 *   broker's call is answered or timed out; the CPMS's answers to the station's calls are never held.
 * - Beyond HELD_FRAMES_LIMIT or HELD_BYTES_LIMIT held, the broker's call is given up (as if timed out) and the held
 *   frames released, so the CPMS never waits longer than one broker call, and the broker never holds much.
 * - At most QUEUE_LIMIT broker calls wait per station; one more fails at once with BUSY.
 * - The station's answer to a broker call (its id is a UUID, never one of the CPMS's) never reaches the CPMS, nor does
 *   a late answer to one that timed out.
 */

/**
 * Why a broker call failed: a stable code, as the broker's refusals have, each documented in broker/README.md.
 * CALL_ERROR: the station answered with a CALLERROR (`errorCode` is its OCPP error code). TIMEOUT: no answer within the
 * call's timeout, or given up because the CPMS's held frames reached their bound. NOT_CONNECTED: the station has no
 * session with the broker. GONE: the station's session ended before the answer came. BUSY: QUEUE_LIMIT calls already
 * wait for this station.
 */
export const OWN_CALL_FAILURES = ['CALL_ERROR', 'TIMEOUT', 'NOT_CONNECTED', 'GONE', 'BUSY'] as const;
export type OwnCallFailure = (typeof OWN_CALL_FAILURES)[number];

export class OwnCallError extends Error {
  readonly code: OwnCallFailure;
  /** For CALL_ERROR: the station's error code, description and details. */
  readonly errorCode: string | undefined;
  readonly errorDescription: string | undefined;
  readonly errorDetails: unknown;

  constructor(code: OwnCallFailure, message: string, error?: { code: string; description?: string; details?: unknown }) {
    super(message);
    this.name = 'OwnCallError';
    this.code = code;
    this.errorCode = error?.code;
    this.errorDescription = error?.description;
    this.errorDetails = error?.details;
  }
}

export interface OwnCallOptions {
  /** How long the station has to answer once the call is sent (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** `high` calls go before the `normal` ones waiting (each kind first in, first out). */
  priority?: 'normal' | 'high';
}

/** What the outbox reports, for metrics. */
export type OutboxEvent =
  | { kind: 'held' }
  | { kind: 'given_up'; action: string }
  | { kind: 'done'; action: string; outcome: 'result' | OwnCallFailure };

export const DEFAULT_TIMEOUT_MS = 30_000;
/** Broker calls waiting per station. */
export const QUEUE_LIMIT = 16;
/** CPMS frames held while a broker call is out. */
export const HELD_FRAMES_LIMIT = 64;
export const HELD_BYTES_LIMIT = 1024 * 1024;
/** A CPMS call unanswered for this long no longer keeps the broker's calls waiting. */
export const CPMS_CALL_PATIENCE_MS = 30_000;
/** Ids of timed-out broker calls remembered, so that a late answer is still kept from the CPMS. */
const LATE_IDS_LIMIT = 16;

interface OwnCall {
  id: string;
  action: string;
  frame: string;
  timeoutMs: number;
  priority: 'normal' | 'high';
  resolve(payload: unknown): void;
  reject(error: OwnCallError): void;
  /** The call's entry as route hooks see it (observe). */
  pending: PendingCall;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A station call (e.g. NotifyReport) that the broker answers itself with `[3, id, {}]` and keeps from the CPMS, as long
 * as `claim` says it is one the broker asked for. `claim` gets the parsed payload; returns true when it is.
 */
export interface StationCallClaim {
  action: string;
  claim(payload: unknown): boolean;
}

/** What the outbox needs from its session. */
export interface OutboxHost {
  readonly station: Link;
  readonly cpms: Link;
  /** The frames the broker sends or receives on its own behalf, for the route hooks (inspector). */
  observeOwn(from: 'station' | 'cpms', envelope: Envelope, frame: Buffer, call: PendingCall): void;
  /** Delivers a held CPMS frame to the station now. */
  release(frame: Buffer, envelope: Envelope): void;
  event(event: OutboxEvent): void;
}

export class Outbox {
  /** The broker's call on the wire, if any: the forwarding path checks this one field. */
  out: OwnCall | undefined;
  /**
   * The broker calls waiting for the slot; undefined when none waits. The lists below are made when first needed too:
   * most stations never get a broker call, and an idle station should cost little.
   */
  queue: OwnCall[] | undefined;
  /** CPMS frames held while `out` is set, in order. */
  #held: { frame: Buffer; envelope: Envelope }[] | undefined;
  #heldBytes = 0;
  /** Ids of the broker's calls that timed out, the newest last. */
  #late: string[] | undefined;
  /** Station calls the broker answers itself; undefined when none (one field check per station call). */
  claims: StationCallClaim[] | undefined;
  #waitTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #host: OutboxHost;

  constructor(host: OutboxHost) {
    this.#host = host;
  }

  /** Queues a call; resolves with the station's CALLRESULT payload, rejects with an OwnCallError. */
  call(action: string, payload: unknown, options: OwnCallOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new OwnCallError('GONE', 'The station is no longer connected'));
    if (this.queue !== undefined && this.queue.length >= QUEUE_LIMIT) {
      this.#host.event({ kind: 'done', action, outcome: 'BUSY' });
      return Promise.reject(new OwnCallError('BUSY', `${QUEUE_LIMIT} of the broker's calls already wait for this station`));
    }
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const call: OwnCall = {
        id,
        action,
        frame: JSON.stringify([2, id, action, payload ?? {}]),
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        priority: options.priority ?? 'normal',
        resolve,
        reject,
        pending: { action, startedAt: 0 },
        timer: undefined,
      };
      const queue = (this.queue ??= []);
      if (call.priority === 'high') {
        const at = queue.findIndex((waiting) => waiting.priority !== 'high');
        queue.splice(at === -1 ? queue.length : at, 0, call);
      } else {
        queue.push(call);
      }
      this.pump();
    });
  }

  /** Whether `id` answers one of the broker's calls (the one out, or one that timed out): such answers stop here. */
  owns(id: string): boolean {
    return this.out?.id === id || (this.#late !== undefined && this.#late.includes(id));
  }

  /** The station's CALLRESULT or CALLERROR to the broker's call `id` (owns(id) was true). */
  answer(envelope: Extract<Envelope, { kind: 'result' | 'error' }>, frame: Buffer): void {
    const call = this.out;
    if (!call || call.id !== envelope.id) {
      const late = this.#late?.indexOf(envelope.id) ?? -1;
      if (late !== -1) this.#late!.splice(late, 1);
      if (this.#late?.length === 0) this.#late = undefined;
      return; // a late answer: its call failed already
    }
    this.#host.observeOwn('station', envelope, frame, call.pending);
    let parsed: unknown[] = [];
    try {
      parsed = JSON.parse(frame.toString()) as unknown[];
    } catch {
      // an unreadable answer is still an answer: CALL_ERROR below, or an undefined payload
    }
    if (envelope.kind === 'result') {
      this.#settle(call, 'result', parsed[2]);
    } else {
      const description = typeof parsed[3] === 'string' ? parsed[3] : undefined;
      this.#settle(call, 'CALL_ERROR', new OwnCallError('CALL_ERROR', `The station answered ${call.action} with ${envelope.code}${description ? `: ${description}` : ''}`, {
        code: envelope.code,
        description,
        details: parsed[4],
      }));
    }
  }

  /**
   * A frame from the CPMS, while a broker call is out: held when it is a call, in order; true when held. Past the
   * bounds, the broker's call is given up and everything held released (this frame last).
   */
  hold(frame: Buffer, envelope: Envelope): boolean {
    if (envelope.kind !== 'call' && envelope.kind !== 'send') return false;
    const held = (this.#held ??= []);
    held.push({ frame, envelope });
    this.#heldBytes += frame.length;
    this.#host.event({ kind: 'held' });
    if (held.length > HELD_FRAMES_LIMIT || this.#heldBytes > HELD_BYTES_LIMIT) {
      const call = this.out!;
      this.#host.event({ kind: 'given_up', action: call.action });
      this.#settle(call, 'TIMEOUT', new OwnCallError('TIMEOUT', `${call.action} given up: the CPMS sent more than the broker holds while it waits`));
    }
    return true;
  }

  /** Sends the next waiting call when the slot is free: no broker call out, no recent CPMS call unanswered. */
  pump(): void {
    if (this.out || this.queue === undefined || this.#closed) return;
    const { station, cpms } = this.#host;
    const now = Date.now();
    if (cpms.calls.size > 0) {
      const newest = cpms.calls.newestStartedAt();
      if (newest !== undefined && newest > now - CPMS_CALL_PATIENCE_MS) {
        if (this.#waitTimer === undefined) {
          this.#waitTimer = setTimeout(() => {
            this.#waitTimer = undefined;
            this.pump();
          }, newest + CPMS_CALL_PATIENCE_MS - now);
          this.#waitTimer.unref();
        }
        return; // pumped again when the station answers the CPMS, or by the timer
      }
    }
    if (this.#waitTimer !== undefined) {
      clearTimeout(this.#waitTimer);
      this.#waitTimer = undefined;
    }
    const call = this.queue.shift()!;
    if (this.queue.length === 0) this.queue = undefined;
    if (station.ws.readyState !== WebSocket.OPEN) {
      this.#host.event({ kind: 'done', action: call.action, outcome: 'GONE' });
      call.reject(new OwnCallError('GONE', 'The station is no longer connected'));
      this.pump();
      return;
    }
    this.out = call;
    call.pending.startedAt = now;
    call.timer = setTimeout(() => {
      this.#settle(call, 'TIMEOUT', new OwnCallError('TIMEOUT', `The station did not answer ${call.action} within ${call.timeoutMs} ms`));
    }, call.timeoutMs);
    call.timer.unref();
    const bytes = Buffer.from(call.frame);
    station.ws.send(bytes, { binary: false });
    station.framesSent++;
    this.#host.observeOwn('cpms', { kind: 'call', id: call.id, action: call.action }, bytes, call.pending);
  }

  /** The session ended: every call fails with GONE, nothing is held any more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#waitTimer);
    const calls = [...(this.out ? [this.out] : []), ...(this.queue ?? [])];
    this.queue = undefined;
    this.#held = undefined;
    this.#heldBytes = 0;
    this.claims = undefined;
    if (this.out) clearTimeout(this.out.timer);
    this.out = undefined;
    for (const call of calls) {
      this.#host.event({ kind: 'done', action: call.action, outcome: 'GONE' });
      call.reject(new OwnCallError('GONE', `The station's session ended before it answered ${call.action}`));
    }
  }

  /** Registers a station call that the broker answers itself; returns a function that removes it. */
  claim(claim: StationCallClaim): () => void {
    if (this.#closed) return () => {};
    (this.claims ??= []).push(claim);
    return () => {
      if (!this.claims) return;
      const at = this.claims.indexOf(claim);
      if (at !== -1) this.claims.splice(at, 1);
      if (this.claims.length === 0) this.claims = undefined;
    };
  }

  /** Whether the station's call is one a claim takes (the payload is parsed only for claimed actions). */
  claimed(action: string, frame: Buffer): boolean {
    const claims = this.claims!;
    if (!claims.some((c) => c.action === action)) return false;
    let payload: unknown;
    try {
      payload = (JSON.parse(frame.toString()) as unknown[])[3];
    } catch {
      return false;
    }
    return claims.some((c) => c.action === action && c.claim(payload));
  }

  #settle(call: OwnCall, outcome: 'result' | OwnCallFailure, value: unknown): void {
    if (this.out !== call) return;
    clearTimeout(call.timer);
    this.out = undefined;
    if (outcome !== 'result') {
      if (outcome === 'TIMEOUT') {
        const late = (this.#late ??= []);
        late.push(call.id);
        if (late.length > LATE_IDS_LIMIT) late.shift();
      }
      call.reject(value as OwnCallError);
    } else {
      call.resolve(value);
    }
    this.#host.event({ kind: 'done', action: call.action, outcome });
    // The CPMS first: what it sent meanwhile goes out now, in order; the next broker call then waits for its answer.
    const held = this.#held ?? [];
    this.#held = undefined;
    this.#heldBytes = 0;
    for (const { frame, envelope } of held) this.#host.release(frame, envelope);
    this.pump();
  }
}
