/** A call that one side sent and the other has not answered yet. */
export interface PendingCall {
  action: string;
  startedAt: number;
  /**
   * What a route hook attached to the call when it saw it go through (server/observers: the call frame whose
   * answer it waits for), handed back with the answer. The broker itself never reads it.
   */
  context?: unknown;
}

/**
 * The calls in flight from one sender on one connection: message id → action, start time and the context a hook
 * attached. This is the one table of calls in flight: observers keep none of their own.
 * A CALLRESULT does not name its action, so this is how an answer is tied to its call (OCPP-J §4).
 *
 * OCPP allows one outstanding call per sender, so a handful of entries is the norm; the bound only
 * protects the broker from a peer that never answers. Unanswered calls are swept by age.
 *
 * The Map exists only while a call is in flight: an idle link, the common case, holds none (about 250 bytes each).
 */
export class CallsInFlight {
  #calls: Map<string, PendingCall> | undefined;
  readonly #limit: number;

  constructor(limit = 64) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#calls?.size ?? 0;
  }

  /** Records a call; returns its entry, to which a hook may attach a context. */
  start(id: string, action: string, now: number): PendingCall {
    const call: PendingCall = { action, startedAt: now };
    const calls = (this.#calls ??= new Map());
    calls.delete(id);
    calls.set(id, call);
    if (calls.size > this.#limit) {
      calls.delete(calls.keys().next().value!);
    }
    return call;
  }

  /** Removes and returns the call that `id` answers, if it is still known. */
  finish(id: string): PendingCall | undefined {
    const call = this.#calls?.get(id);
    if (call) this.#forget(id);
    return call;
  }

  /** When the most recent call still in flight started (the broker's own calls wait for it: broker/outbox.ts). */
  newestStartedAt(): number | undefined {
    let newest: number | undefined;
    for (const call of this.#calls?.values() ?? []) newest = call.startedAt; // insertion order is start order
    return newest;
  }

  /** Forgets calls started before `before` (they were never answered). */
  sweep(before: number): void {
    if (!this.#calls) return;
    for (const [id, call] of this.#calls) {
      if (call.startedAt >= before) break; // insertion order is start order
      this.#forget(id);
    }
  }

  #forget(id: string): void {
    this.#calls!.delete(id);
    if (this.#calls!.size === 0) this.#calls = undefined;
  }
}
