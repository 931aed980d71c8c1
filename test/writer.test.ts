import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { count } from 'drizzle-orm';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Store } from '../db/index.ts';
import { samplesOf } from '../db/reports.ts';
import { pruneLimitChanges, pruneSamples } from '../db/retention.ts';
import { identifications, limitChanges, meterSamples, sites, tenants, transactions } from '../db/schema.ts';
import type { Captured } from '../server/observers/read.ts';
import { createWriter, OVERHEAD_BYTES, type DropReason, type WriterEvents } from '../server/observers/writer.ts';
import { paths } from '../server/paths.ts';

let dir: string;
let store: Store;
let file: string;
let tenantId: number;
let logs: Record<string, unknown>[];
const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });

beforeEach(() => {
  logs = [];
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-writer-'));
  file = path.join(dir, 'broker.db');
  store = openDatabase(file, paths.migrations);
  tenantId = store.db.insert(tenants).values({ name: 'A', slug: 'a', cpmsUrl: 'ws://cpms' }).returning().get().id;
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const DAY_MS = 24 * 60 * 60_000;
const T0 = Date.UTC(2026, 10, 24);

/** A station's call as the forwarding thread captures it. */
function call(action: string, payload: unknown, extra: Partial<Captured> = {}): Captured {
  return { tenantId, identity: 'CP', version: '1.6', action, at: Date.now(), call: JSON.stringify([2, 'id', action, payload]), ...extra };
}

/** 1.6 MeterValues with four samples, the n-th second after `from`. */
function meterValues(n: number, options: { from?: number; transactionId?: number; identity?: string } = {}): Captured {
  const timestamp = new Date((options.from ?? T0) + n * 1000).toISOString();
  return call(
    'MeterValues',
    {
      connectorId: 1,
      transactionId: options.transactionId,
      meterValue: [
        {
          timestamp,
          sampledValue: [
            { value: String(1000 + n), context: 'Sample.Periodic' },
            { value: '7.4', unit: 'kW', measurand: 'Power.Active.Import' },
            { value: '16.1', unit: 'A', measurand: 'Current.Import', phase: 'L1' },
            { value: '231', unit: 'V', measurand: 'Voltage', phase: 'L1-N' },
          ],
        },
      ],
    },
    { identity: options.identity ?? 'CP' },
  );
}

/** The writer's events, summed. */
function tally() {
  const t = { written: 0, samples: 0, dropped: { queue_full: 0, write_failed: 0 } as Record<DropReason, number>, skipped: {} as Record<string, number> };
  const events: WriterEvents = {
    written(frames, samples) {
      t.written += frames;
      t.samples += samples;
    },
    dropped(reason, frames) {
      t.dropped[reason] += frames;
    },
    skipped(action, reason, frames) {
      t.skipped[`${action}/${reason}`] = (t.skipped[`${action}/${reason}`] ?? 0) + frames;
    },
  };
  return { t, events };
}

const rows = (table: typeof meterSamples | typeof identifications) => store.db.select({ n: count() }).from(table).get()!.n;
const sampleCount = () => rows(meterSamples);

describe('the observation writer', () => {
  it('parses and writes nothing on the forwarding path, and everything waiting when it closes', async () => {
    const writer = createWriter(file, log, { intervalMs: 60_000 });
    writer.push(meterValues(0, { transactionId: 7 }));
    expect(writer.pending()).toBe(1);
    expect(sampleCount()).toBe(0);
    await writer.close();
    expect(writer.pending()).toBe(0);
    expect(sampleCount()).toBe(4);
  });

  it('loses only the frame that cannot be written, not its batch', async () => {
    const { t, events } = tally();
    const writer = createWriter(file, log, { intervalMs: 60_000, events });
    const start = (tenant: number, id: number) =>
      call(
        'StartTransaction',
        { connectorId: 1, idTag: 'B', meterStart: 0, timestamp: new Date(T0).toISOString() },
        { tenantId: tenant, result: JSON.stringify([3, 'id', { transactionId: id, idTagInfo: { status: 'Accepted' } }]) },
      );
    writer.push(start(tenantId, 1));
    writer.push(start(999, 2));
    writer.push(meterValues(0, { transactionId: 1 }));
    await writer.close();
    const [tx] = store.db.select().from(transactions).all();
    expect(tx).toMatchObject({ transactionId: '1', state: 'active' });
    expect(samplesOf(store.db, tx!.id)).toHaveLength(4);
    expect(logs.filter((l) => l.msg === 'observation not written')).toEqual([
      expect.objectContaining({ kind: 'started16', tenantId: 999, error: expect.stringMatching(/FOREIGN KEY/) }),
    ]);
    expect(t).toMatchObject({ written: 2, samples: 4, dropped: { queue_full: 0, write_failed: 1 } });
  });

  it('sheds frames past its bound, and every frame pushed is written, dropped or skipped: the counts add up exactly', async () => {
    const maxBytes = 256 * 1024;
    const { t, events } = tally();
    const writer = createWriter(file, log, { maxBytes, events, intervalMs: 50 });
    const heapBefore = process.memoryUsage().heapUsed;
    const padding = 'x'.repeat(3000); // ~3 KB frames: 100,000 of them are ~300 MB, over a thousand times the bound
    let pushed = 0;
    let accepted = 0;
    let mostPending = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 2000; i++) {
        const n = pushed++;
        const frame = n % 1000 === 999 ? call('MeterValues', { connectorId: 'one' }) : meterValues(n);
        frame.call = `${frame.call.slice(0, -1)},"${padding}"]`; // a fifth element: ignored by the reader
        if (writer.push(frame)) accepted++;
        mostPending = Math.max(mostPending, writer.pendingBytes());
      }
      await new Promise((resolve) => setImmediate(resolve)); // the writer's answers come in between rounds
    }
    expect(mostPending).toBeLessThanOrEqual(maxBytes);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(150 * 1024 * 1024);
    await writer.close();

    const skipped = Object.values(t.skipped).reduce((a, b) => a + b, 0);
    expect(t.dropped.queue_full).toBeGreaterThan(0);
    expect(t.dropped.queue_full).toBe(pushed - accepted);
    expect(t.written + skipped + t.dropped.write_failed).toBe(accepted);
    expect(t.written + skipped + t.dropped.queue_full + t.dropped.write_failed).toBe(pushed);
    expect(t.samples).toBe(t.written * 4);
    expect(sampleCount()).toBe(t.samples);
    const warnings = logs.filter((l) => l.event === 'observations.shed');
    expect(warnings).toHaveLength(1); // at most once a minute
    expect(warnings[0]).toMatchObject({ level: 40, maxBytes });
  });

  it('counts payloads that do not fit by action and reason', async () => {
    const { t, events } = tally();
    const writer = createWriter(file, log, { events });
    writer.push({ ...meterValues(0), call: '[2, "id", "MeterValues", {"connectorId": 1,' }); // cut short
    writer.push(call('MeterValues', { connectorId: 1, meterValue: [{ timestamp: 'yesterday', sampledValue: [] }] }));
    writer.push(call('StatusNotification', { connectorId: 1, status: 'Available' })); // no errorCode
    writer.push(call('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' }));
    await writer.close();
    expect(t.skipped).toEqual({ 'MeterValues/invalid_json': 1, 'MeterValues/schema_mismatch': 1, 'StatusNotification/schema_mismatch': 1 });
    expect(t.written).toBe(1);
  });

  it('starts a worker that died halfway through a batch again, and loses nothing it accepted', async () => {
    const { t, events } = tally();
    const writer = createWriter(file, log, { events, maxBatch: 500, intervalMs: 60_000, exitInBatch: 2 });
    for (let n = 0; n < 2000; n++) {
      writer.push(n % 4 === 0 ? call('Authorize', { idTag: `BADGE${n}` }) : meterValues(n));
    }
    await writer.close();
    expect(logs.filter((l) => l.event === 'writer.restarting')).toHaveLength(1);
    expect(t).toMatchObject({ written: 2000, samples: 1500 * 4, dropped: { queue_full: 0, write_failed: 0 } });
    expect(sampleCount()).toBe(1500 * 4);
    // The batch it died in was rolled back, then written again: no identification is doubled.
    expect(rows(identifications)).toBe(500);
  });

  it('writes a frame applied twice once: a batch retried after its worker died between its commit and its answer doubles nothing', async () => {
    const writer = createWriter(file, log);
    const authorize = call('Authorize', { idTag: 'BADGE1' });
    writer.push(authorize);
    await writer.flushed();
    writer.push({ ...authorize });
    writer.push(call('Authorize', { idTag: 'BADGE1' }, { at: authorize.at + 1 })); // presented again: a row of its own
    await writer.close();
    expect(rows(identifications)).toBe(2);
  });

  it('migrates a database whose retried batches wrote identifications twice: the first of each stays', () => {
    store.close();
    fs.rmSync(file);
    // The migrations up to the one before identifications_once, in a folder of their own.
    const older = path.join(dir, 'older-migrations');
    fs.cpSync(paths.migrations, older, { recursive: true });
    const journalFile = path.join(older, 'meta', '_journal.json');
    const journal = JSON.parse(fs.readFileSync(journalFile, 'utf8')) as { entries: { tag: string }[] };
    const at = journal.entries.findIndex((e) => e.tag === '0009_identifications_once');
    journal.entries = journal.entries.slice(0, at);
    fs.writeFileSync(journalFile, JSON.stringify(journal));
    const before = openDatabase(file, older);
    const tenant = before.db.insert(tenants).values({ name: 'A', slug: 'a', cpmsUrl: 'ws://cpms' }).returning().get().id;
    const row = { tenantId: tenant, identity: 'CP', at: new Date(T0), action: 'Authorize', badgeId: 'B1' };
    before.db.insert(identifications).values([row, row, { ...row, badgeId: 'B2' }, row]).run();
    before.close();

    store = openDatabase(file, paths.migrations);
    expect(store.db.select({ id: identifications.id, badgeId: identifications.badgeId }).from(identifications).all()).toEqual([
      { id: 1, badgeId: 'B1' },
      { id: 3, badgeId: 'B2' },
    ]);
  });

  it('keeps within its bound while a frame costs its text and a fixed overhead', () => {
    const writer = createWriter(file, log, { maxBytes: 64 * 1024 });
    const frame = meterValues(0);
    expect(writer.push(frame)).toBe(true);
    expect(writer.pendingBytes()).toBe(frame.call.length + frame.identity.length + OVERHEAD_BYTES);
    return writer.close();
  });
});

describe('retention', () => {
  it('deletes samples older than the limit and keeps the rest', async () => {
    const writer = createWriter(file, log);
    writer.push(meterValues(0, { from: Date.now() - 401 * DAY_MS }));
    writer.push(meterValues(0, { from: Date.now() - 399 * DAY_MS }));
    await writer.close();
    expect(pruneSamples(store.db, new Date(Date.now() - 400 * DAY_MS))).toBe(4);
    expect(sampleCount()).toBe(4);
  });

  it('deletes in steps of at most the limit exactly the samples older than the limit, of every tenant and station', () => {
    const otherTenant = store.db.insert(tenants).values({ name: 'B', slug: 'b', cpmsUrl: 'ws://cpms' }).returning().get().id;
    const sample = fc.record({
      tenant: fc.constantFrom(tenantId, otherTenant),
      identity: fc.constantFrom('CP', 'CP-2', 'a', 'Z9', 'é'),
      ageDays: fc.integer({ min: 0, max: 20 }),
      measurand: fc.constantFrom('Voltage', 'Current.Import'),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 60 }), fc.integer({ min: 1, max: 25 }), (samples, limit) => {
        store.db.delete(meterSamples).run();
        const now = Date.now();
        const rows = samples.map((s, i) => ({ tenantId: s.tenant, identity: s.identity, at: new Date(now - s.ageDays * DAY_MS - i), measurand: s.measurand, value: i }));
        if (rows.length) store.db.insert(meterSamples).values(rows).run();
        const before = new Date(now - 10 * DAY_MS);
        let total = 0;
        for (let step = limit; step === limit; total += step) {
          step = pruneSamples(store.db, before, limit);
          expect(step).toBeLessThanOrEqual(limit);
        }
        const kept = store.db.select({ value: meterSamples.value }).from(meterSamples).all().map((r) => r.value).sort((a, b) => a - b);
        expect(kept).toEqual(rows.filter((r) => r.at >= before).map((r) => r.value));
        expect(total).toBe(rows.length - kept.length);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the limit change log of smart charging to its row bound and its age, the newest rows kept', () => {
    const siteId = store.db.insert(sites).values({ tenantId, name: 'S', gridLimitA: 32 }).returning().get().id;
    const base = Date.now() - 10 * DAY_MS;
    const row = (at: number) => ({ siteId, identity: 'CP', purpose: 'TxProfile', toA: 6, reason: 'share', outcome: 'Accepted', at: new Date(at) });
    store.db.insert(limitChanges).values([row(base - 21 * DAY_MS), ...Array.from({ length: 10 }, (_, i) => row(base + i))]).run();
    expect(pruneLimitChanges(store.db, new Date(Date.now() - 30 * DAY_MS), 4)).toBe(7);
    expect(store.db.select().from(limitChanges).all().map((r) => r.at.getTime() - base)).toEqual([6, 7, 8, 9]);
  });
});

describe('flushed', () => {
  it('resolves once what was pushed before it is written, without waiting for what is pushed after', async () => {
    const writer = createWriter(file, log, { intervalMs: 60_000 });
    try {
      for (let n = 0; n < 5; n++) writer.push(meterValues(n));
      await writer.flushed();
      expect(sampleCount()).toBe(20);
      // Steady traffic after the call does not keep it waiting (drained() would wait for it too).
      writer.push(meterValues(10));
      const done = writer.flushed();
      writer.push(meterValues(11));
      await done;
      expect(sampleCount()).toBeGreaterThanOrEqual(24);
      await writer.flushed();
      expect(sampleCount()).toBe(28);
      await writer.flushed(); // nothing pending: at once
    } finally {
      await writer.close();
    }
  });
});
