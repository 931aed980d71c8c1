import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeLimiter, type Release } from '../broker/handshakes.ts';
import { Refusal } from '../broker/refusals.ts';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the CPMS handshake limiter', () => {
  it('grants slots first come first served, never more than its concurrency, and queues at most its limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.oneof(fc.constant('arrive' as const), fc.constant('release' as const), fc.constant('hang up' as const)), { maxLength: 40 }),
        async (concurrency, queueLimit, steps) => {
          const limiter = new HandshakeLimiter(concurrency, queueLimit);
          const held: Release[] = [];
          const waiting: { n: number; abort: AbortController }[] = [];
          const granted: number[] = [];
          const expectedOrder: number[] = [];
          let arrivals = 0;
          for (const step of steps) {
            if (step === 'arrive') {
              const n = arrivals++;
              const abort = new AbortController();
              const full = limiter.active === concurrency && limiter.queued === queueLimit;
              const free = limiter.active < concurrency;
              try {
                const slot = limiter.acquire(abort.signal);
                expect(full).toBe(false);
                if (free) expectedOrder.push(n);
                else waiting.push({ n, abort });
                slot.then(
                  (release) => {
                    granted.push(n);
                    held.push(release);
                  },
                  () => {},
                );
              } catch (error) {
                expect(full).toBe(true);
                expect((error as Refusal).code).toBe('BUSY');
              }
            } else if (step === 'release' && held.length) {
              const release = held.shift()!;
              release();
              release(); // twice: the second does nothing
              const next = waiting.shift();
              if (next) expectedOrder.push(next.n);
            } else if (step === 'hang up' && waiting.length) {
              const quitter = waiting.splice(Math.floor(waiting.length / 2), 1)[0]!;
              quitter.abort.abort();
            }
            await settle();
            expect(limiter.active).toBeLessThanOrEqual(concurrency);
            expect(limiter.queued).toBeLessThanOrEqual(queueLimit);
            expect(limiter.active).toBe(held.length);
            expect(limiter.queued).toBe(waiting.length);
          }
          expect(granted).toEqual(expectedOrder);
        },
      ),
    );
  });

  it('tells a station refused for a full line to come back in 5 to 15 seconds', () => {
    const limiter = new HandshakeLimiter(1, 0);
    void limiter.acquire(new AbortController().signal);
    const seconds = new Set<number>();
    for (let i = 0; i < 200; i++) {
      try {
        void limiter.acquire(new AbortController().signal);
      } catch (error) {
        expect(error).toBeInstanceOf(Refusal);
        expect((error as Refusal).status).toBe(503);
        seconds.add(Number((error as Refusal).headers['Retry-After']));
      }
    }
    expect(Math.min(...seconds)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...seconds)).toBeLessThanOrEqual(15);
    expect(seconds.size).toBeGreaterThan(1);
  });

  it('refuses a station that is already gone without taking a slot', async () => {
    const limiter = new HandshakeLimiter(1, 1);
    const gone = new AbortController();
    gone.abort();
    await expect(limiter.acquire(gone.signal)).rejects.toBeInstanceOf(Refusal);
    expect(limiter.active).toBe(0);
  });
});
