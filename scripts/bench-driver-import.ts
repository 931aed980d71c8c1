/**
 * Imports 100,000 drivers into a temporary database and prints how long each phase took, the longest the event loop
 * was held up while parsing and checking (the apply is one synchronous transaction: its time is the block), and the
 * RSS. Usage: node scripts/bench-driver-import.ts [rows]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openDatabase } from '../db/index.ts';
import { createTenant } from '../db/tenants.ts';
import { exportDriverCsv } from '../server/drivers/csv.ts';
import { runDriverImport, type ImportJob, type ImportMode } from '../server/drivers/import.ts';
import { paths } from '../server/paths.ts';

const rows = Number(process.argv[2] ?? 100_000);

/** Every third driver has two badges; `variant` renames a tenth of the drivers and gives another tenth a new badge. */
function list(variant: boolean): string {
  const lines = ['email,badge_ids'];
  for (let i = 0; i < rows; i++) {
    const email = variant && i % 10 === 0 ? `new${i}@example.com` : `driver${i}@example.com`;
    const badges = i % 3 === 0 ? `"RFID${i}A,RFID${i}B"` : variant && i % 10 === 1 ? `"RFID${i},RFID${i}N"` : `RFID${i}`;
    lines.push(`${email},${badges}`);
  }
  return `${lines.join('\n')}\n`;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-driver-import-'));
const store = openDatabase(path.join(dir, 'broker.db'), paths.migrations);
const tenant = createTenant(store.db, { name: 'Bench', slug: 'bench', cpmsUrl: 'ws://localhost:9000', ocppVersion: '1.6' });
const delay = monitorEventLoopDelay({ resolution: 1 });
const peakRss = () => ((process.resourceUsage().maxRSS * 1024) / 1e6).toFixed(0);

async function run(label: string, csv: string, mode: ImportMode) {
  const job: ImportJob = {
    id: label,
    tenantId: tenant.id,
    mode,
    dryRun: false,
    phase: 'parsing',
    processedRows: 0,
    totalRows: 0,
    durationsMs: {},
    startedAt: new Date(),
  };
  delay.reset();
  delay.enable();
  const result = await runDriverImport(store.db, { tenantId: tenant.id, csv: { text: csv }, mode, dryRun: false, maxBadgeLength: 20 }, job);
  // Disabled before the apply's block can be sampled: `max` is the longest turn while parsing and checking.
  delay.disable();
  const { parsing = 0, checking = 0, applying = 0 } = job.durationsMs;
  console.log(
    `${label.padEnd(38)} parse ${String(parsing).padStart(5)} ms  check ${String(checking).padStart(5)} ms  apply ${String(applying).padStart(5)} ms` +
      `  longest other block ${(delay.max / 1e6).toFixed(0).padStart(3)} ms  peak RSS so far ${peakRss()} MB` +
      `  | +${result.added.count} ~${result.changed.count} -${result.removed.count} =${result.unchanged.count} errors ${result.errors.count}`,
  );
}

const original = list(false);
const variant = list(true);
console.log(`${rows} rows (${(original.length / 1e6).toFixed(1)} MB of CSV), Node ${process.version}, peak RSS before importing: ${peakRss()} MB\n`);
await run('merge into an empty list', original, 'merge');
await run('the same file again, replace', original, 'replace');
await run('10% renamed + 10% new badge, replace', variant, 'replace');
await run('the first file, merge (conflicts)', original, 'merge');

const started = performance.now();
const exported = await exportDriverCsv(store.db, tenant.id);
console.log(`export: ${Math.round(performance.now() - started)} ms, ${(exported.length / 1e6).toFixed(1)} MB`);
await run('importing the export, replace', exported, 'replace');

store.close();
fs.rmSync(dir, { recursive: true, force: true });
