import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Busy, createBoundedRunner } from '../server/auth/bounded.ts';
import { AttemptThrottle, type ThrottleRule, type ThrottleSlot } from '../broker/throttle.ts';

const WINDOW = 1_000;
const rule = (key: string, limit = 3, windowMs = WINDOW): ThrottleRule => ({ key, limit, windowMs });

/** take (with rules over a few keys), succeed (give a granted slot back) or wait, in any order. */
const operation = fc.oneof(
  fc.record({ op: fc.constant('take' as const), keys: fc.uniqueArray(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }) }),
  fc.record({ op: fc.constant('succeed' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 600 }) }),
);

describe('the attempt throttle', () => {
  it('never grants more than the limit per key in any window, whatever the interleaving of takes and successes', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 200 }), fc.integer({ min: 1, max: 4 }), (operations, limit) => {
        let now = 0;
        const throttle = new AttemptThrottle({ now: () => now });
        /** Every granted attempt: its keys, when, and whether it was given back. */
        const granted: { keys: string[]; at: number; slot: ThrottleSlot; released: boolean }[] = [];
        const held = (key: string, from: number, to: number) =>
          granted.filter((g) => !g.released && g.keys.includes(key) && g.at > from && g.at <= to).length;

        for (const operation of operations) {
          if (operation.op === 'wait') now += operation.ms;
          else if (operation.op === 'succeed') {
            const open = granted.filter((g) => !g.released);
            const chosen = open[operation.pick % Math.max(open.length, 1)];
            if (chosen) {
              throttle.release(chosen.slot);
              chosen.released = true;
            }
          } else {
            const result = throttle.take(operation.keys.map((key) => rule(key, limit)));
            const full = operation.keys.filter((key) => held(key, now - WINDOW, now) >= limit);
            // Refused exactly when a key is full, and then none of its slots is taken.
            expect(result.ok).toBe(full.length === 0);
            if (result.ok) granted.push({ keys: operation.keys, at: now, slot: result.slot, released: false });
            else expect(result.retryAfterMs).toBeGreaterThan(0);
          }
        }
        // Over the whole history: in no window does a key hold more than `limit` slots.
        for (const g of granted) for (const key of g.keys) expect(held(key, g.at - WINDOW, g.at)).toBeLessThanOrEqual(limit);
      }),
    );
  });

  it('grants again once the time it gave has passed, and not a millisecond before', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 30 }), (gaps) => {
        let now = 0;
        const throttle = new AttemptThrottle({ now: () => now });
        for (const gap of gaps) {
          now += gap;
          const result = throttle.take([rule('k')]);
          if (result.ok) continue;
          const wait = result.retryAfterMs;
          now += wait - 1;
          expect(throttle.take([rule('k')]).ok).toBe(false);
          now += 1;
          expect(throttle.take([rule('k')]).ok).toBe(true);
        }
      }),
    );
  });

  it('takes a slot under all its rules or none', () => {
    const throttle = new AttemptThrottle({ now: () => 0 });
    expect(throttle.take([rule('full', 1)]).ok).toBe(true);
    expect(throttle.take([rule('free', 1), rule('full', 1)]).ok).toBe(false);
    expect(throttle.take([rule('free', 1)]).ok).toBe(true);
  });

  it('keeps at most maxKeys keys, evicting those used least recently', () => {
    let now = 0;
    const throttle = new AttemptThrottle({ maxKeys: 100, now: () => now });
    throttle.take([rule('attacker', 1)]);
    for (let i = 0; i < 10_000; i++) {
      now++;
      throttle.take([rule(`flood-${i}`, 1)]);
      if (i % 50 === 0) throttle.take([rule('attacker', 1)]); // refused, but touched: it stays
    }
    expect(throttle.size).toBe(100);
    expect(throttle.take([rule('attacker', 1, 1_000_000)]).ok).toBe(false);
  });
});

describe('the bounded runner', () => {
  it('runs at most `concurrency` tasks at once, queues `queue` more in order, and refuses the rest at once', async () => {
    const runner = createBoundedRunner({ concurrency: 2, queue: 3, what: 'tasks' });
    const gates: (() => void)[] = [];
    const started: number[] = [];
    const task = (i: number) => () => {
      started.push(i);
      return new Promise<number>((resolve) => gates.push(() => resolve(i)));
    };
    const results = Array.from({ length: 8 }, (_, i) => runner.run(task(i)).catch((error: unknown) => error));
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([runner.running, runner.queued]).toEqual([2, 3]);
    for (const refused of results.slice(5)) expect(await refused).toBeInstanceOf(Busy);
    while (gates.length) {
      gates.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(results.slice(0, 5))).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([runner.running, runner.queued]).toEqual([0, 0]);
  });

  it('frees the slot of a task that fails', async () => {
    const runner = createBoundedRunner({ concurrency: 1, queue: 0, what: 'tasks' });
    await expect(runner.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await runner.run(() => Promise.resolve('next'))).toBe('next');
  });
});
