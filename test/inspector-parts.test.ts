import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readEnvelope } from '../broker/frame.ts';
import { stationKey, type SessionFacts } from '../broker/index.ts';
import { createInspector, FRAME_OVERHEAD_BYTES, STATION_OVERHEAD_BYTES, type InspectorEvent } from '../server/inspector/index.ts';
import { MASK, maskBadge, maskFrame } from '../server/inspector/mask.ts';
import { Ring } from '../server/inspector/ring.ts';

/** Badges that start with a letter nothing else in these frames contains, so a leak cannot be a coincidence. */
const badge = fc.stringMatching(/^B[A-Z0-9]{7,19}$/);
/** Any string at all, for badges that must round-trip through JSON. */
const anyBadge = fc.string({ minLength: 1, maxLength: 36, unit: 'binary' });

const call = (id: string, action: string, payload: unknown) => JSON.stringify([2, id, action, payload]);
const result = (id: string, payload: unknown) => JSON.stringify([3, id, payload]);
/** A session of tenant 1 as the route hooks see it. */
const sessionOf = (identity: string): SessionFacts => ({ tenantId: 1, tenantSlug: 't', identity, subprotocol: 'ocpp1.6', key: stationKey(1, identity) });

describe('masking a badge id', () => {
  it('keeps the first 4 characters of an id of 8 or more, nothing of a shorter one, and never tells the length', () => {
    expect(maskBadge('04A1B2C3D4E5')).toBe('04A1****');
    expect(maskBadge('04A1B2C3')).toBe('04A1****');
    expect(maskBadge('04A1B2C')).toBe(MASK);
    expect(maskBadge('')).toBe(MASK);
  });

  it('shows at most half of any id, as a prefix, followed by the fixed mask', () => {
    fc.assert(
      fc.property(anyBadge, (id) => {
        const masked = maskBadge(id);
        expect(masked.endsWith(MASK)).toBe(true);
        const shown = masked.slice(0, -MASK.length);
        expect(id.startsWith(shown)).toBe(true);
        expect(Array.from(shown).length * 2).toBeLessThanOrEqual(Array.from(id).length);
      }),
    );
  });
});

describe('masking a frame', () => {
  it('masks 1.6 idTag and parentIdTag and 2.0.1 idToken.idToken in calls and answers, leaving the rest as it was', () => {
    fc.assert(
      fc.property(anyBadge, anyBadge, fc.jsonValue(), (own, parent, extra) => {
        const frames = [
          [call('1', 'Authorize', { idTag: own, extra }), [2, '1', 'Authorize', { idTag: maskBadge(own), extra }]],
          [
            call('2', 'StartTransaction', { connectorId: 1, idTag: own, meterStart: 0, timestamp: '2026-01-01T00:00:00Z' }),
            [2, '2', 'StartTransaction', { connectorId: 1, idTag: maskBadge(own), meterStart: 0, timestamp: '2026-01-01T00:00:00Z' }],
          ],
          [
            result('2', { transactionId: 7, idTagInfo: { status: 'Accepted', parentIdTag: parent } }),
            [3, '2', { transactionId: 7, idTagInfo: { status: 'Accepted', parentIdTag: maskBadge(parent) } }],
          ],
          [
            call('3', 'TransactionEvent', { eventType: 'Started', idToken: { idToken: own, type: 'ISO14443' }, extra }),
            [2, '3', 'TransactionEvent', { eventType: 'Started', idToken: { idToken: maskBadge(own), type: 'ISO14443' }, extra }],
          ],
          [
            result('4', { idTokenInfo: { status: 'Accepted', groupIdToken: { idToken: parent, type: 'Central' } } }),
            [3, '4', { idTokenInfo: { status: 'Accepted', groupIdToken: { idToken: maskBadge(parent), type: 'Central' } } }],
          ],
        ] as const;
        for (const [text, expected] of frames) {
          const masked = maskFrame(text);
          expect(masked.masked).toBe(true);
          expect(JSON.parse(masked.text)).toEqual(JSON.parse(JSON.stringify(expected))); // as JSON has it (-0 is 0)
          expect(maskFrame(text, { revealBadges: true })).toEqual({ text, masked: false });
        }
      }),
    );
  });

  it('leaves a frame without badges or secrets byte for byte as it was', () => {
    const text = '[2, "19223201", "BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "SingleSocketCharger"}]';
    expect(maskFrame(text)).toEqual({ text, masked: false });
  });

  /** Every secret below starts with "Zq" and a digit; nothing else does. */
  it('always masks passwords and the 1.6 AuthorizationKey and 2.0.1 BasicAuthPassword, even when badges are revealed', () => {
    const frames = [
      call('1', 'ChangeConfiguration', { key: 'AuthorizationKey', value: 'Zq1-0123456789abcdef' }),
      call('2', 'SetVariables', {
        setVariableData: [{ attributeValue: 'Zq2-a very secret password', component: { name: 'SecurityCtrlr' }, variable: { name: 'BasicAuthPassword' } }],
      }),
      call('3', 'SetNetworkProfile', {
        configurationSlot: 1,
        connectionData: { apn: { apn: 'internet', apnPassword: 'Zq3-apn-secret', simPin: 1234 }, vpn: { server: 'v', user: 'u', password: 'Zq4-vpn-secret', key: 'Zq5-vpn-key', type: 'IPSec' } },
      }),
      call('4', 'NotifyReport', {
        requestId: 1,
        generatedAt: '2026-01-01T00:00:00Z',
        seqNo: 0,
        reportData: [{ component: { name: 'SecurityCtrlr' }, variable: { name: 'BasicAuthPassword' }, variableAttribute: [{ value: 'Zq6-reported-secret' }] }],
      }),
    ];
    for (const text of frames) {
      for (const revealBadges of [false, true]) {
        const shown = maskFrame(text, { revealBadges }).text;
        expect(shown).not.toContain('Zq');
        // what is cut short (the inspector's limit) or is not JSON is masked by pattern, to the same effect
        for (let end = 1; end <= text.length; end++) {
          const cut = maskFrame(text.slice(0, end), { revealBadges }).text;
          expect(cut).not.toMatch(/Zq\d/);
        }
      }
    }
  });

  it('shows no more of a badge than its first 4 characters when the frame is cut anywhere or is not JSON', () => {
    fc.assert(
      fc.property(badge, badge, fc.nat(), (own, parent, at) => {
        const texts = [
          call('1a', 'StartTransaction', { connectorId: 1, idTag: own, meterStart: 10, timestamp: '2026-01-01T00:00:00.000Z' }),
          result('1a', { transactionId: 4711, idTagInfo: { status: 'Accepted', parentIdTag: parent } }),
          call('2b', 'TransactionEvent', { eventType: 'Started', seqNo: 0, idToken: { idToken: own, type: 'ISO14443' }, groupIdToken: { idToken: parent, type: 'Central' } }),
        ];
        for (const text of texts) {
          const cut = text.slice(0, (at % text.length) + 1);
          const shown = maskFrame(cut).text;
          expect(shown).not.toContain(own.slice(0, 5));
          expect(shown).not.toContain(parent.slice(0, 5));
        }
      }),
    );
  });
});

describe('a ring of frames', () => {
  it('holds the last `capacity` items in order with the sum of their costs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.nat({ max: 1000 }), { maxLength: 100 }), (capacity, costs) => {
        const ring = new Ring<{ cost: number; n: number }>(capacity);
        costs.forEach((cost, n) => {
          const dropped = ring.push({ cost, n });
          expect(dropped?.n).toBe(n >= capacity ? n - capacity : undefined);
          expect(ring.size).toBeLessThanOrEqual(capacity);
        });
        const kept = costs.map((cost, n) => ({ cost, n })).slice(-capacity);
        expect(ring.toArray()).toEqual(kept);
        expect(ring.cost).toBe(kept.reduce((sum, item) => sum + item.cost, 0));
      }),
    );
  });

  it('keeps its order when items are shifted off as it grows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.oneof(fc.nat({ max: 1000 }), fc.constant('shift' as const)), { maxLength: 100 }), (capacity, steps) => {
        const ring = new Ring<{ cost: number; n: number }>(capacity);
        let kept: { cost: number; n: number }[] = [];
        steps.forEach((step, n) => {
          if (step === 'shift') {
            expect(ring.shift()).toEqual(kept.shift());
          } else {
            ring.push({ cost: step, n });
            kept = [...kept, { cost: step, n }].slice(-capacity);
          }
          expect(ring.toArray()).toEqual(kept);
          expect(ring.cost).toBe(kept.reduce((sum, item) => sum + item.cost, 0));
        });
      }),
    );
  });
});

/** A frame of `size` bytes: a call of `action` with padding. */
function frameOf(id: number, size: number, action = 'DataTransfer'): Buffer {
  const head = JSON.stringify([2, String(id), action, { data: '' }]);
  const pad = Math.max(0, size - head.length);
  return Buffer.from(JSON.stringify([2, String(id), action, { data: 'x'.repeat(pad) }]));
}

describe('the inspector', () => {
  it('keeps at most so many frames per station and so many bytes in all, evicting the least recently active stations first', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.record({ station: fc.integer({ min: 0, max: 5 }), size: fc.integer({ min: 40, max: 3000 }) }), { minLength: 1, maxLength: 150 }),
        (framesPerStation, traffic) => {
          const limits = { framesPerStation, maxBytes: 24_000, maxFrameBytes: 1_000 };
          const inspector = createInspector(limits);
          const sessions = Array.from({ length: 6 }, (_, station) => sessionOf(`CP${station}`));
          /** Stations, least recently active first. */
          const activity: number[] = [];
          traffic.forEach(({ station, size }, n) => {
            const frame = frameOf(n, size);
            inspector.hooks.observe(sessions[station]!, 'station', readEnvelope(frame), frame, undefined);
            if (activity.includes(station)) activity.splice(activity.indexOf(station), 1);
            activity.push(station);

            const held = activity.map((s) => inspector.frames(1, `CP${s}`));
            const stats = inspector.stats();
            expect(stats.bytes).toBeLessThanOrEqual(limits.maxBytes);
            const counted = held.flat().reduce((sum, f) => sum + Math.min(f.size, limits.maxFrameBytes) + FRAME_OVERHEAD_BYTES, 0);
            expect(stats.bytes).toBe(counted + stats.stations * STATION_OVERHEAD_BYTES);
            expect(stats.frames).toBe(held.flat().length);
            for (const frames of held) expect(frames.length).toBeLessThanOrEqual(framesPerStation);
            // the frame just recorded is always held, cut to the limit
            const newest = held.at(-1)!.at(-1)!;
            expect([newest.id, newest.size, newest.truncated]).toEqual([String(n), frame.length, frame.length > limits.maxFrameBytes]);
            // a station emptied for the total has only less recently active stations empty before it
            const firstHolding = held.findIndex((frames) => frames.length > 0);
            expect(held.slice(firstHolding).every((frames) => frames.length > 0)).toBe(true);
          });
        },
      ),
    );
  });

  it('gives a slow stream the frames it has room for, then one marker saying how many were skipped', async () => {
    const inspector = createInspector({ streamQueue: 3 });
    const abort = new AbortController();
    const stream = inspector.stream(1, 'CP1', { signal: abort.signal });
    const first = stream.next(); // the stream is open and waiting
    for (let n = 1; n <= 10; n++) {
      const frame = frameOf(n, 50, 'Heartbeat');
      inspector.hooks.observe(sessionOf('CP1'), 'station', readEnvelope(frame), frame, undefined);
    }
    const events: InspectorEvent[] = [(await first).value];
    for (let i = 0; i < 3; i++) events.push((await stream.next()).value);
    expect(events.map((e) => (e.kind === 'frame' ? e.frame.id : `skipped ${e.count}`))).toEqual(['1', '2', '3', 'skipped 7']);

    const frame = frameOf(11, 50, 'Heartbeat');
    inspector.hooks.observe(sessionOf('CP1'), 'station', readEnvelope(frame), frame, undefined);
    const next = (await stream.next()).value;
    expect(next.kind === 'frame' && next.frame.id).toBe('11');
    expect(inspector.stats().streams).toBe(1);
    abort.abort();
    expect((await stream.next()).done).toBe(true);
    expect(inspector.stats().streams).toBe(0);
  });

  it('refuses a stream beyond the limit of open streams', async () => {
    const inspector = createInspector({ maxStreams: 2 });
    const abort = new AbortController();
    const open = [inspector.stream(1, 'A', { signal: abort.signal }), inspector.stream(1, 'B', { signal: abort.signal })];
    const waiting = open.map((s) => s.next());
    await new Promise((resolve) => setImmediate(resolve));
    await expect(inspector.stream(1, 'C').next()).rejects.toThrow(/At most 2 inspector streams/);
    abort.abort();
    await Promise.all(waiting);
    expect(inspector.stats().streams).toBe(0);
  });

  it('does not hold a whole socket chunk for a small frame read from it', () => {
    const inspector = createInspector();
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const text = call('1', 'Heartbeat', {});
    chunk.write(text, 100);
    const frame = chunk.subarray(100, 100 + text.length);
    inspector.hooks.observe(sessionOf('CP1'), 'station', readEnvelope(frame), frame, undefined);
    chunk.fill(0x41); // the chunk is not what the inspector holds
    expect(inspector.frames(1, 'CP1')[0]!.text).toBe(text);
    expect(inspector.stats().bytes).toBe(text.length + FRAME_OVERHEAD_BYTES + STATION_OVERHEAD_BYTES);
  });

  it('gives back any UTF-8 text as received, and counts its bytes, not its characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (vendor) => {
        const inspector = createInspector();
        const text = call('1', 'DataTransfer', { vendorId: vendor });
        const frame = Buffer.from(text);
        inspector.hooks.observe(sessionOf('CP1'), 'station', readEnvelope(frame), frame, undefined);
        expect(inspector.frames(1, 'CP1')[0]!.text).toBe(text);
        expect(inspector.stats().bytes).toBe(frame.length + FRAME_OVERHEAD_BYTES + STATION_OVERHEAD_BYTES);
      }),
    );
  });
});
