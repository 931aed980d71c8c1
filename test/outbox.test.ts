import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallsInFlight } from '../broker/calls.ts';
import { HELD_FRAMES_LIMIT, Outbox } from '../broker/outbox.ts';
import { deliver, forward } from '../broker/route.ts';
import type { Link } from '../broker/session.ts';

/**
 * The slot rules as a property, over links whose sockets only record what they are sent: the routing is pure logic
 * (the real sockets are test/own-calls.test.ts's). No time passes here, so no broker call times out and no CPMS call
 * grows old enough to stop counting.
 */
function rig() {
  const link = (side: 'station' | 'cpms') => {
    const sent: string[] = [];
    return {
      side,
      ws: { readyState: 1, send: (data: Buffer | string) => void sent.push(String(data)) },
      sent,
      calls: new CallsInFlight(),
      framesReceived: 0,
      framesSent: 0,
      lastFrameAt: undefined,
      missedPongs: 0,
      failedWith: undefined,
    } as unknown as Link & { sent: string[] };
  };
  const station = link('station');
  const cpms = link('cpms');
  station.partner = cpms;
  cpms.partner = station;
  let givenUp = 0;
  const session = {} as { outbox: Outbox };
  session.outbox = new Outbox({
    station,
    cpms,
    observeOwn() {},
    release: (frame, envelope) => deliver(cpms, station, frame, envelope, {}, Date.now()),
    event: (event) => void (event.kind === 'given_up' && givenUp++),
  });
  station.session = session as never;
  cpms.session = session as never;
  return { station, cpms, outbox: session.outbox, givenUp: () => givenUp };
}

type Step = { kind: 'cpmsCall' } | { kind: 'brokerCall' } | { kind: 'stationAnswers'; error: boolean } | { kind: 'stationCalls' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'cpmsCall' } as const) },
  { weight: 2, arbitrary: fc.constant({ kind: 'brokerCall' } as const) },
  { weight: 4, arbitrary: fc.boolean().map((error) => ({ kind: 'stationAnswers', error }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stationCalls' } as const) },
);

describe("the broker's call slot", () => {
  it("delivers the CPMS's calls in order and once each, keeps every broker frame from the CPMS, and never has both out unless it gave up", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const { station, cpms, outbox, givenUp } = rig();
        const outstanding: string[] = []; // calls the station received and has not answered, oldest first
        let cpmsSent = 0;
        let stationSeen = 0;
        const ownAnswered: string[] = [];
        const results: unknown[] = [];

        /** Reads what reached the station since last time, checking the slot rule for each call. */
        const atStation = () => {
          for (; stationSeen < station.sent.length; stationSeen++) {
            const [type, id] = JSON.parse(station.sent[stationSeen]!) as [number, string];
            if (type !== 2) continue;
            const own = !id.startsWith('cpms-');
            // A call reaches the station while another is unanswered there only once the broker gave its call up.
            if (outstanding.length > 0 && givenUp() === 0 && (own || outstanding.some((o) => !o.startsWith('cpms-')))) return false;
            outstanding.push(id);
          }
          return true;
        };

        for (const s of steps) {
          if (s.kind === 'cpmsCall') {
            forward(cpms, station, Buffer.from(JSON.stringify([2, `cpms-${cpmsSent++}`, 'ClearCache', {}])), {});
          } else if (s.kind === 'brokerCall') {
            outbox.call('GetConfiguration', {}, { timeoutMs: 1e9 }).then((r) => results.push(r), (e: Error) => results.push(e));
          } else if (s.kind === 'stationCalls') {
            forward(station, cpms, Buffer.from(JSON.stringify([2, `station-${stationSeen}`, 'Heartbeat', {}])), {});
          } else {
            const id = outstanding.shift();
            if (id === undefined) continue;
            if (!id.startsWith('cpms-')) ownAnswered.push(id);
            const answer = s.error ? [4, id, 'InternalError', '', {}] : [3, id, {}];
            forward(station, cpms, Buffer.from(JSON.stringify(answer)), {});
          }
          if (!atStation()) return false;
        }
        // The station answers everything left: what was held all arrives.
        for (let i = 0; i < 1000 && outstanding.length > 0; i++) {
          const id = outstanding.shift()!;
          forward(station, cpms, Buffer.from(JSON.stringify([3, id, {}])), {});
          if (!atStation()) return false;
        }
        const delivered = station.sent.map((f) => JSON.parse(f) as unknown[]).filter((f) => String(f[1]).startsWith('cpms-'));
        expect(delivered.map((f) => f[1])).toEqual(Array.from({ length: cpmsSent }, (_, i) => `cpms-${i}`));
        const atCpms = cpms.sent.map((f) => String((JSON.parse(f) as unknown[])[1]));
        for (const id of ownAnswered) expect(atCpms).not.toContain(id);
        expect(atCpms.every((id) => id.startsWith('cpms-') || id.startsWith('station-'))).toBe(true);
        if (givenUp() > 0) expect(cpmsSent).toBeGreaterThan(HELD_FRAMES_LIMIT);
        outbox.close();
        return true;
      }),
      { numRuns: 200 },
    );
  });
});
