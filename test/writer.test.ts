import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Store } from '../db/index.ts';
import { samplesOf } from '../db/reports.ts';
import { meterSamples, tenants, transactions } from '../db/schema.ts';
import { pruneSamples } from '../db/transactions.ts';
import { paths } from '../server/paths.ts';
import { createWriter } from '../server/observers/writer.ts';

let dir: string;
let store: Store;
let file: string;
let tenantId: number;
const logs: Record<string, unknown>[] = [];
const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-writer-'));
  file = path.join(dir, 'broker.db');
  store = openDatabase(file, paths.migrations);
  tenantId = store.db.insert(tenants).values({ name: 'A', slug: 'a', cpmsUrl: 'ws://cpms' }).returning().get().id;
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sample = (at: Date, value: number) => ({ at, measurand: 'Energy.Active.Import.Register', phase: null, location: null, context: null, unit: 'Wh', value });

describe('the observation writer', () => {
  it('writes nothing from the forwarding path, and everything waiting when it closes', async () => {
    const writer = createWriter(file, log, { intervalMs: 60_000 });
    writer.push({ kind: 'meter', tenantId, identity: 'CP', evseId: null, connectorId: 1, transactionId: '7', samples: [sample(new Date(), 10)] });
    expect(writer.pending()).toBe(1);
    expect(store.db.select().from(meterSamples).all()).toHaveLength(0);
    await writer.close();
    expect(writer.pending()).toBe(0);
    expect(store.db.select().from(meterSamples).all()).toHaveLength(1);
  });

  it('loses only the observation that cannot be written, not its batch', async () => {
    const writer = createWriter(file, log, { intervalMs: 60_000 });
    writer.push({ kind: 'started16', tenantId, identity: 'CP', at: new Date(), transactionId: '1', connectorId: 1, badgeId: 'B', meterStartWh: 0 });
    writer.push({ kind: 'started16', tenantId: 999, identity: 'CP', at: new Date(), transactionId: '2', connectorId: 1, badgeId: 'B', meterStartWh: 0 });
    writer.push({ kind: 'meter', tenantId, identity: 'CP', evseId: null, connectorId: 1, transactionId: '1', samples: [sample(new Date(), 5)] });
    await writer.close();
    const [tx] = store.db.select().from(transactions).all();
    expect(tx).toMatchObject({ transactionId: '1', state: 'active' });
    expect(samplesOf(store.db, tx!.id)).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'observation not written')).toEqual([
      expect.objectContaining({ kind: 'started16', tenantId: 999, error: expect.stringMatching(/FOREIGN KEY/) }),
    ]);
  });
});

describe('retention', () => {
  it('deletes samples older than the limit and keeps the rest', async () => {
    const day = 24 * 60 * 60_000;
    const writer = createWriter(file, log);
    writer.push({ kind: 'meter', tenantId, identity: 'CP', evseId: null, connectorId: 1, transactionId: null, samples: [sample(new Date(Date.now() - 401 * day), 1), sample(new Date(Date.now() - 399 * day), 2)] });
    await writer.close();
    expect(pruneSamples(store.db, new Date(Date.now() - 400 * day))).toBe(1);
    expect(store.db.select({ value: meterSamples.value }).from(meterSamples).all()).toEqual([{ value: 2 }]);
  });
});
