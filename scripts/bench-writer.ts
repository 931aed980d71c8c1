/**
 * Pushes N OCPP 1.6 MeterValues frames (100 stations, each in a transaction, 4 sampled values a frame, as measured in
 * issue #10) through the real observation writer into a temporary database, as fast as its bound lets them in, and
 * prints the samples written per second (of wall time, and of the writer thread's CPU time: on a shared machine the
 * second is the steadier figure) and what pushing cost the forwarding thread. Then the floor under it: the same
 * samples applied by the writer's store alone (db/observations.ts: prepared statements, one transaction per 1,000
 * frames, no JSON, no zod, no thread) into a fresh database, as the CPU microseconds per sample row.
 * Usage: node scripts/bench-writer.ts [frames]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openDatabase } from '../db/index.ts';
import { createObservationStore, type Observation } from '../db/observations.ts';
import { openSqlite } from '../db/sqlite.ts';
import { createTenant } from '../db/tenants.ts';
import type { Captured } from '../server/observers/read.ts';
import { createWriter } from '../server/observers/writer.ts';
import { paths } from '../server/paths.ts';

const frames = Number(process.argv[2] ?? 500_000);
const STATIONS = 100;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-writer-'));
const file = path.join(dir, 'broker.db');
const store = openDatabase(file, paths.migrations);
const tenant = createTenant(store.db, { name: 'Bench', slug: 'bench', cpmsUrl: 'ws://localhost:9000', ocppVersion: '1.6' });
store.close();

const T0 = Date.UTC(2026, 10, 24);
function frame(n: number): Captured {
  const station = n % STATIONS;
  const payload = {
    connectorId: 1,
    transactionId: 1000 + station,
    meterValue: [
      {
        timestamp: new Date(T0 + Math.floor(n / STATIONS) * 1000).toISOString(),
        sampledValue: [
          { value: String(10_000 + n), context: 'Sample.Periodic', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
          { value: '11.04', context: 'Sample.Periodic', measurand: 'Power.Active.Import', unit: 'kW' },
          { value: '16.0', context: 'Sample.Periodic', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
          { value: '230.1', context: 'Sample.Periodic', measurand: 'Voltage', phase: 'L1-N', unit: 'V' },
        ],
      },
    ],
  };
  return {
    tenantId: tenant.id,
    identity: `CP${station}`,
    version: '1.6',
    action: 'MeterValues',
    at: Date.now(),
    call: JSON.stringify([2, `m${n}`, 'MeterValues', payload]),
  };
}

let written = 0;
let samples = 0;
let dropped = 0;
const log = pino({ level: 'warn' });
const maxBytes = 64 * 1024 * 1024;
const writer = createWriter(file, log, {
  maxBytes,
  events: {
    written: (f, s) => ((written += f), (samples += s)),
    dropped: (_reason, f) => void (dropped += f),
  },
});

const started = performance.now();
const cpuBefore = process.cpuUsage();
const mainBefore = process.threadCpuUsage();
let pushingMs = 0;
let peakPendingBytes = 0;
for (let n = 0; n < frames; ) {
  // Keep the queue well fed but under its bound: the writer's pace, not shedding, sets the rate.
  const t = performance.now();
  while (n < frames && writer.pendingBytes() < maxBytes / 2) writer.push(frame(n++));
  pushingMs += performance.now() - t;
  peakPendingBytes = Math.max(peakPendingBytes, writer.pendingBytes());
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await writer.drained();
const seconds = (performance.now() - started) / 1000;
// The writer's thread is the process's CPU time less this thread's (which builds the frames and pushes them).
const cpu = process.cpuUsage(cpuBefore);
const main = process.threadCpuUsage(mainBefore);
const writerCpuSeconds = (cpu.user + cpu.system - main.user - main.system) / 1e6;
await writer.close();

const floorFile = path.join(dir, 'floor.db');
const floorDb = openDatabase(floorFile, paths.migrations);
const floorTenant = createTenant(floorDb.db, { name: 'Bench', slug: 'bench', cpmsUrl: 'ws://localhost:9000', ocppVersion: '1.6' });
floorDb.close();
const sqlite = openSqlite(floorFile);
const floorStore = createObservationStore(sqlite);
const FLOOR_BATCH = 1000;
let floorSamples = 0;
const floorBefore = process.threadCpuUsage();
for (let first = 0; first < frames; first += FLOOR_BATCH) {
  const units: Observation[][] = [];
  for (let n = first; n < Math.min(first + FLOOR_BATCH, frames); n++) {
    const station = n % STATIONS;
    const at = new Date(T0 + Math.floor(n / STATIONS) * 1000);
    const sample = (measurand: string, phase: string | null, unit: string, value: number) => ({ at, measurand, phase, location: null, context: 'Sample.Periodic', unit, value });
    units.push([
      {
        kind: 'meter',
        tenantId: floorTenant.id,
        identity: `CP${station}`,
        evseId: null,
        connectorId: 1,
        transactionId: String(1000 + station),
        samples: [sample('Energy.Active.Import.Register', null, 'Wh', 10_000 + n), sample('Power.Active.Import', null, 'W', 11_040), sample('Current.Import', 'L1', 'A', 16), sample('Voltage', 'L1-N', 'V', 230.1)],
      },
    ]);
  }
  floorSamples += floorStore.write(units).samples;
}
const floorCpu = process.threadCpuUsage(floorBefore);
sqlite.close();

console.log(
  JSON.stringify({
    frames,
    written,
    dropped,
    samples,
    seconds: Number(seconds.toFixed(2)),
    samplesPerSecond: Math.round(samples / seconds),
    framesPerSecond: Math.round(written / seconds),
    writerCpuSeconds: Number(writerCpuSeconds.toFixed(2)),
    samplesPerWriterCpuSecond: Math.round(samples / writerCpuSeconds),
    forwardingThreadUsPerFrame: Number(((pushingMs * 1000) / frames).toFixed(2)),
    peakPendingMiB: Number((peakPendingBytes / 1048576).toFixed(1)),
    peakRssMB: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6),
    storeAloneSamples: floorSamples,
    storeAloneUsPerSample: Number(((floorCpu.user + floorCpu.system) / floorSamples).toFixed(2)),
  }),
);
fs.rmSync(dir, { recursive: true, force: true });
