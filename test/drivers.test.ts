import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findDriverByBadge } from '../db/badges.ts';
import { badgeLimit, driverInputSchema } from '../contract/index.ts';
import type { ImportJob, ImportResult } from '../server/drivers/import.ts';
import { openTestApi, rejection, type TestApi } from './support/api.ts';

let t: TestApi;
let api: Awaited<ReturnType<TestApi['as']>>['api'];
let drivers: typeof api.drivers;
let tenantId: number;

beforeEach(async () => {
  t = openTestApi();
  ({ api } = await t.as('admin', 'admin'));
  drivers = api.drivers;
  ({ id: tenantId } = await api.tenants.create({ name: 'Acme', slug: 'acme', cpmsUrl: 'wss://cpms.example.com' }));
});

afterEach(() => t.close());

const fixture = (name: string) => fs.readFileSync(path.join(import.meta.dirname, 'fixtures/drivers', name));

/** Starts an import and polls it as the UI does; returns the finished job and the phases seen on the way. */
async function runImport(
  input: { csv?: string; csvBase64?: string; file?: string; mode?: 'merge' | 'replace'; dryRun?: boolean; tenant?: number },
  pollEvery: () => Promise<unknown> = () => sleep(5),
): Promise<{ job: ImportJob; seen: Pick<ImportJob, 'phase' | 'processedRows' | 'totalRows'>[] }> {
  const { file, mode = 'merge', dryRun = false, tenant = tenantId, ...csv } = input;
  const source = file ? { csvBase64: fixture(file).toString('base64') } : csv;
  const { jobId } = await drivers.importStart({ tenantId: tenant, mode, dryRun, ...source });
  const seen: Pick<ImportJob, 'phase' | 'processedRows' | 'totalRows'>[] = [];
  for (;;) {
    const job = await drivers.importStatus({ jobId });
    seen.push({ phase: job.phase, processedRows: job.processedRows, totalRows: job.totalRows });
    if (job.phase === 'done' || job.phase === 'failed') return { job, seen };
    await pollEvery();
  }
}

async function imported(input: Parameters<typeof runImport>[0]): Promise<ImportResult> {
  const { job } = await runImport(input);
  expect(job.phase).toBe('done');
  return job.result!;
}

const counts = (r: ImportResult) => ({
  added: r.added.count,
  changed: r.changed.count,
  removed: r.removed.count,
  unchanged: r.unchanged.count,
  errors: r.errors.count,
  applied: r.applied,
});

async function listed() {
  const { drivers: all } = await drivers.list({ tenantId, limit: 500 });
  return Object.fromEntries(all.map((d) => [d.email, d.badgeIds]));
}

describe('the driver schema', () => {
  it('trims and lower-cases the email and trims each badge', () => {
    expect(driverInputSchema(20).parse({ email: ' John.Doe@Example.COM ', badgeIds: [' BADGE001 ', 'badge002'] })).toEqual({
      email: 'john.doe@example.com',
      badgeIds: ['BADGE001', 'badge002'],
    });
  });

  it('allows badges of 20 characters under OCPP 1.6 and 36 under 2.0.1', () => {
    expect([badgeLimit('1.6'), badgeLimit('2.0.1')]).toEqual([20, 36]);
    const badge = 'X'.repeat(21);
    expect(driverInputSchema(badgeLimit('1.6')).safeParse({ email: 'a@example.com', badgeIds: [badge] }).success).toBe(false);
    expect(driverInputSchema(badgeLimit('2.0.1')).safeParse({ email: 'a@example.com', badgeIds: [badge] }).success).toBe(true);
  });

  it('refuses a driver without badges, a badge twice ignoring case and spaces, and a badge with a comma', () => {
    const messages = (badgeIds: string[]) =>
      driverInputSchema(20)
        .safeParse({ email: 'a@example.com', badgeIds })
        .error?.issues.map((i) => i.message);
    expect(messages([])).toEqual(['No badge']);
    expect(messages(['BADGE001', ' badge001 '])).toEqual(['Badge "badge001" is listed twice']);
    expect(messages(['A,B'])).toEqual(['Badge "A,B" contains a comma or a control character']);
  });
});

describe('drivers one by one', () => {
  it('creates, lists, reads, edits, blocks and removes a driver, with an audit entry for each change', async () => {
    const created = await drivers.create({ tenantId, email: ' John.Doe@Example.com ', badgeIds: ['BADGE001', ' BADGE002 '] });
    expect(created).toMatchObject({ tenantId, email: 'john.doe@example.com', blocked: false, badgeIds: ['BADGE001', 'BADGE002'] });
    expect(created.createdAt).toBeInstanceOf(Date);

    expect(await drivers.list({ tenantId })).toEqual({ total: 1, drivers: [created] });
    expect(await drivers.get({ id: created.id })).toEqual(created);

    const edited = await drivers.update({ id: created.id, email: 'john@example.com', badgeIds: ['BADGE003'] });
    expect(edited).toMatchObject({ email: 'john@example.com', badgeIds: ['BADGE003'], blocked: false });
    const blocked = await drivers.update({ id: created.id, blocked: true });
    expect(blocked).toMatchObject({ email: 'john@example.com', badgeIds: ['BADGE003'], blocked: true });
    expect(findDriverByBadge(t.store.db, tenantId, ' badge003 ')).toEqual({ id: created.id, email: 'john@example.com', blocked: true });

    await drivers.remove({ id: created.id });
    expect(await drivers.list({ tenantId })).toEqual({ total: 0, drivers: [] });
    expect((await rejection(drivers.get({ id: created.id }))).code).toBe('NOT_FOUND');
    expect(findDriverByBadge(t.store.db, tenantId, 'BADGE003')).toBeUndefined();

    const actions = (await api.audit.list({ action: 'driver.' })).map((e) => e.action);
    expect(actions).toEqual(['driver.remove', 'driver.update', 'driver.update', 'driver.create']);
  });

  it('finds drivers by part of an email or of a badge, ignoring case, a page at a time', async () => {
    for (let i = 1; i <= 12; i++) {
      await drivers.create({ tenantId, email: `driver${String(i).padStart(2, '0')}@example.com`, badgeIds: [`TAG-${i}`] });
    }
    await drivers.create({ tenantId, email: 'other@fleet.example', badgeIds: ['FLEET_1', '100%'] });

    const page = await drivers.list({ tenantId, search: 'DRIVER', limit: 5, offset: 10 });
    expect(page.total).toBe(12);
    expect(page.drivers.map((d) => d.email)).toEqual(['driver11@example.com', 'driver12@example.com']);
    expect((await drivers.list({ tenantId, search: 'tag-7' })).drivers.map((d) => d.email)).toEqual(['driver07@example.com']);
    // LIKE's wildcards are taken literally.
    expect((await drivers.list({ tenantId, search: '_' })).drivers.map((d) => d.email)).toEqual(['other@fleet.example']);
    expect((await drivers.list({ tenantId, search: '0%' })).drivers.map((d) => d.email)).toEqual(['other@fleet.example']);
  });

  it('refuses a badge another driver holds with CONFLICT, naming the badge and the driver, ignoring case and spaces', async () => {
    await drivers.create({ tenantId, email: 'jane@example.com', badgeIds: ['BADGE001'] });
    const error = await rejection(drivers.create({ tenantId, email: 'john@example.com', badgeIds: [' badge001 '] }));
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('Badge "badge001" belongs to jane@example.com');

    const john = await drivers.create({ tenantId, email: 'john@example.com', badgeIds: ['BADGE002'] });
    const onUpdate = await rejection(drivers.update({ id: john.id, badgeIds: ['BADGE002', 'Badge001'] }));
    expect([onUpdate.code, onUpdate.message]).toEqual(['CONFLICT', 'Badge "Badge001" belongs to jane@example.com']);
    // A driver keeps its own badges when written differently.
    expect((await drivers.update({ id: john.id, badgeIds: ['badge002'] })).badgeIds).toEqual(['badge002']);
  });

  it('refuses an email that is taken with CONFLICT', async () => {
    await drivers.create({ tenantId, email: 'jane@example.com', badgeIds: ['B1'] });
    const john = await drivers.create({ tenantId, email: 'john@example.com', badgeIds: ['B2'] });
    expect((await rejection(drivers.create({ tenantId, email: 'JANE@example.com', badgeIds: ['B3'] }))).code).toBe('CONFLICT');
    expect((await rejection(drivers.update({ id: john.id, email: 'jane@example.com' }))).message).toBe(
      'A driver with the email jane@example.com exists already',
    );
  });

  it("refuses a badge longer than the tenant's OCPP version allows, with a field error", async () => {
    const badge = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'; // 26 characters
    const error = await rejection(drivers.create({ tenantId, email: 'a@example.com', badgeIds: [badge] }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain('longer than 20 characters');
    expect((error.cause as unknown as { issues: { path: unknown[] }[] }).issues.map((i) => i.path)).toEqual([['badgeIds', 0]]);

    await api.tenants.update({ id: tenantId, ocppVersion: '2.0.1' });
    expect((await drivers.create({ tenantId, email: 'a@example.com', badgeIds: [badge] })).badgeIds).toEqual([badge]);
    expect((await rejection(drivers.create({ tenantId, email: 'b@example.com', badgeIds: ['X'.repeat(37)] }))).code).toBe('BAD_REQUEST');
  });

  it('lets viewers read but not change', async () => {
    await drivers.create({ tenantId, email: 'jane@example.com', badgeIds: ['B1'] });
    const viewer = (await t.as('viewer', 'viewer')).api.drivers;
    expect((await viewer.list({ tenantId })).total).toBe(1);
    expect(await viewer.export({ tenantId })).toBe('email,badge_ids\njane@example.com,B1\n');
    expect((await rejection(viewer.create({ tenantId, email: 'x@example.com', badgeIds: ['B2'] }))).code).toBe('FORBIDDEN');
    expect((await rejection(viewer.importStart({ tenantId, mode: 'merge', dryRun: true, csv: 'email,badge_ids\n' }))).code).toBe('FORBIDDEN');
  });
});

describe('importing a CSV', () => {
  it('previews what a file would add without writing anything, then applies it and audits the counts only', async () => {
    const preview = await imported({ file: 'valid.csv', dryRun: true });
    expect(preview).toMatchObject({
      mode: 'merge',
      dryRun: true,
      applied: false,
      added: {
        count: 2,
        items: [
          { row: 2, email: 'john.doe@example.com', badgeIds: ['BADGE001', 'BADGE002'] },
          { row: 3, email: 'jane.smith@example.com', badgeIds: ['BADGE003'] },
        ],
      },
      errors: { count: 0, items: [] },
    });
    expect(await listed()).toEqual({});

    const result = await imported({ file: 'valid.csv' });
    expect(counts(result)).toEqual({ added: 2, changed: 0, removed: 0, unchanged: 0, errors: 0, applied: true });
    expect(await listed()).toEqual({ 'jane.smith@example.com': ['BADGE003'], 'john.doe@example.com': ['BADGE001', 'BADGE002'] });

    const [entry] = await api.audit.list({ action: 'driver.import' });
    expect(entry).toMatchObject({ actor: 'user:admin', target: 'tenant:acme', before: null });
    expect(entry!.after).toEqual({ mode: 'merge', added: 2, changed: 0, removed: 0, unchanged: 0 });
    expect(JSON.stringify(entry)).not.toContain('BADGE001');
  });

  it('reads a file with a BOM and CRLF line ends (Excel\'s "CSV UTF-8")', async () => {
    expect(counts(await imported({ file: 'bom.csv' }))).toMatchObject({ added: 2, errors: 0, applied: true });
    expect(await listed()).toEqual({ 'jane.smith@example.com': ['BADGE003'], 'john.doe@example.com': ['BADGE001', 'BADGE002'] });
  });

  it('reads several badges in one quoted field, trimming spaces around emails, fields and badges', async () => {
    expect(counts(await imported({ file: 'quoted-multi-badge.csv' }))).toMatchObject({ added: 2, errors: 0 });
    expect(await listed()).toEqual({
      'fleet.manager@example.com': ['BADGE010', 'badge011', 'BADGE012'],
      'solo@example.com': ['BADGE013'],
    });
  });

  it('reports every bad row by row and field, and applies nothing', async () => {
    await drivers.create({ tenantId, email: 'owner@example.com', badgeIds: ['exist001'] });
    const result = await imported({ file: 'bad-rows.csv' });
    expect(result.applied).toBe(false);
    expect(result.errors.items).toEqual([
      { row: 3, field: 'email', message: 'Not a valid email address' },
      { row: 4, field: 'badge_ids', message: 'No badge' },
      { row: 5, field: 'badge_ids', message: 'Badge "ok001" is also on row 2 (ok@example.com)' },
      { row: 6, field: 'badge_ids', message: 'Badge "ABCDEFGHIJKLMNOPQRSTU" is longer than 20 characters, the limit of the tenant\'s OCPP version' },
      { row: 7, field: 'email', message: 'ok@example.com is also on row 2' },
      { row: 8, field: 'badge_ids', message: 'Badge "b008" is listed twice' },
      { row: 9, field: 'badge_ids', message: '3 fields where the header has 2: put several badges in one quoted field, as "BADGE1,BADGE2"' },
      { row: 10, field: 'badge_ids', message: 'An empty badge (two commas in a row?)' },
      { row: 11, field: 'badge_ids', message: 'Badge "EXIST001" belongs to owner@example.com, who is not in the file' },
    ]);
    expect(result.errors.count).toBe(9);
    expect(await listed()).toEqual({ 'owner@example.com': ['exist001'] });
  });

  it('allows badges of 21 to 36 characters for a tenant on OCPP 2.0.1', async () => {
    await api.tenants.update({ id: tenantId, ocppVersion: '2.0.1' });
    const result = await imported({ csv: `email,badge_ids\nlong@example.com,${'A'.repeat(36)}\nlonger@example.com,${'B'.repeat(37)}\n` });
    expect(result.errors.items).toEqual([
      { row: 3, field: 'badge_ids', message: expect.stringContaining('is longer than 36 characters') },
    ]);
  });

  it('reports a file that is not UTF-8, with the row of the first byte that is not', async () => {
    const result = await imported({ file: 'latin1.csv' });
    expect(result.errors.items).toEqual([
      { row: 3, field: 'file', message: 'The file is not UTF-8 (first on row 3): save it as "CSV UTF-8" and send it again' },
    ]);
    expect(result.applied).toBe(false);
    expect(await listed()).toEqual({});
  });

  it('reports text that was decoded from another encoding (replacement characters) when the CSV is sent as text', async () => {
    const lossy = new TextDecoder('utf-8').decode(fixture('latin1.csv'));
    const result = await imported({ csv: lossy });
    expect(result.errors.items).toEqual([{ row: 3, field: 'file', message: expect.stringMatching(/^The file is not UTF-8 \(row 3/) }]);
  });

  it.each([
    ['a missing column', 'missing-header.csv', ['The column badge_ids is missing: the header must be email,badge_ids']],
    ['an unknown column', 'unknown-header.csv', ['Unknown column "name": the header must be email,badge_ids']],
    ['no header at all', 'no-header.csv', ['No header: the first line must be email,badge_ids, not "john.doe@example.com,badge001"']],
  ])('reports %s in the header on row 1', async (_case, file, messages) => {
    const result = await imported({ file });
    expect(result.errors.items).toEqual(messages.map((message) => ({ row: 1, field: 'header', message })));
    expect(result.applied).toBe(false);
  });

  it('says so when columns are separated by semicolons (Excel in some countries)', async () => {
    expect((await imported({ csv: 'email;badge_ids\njohn.doe@example.com;BADGE001\n' })).errors.items).toEqual([
      { row: 1, field: 'header', message: 'Columns separated by semicolons: the file must separate them with commas (email,badge_ids)' },
    ]);
  });

  it('reports an empty file and a quote that is never closed', async () => {
    expect((await imported({ csv: '' })).errors.items).toEqual([
      { row: 1, field: 'header', message: 'The file is empty: it needs the header email,badge_ids' },
    ]);
    expect((await imported({ file: 'unclosed-quote.csv' })).errors.items).toEqual([
      { row: 3, field: 'file', message: 'A quote opened on this row is never closed' },
    ]);
    expect(await listed()).toEqual({});
  });

  it('merges: adds and updates the drivers of the file, keeps the others, and matches badges ignoring case and spaces', async () => {
    await imported({ file: 'base.csv' });
    const result = await imported({ file: 'update.csv', mode: 'merge' });
    expect(counts(result)).toEqual({ added: 1, changed: 1, removed: 0, unchanged: 1, errors: 0, applied: true });
    expect(result.changed.items).toEqual([{ row: 3, email: 'bob@example.com', before: ['B1'], after: ['B1', 'B2'] }]);
    expect(await listed()).toEqual({
      'alice@example.com': ['A1', 'A2'], // " a1 " matched A1, which keeps its writing
      'bob@example.com': ['B1', 'B2'],
      'carol@example.com': ['C1'],
      'dave@example.com': ['D1'],
    });
  });

  it('replaces: the file becomes the list', async () => {
    await imported({ file: 'base.csv' });
    const result = await imported({ file: 'update.csv', mode: 'replace' });
    expect(counts(result)).toEqual({ added: 1, changed: 1, removed: 1, unchanged: 1, errors: 0, applied: true });
    expect(result.removed.items).toEqual([{ email: 'carol@example.com', badgeIds: ['C1'] }]);
    expect(await listed()).toEqual({ 'alice@example.com': ['A1', 'A2'], 'bob@example.com': ['B1', 'B2'], 'dave@example.com': ['D1'] });
  });

  it('refuses in merge mode, but not in replace mode, a badge held by a driver who is not in the file', async () => {
    await imported({ file: 'base.csv' });
    const merge = await imported({ file: 'move.csv', mode: 'merge' });
    expect(merge.errors.items).toEqual([
      { row: 2, field: 'badge_ids', message: 'Badge "C1" belongs to carol@example.com, who is not in the file' },
    ]);
    expect(merge.applied).toBe(false);

    const replace = await imported({ file: 'move.csv', mode: 'replace' });
    expect(counts(replace)).toEqual({ added: 1, changed: 0, removed: 3, unchanged: 0, errors: 0, applied: true });
    expect(await listed()).toEqual({ 'dave@example.com': ['C1'] });
  });

  it('moves a badge in merge mode from a driver who is in the file and gives it up', async () => {
    await imported({ file: 'base.csv' });
    const result = await imported({ csv: 'email,badge_ids\ncarol@example.com,C2\ndave@example.com,c1\n' });
    expect(counts(result)).toEqual({ added: 1, changed: 1, removed: 0, unchanged: 0, errors: 0, applied: true });
    expect(await listed()).toMatchObject({ 'carol@example.com': ['C2'], 'dave@example.com': ['c1'] });
    expect(findDriverByBadge(t.store.db, tenantId, 'C1')?.email).toBe('dave@example.com');
  });

  it('leaves blocked drivers blocked', async () => {
    await imported({ file: 'base.csv' });
    const { drivers: [alice] } = await drivers.list({ tenantId, search: 'alice' });
    await drivers.update({ id: alice!.id, blocked: true });
    await imported({ file: 'update.csv', mode: 'replace' });
    expect((await drivers.get({ id: alice!.id })).blocked).toBe(true);
  });

  it('exports the list in the same format, and importing the export changes nothing', async () => {
    await imported({ file: 'quoted-multi-badge.csv' });
    await imported({ file: 'valid.csv' });
    const csv = await drivers.export({ tenantId });
    expect(csv).toBe(
      [
        'email,badge_ids',
        'fleet.manager@example.com,"BADGE010,badge011,BADGE012"',
        'jane.smith@example.com,BADGE003',
        'john.doe@example.com,"BADGE001,BADGE002"',
        'solo@example.com,BADGE013',
        '',
      ].join('\n'),
    );
    for (const mode of ['merge', 'replace'] as const) {
      expect(counts(await imported({ csv, mode }))).toEqual({ added: 0, changed: 0, removed: 0, unchanged: 4, errors: 0, applied: true });
    }
  });

  it('exports badges and emails that a spreadsheet would run as formulas with a leading apostrophe, and imports them back as they were', async () => {
    const formulas = { 'a@example.com': ['=HYPERLINK("x")'], 'b@example.com': ['+SUM(1)', '-2+3'], '-c@example.com': ['@SUM(A1)'], 'd@example.com': ["'QUOTED"] };
    for (const [email, badgeIds] of Object.entries(formulas)) await drivers.create({ tenantId, email, badgeIds });
    const csv = await drivers.export({ tenantId });
    expect(csv).toBe(
      [
        'email,badge_ids',
        `'-c@example.com,'@SUM(A1)`,
        `a@example.com,"'=HYPERLINK(""x"")"`,
        `b@example.com,"'+SUM(1),-2+3"`,
        `d@example.com,''QUOTED`,
        '',
      ].join('\n'),
    );
    for (const cell of (parse(csv) as string[][]).flat()) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    expect(counts(await imported({ csv, mode: 'replace' }))).toEqual({ added: 0, changed: 0, removed: 0, unchanged: 4, errors: 0, applied: true });
    await drivers.remove({ id: (await drivers.list({ tenantId, search: 'a@example.com' })).drivers[0]!.id });
    expect(counts(await imported({ csv, mode: 'merge' }))).toMatchObject({ added: 1, unchanged: 3, errors: 0 });
    expect(await listed()).toEqual(formulas);
  });

  it('takes the csv as base64 of its bytes or as text, but not both', async () => {
    const error = await rejection(
      drivers.importStart({ tenantId, mode: 'merge', dryRun: true, csv: 'email,badge_ids\n', csvBase64: 'ZW1haWw=' }),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect((await rejection(drivers.importStart({ tenantId, mode: 'merge', dryRun: true, csvBase64: 'not base64!' }))).code).toBe(
      'BAD_REQUEST',
    );
  });

  it('answers NOT_FOUND for an unknown tenant or job', async () => {
    expect((await rejection(drivers.importStart({ tenantId: 999, mode: 'merge', dryRun: true, csv: '' }))).code).toBe('NOT_FOUND');
    expect((await rejection(drivers.importStatus({ jobId: crypto.randomUUID() }))).code).toBe('NOT_FOUND');
  });
});

/** `rows` drivers with one or two badges each, as an operator's export would have them. */
function bigList(rows: number, prefix = ''): string {
  const lines = ['email,badge_ids'];
  for (let i = 0; i < rows; i++) {
    lines.push(i % 3 === 0 ? `${prefix}driver${i}@example.com,"RFID${i}A,RFID${i}B"` : `${prefix}driver${i}@example.com,RFID${i}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('a large import', () => {
  it('imports 100,000 rows in the background, reporting progress, and a second import finds them unchanged', { timeout: 120_000 }, async () => {
    const csv = bigList(100_000);
    const first = await runImport({ csv }, () => nextTurn());
    expect(first.job.phase).toBe('done');
    expect(counts(first.job.result!)).toEqual({ added: 100_000, changed: 0, removed: 0, unchanged: 0, errors: 0, applied: true });
    expect(first.job.result!.added.items).toHaveLength(1000);
    // The event loop kept turning: the poller saw the import part-way through parsing and checking.
    const partWay = (phase: string) => first.seen.some((s) => s.phase === phase && s.processedRows > 0 && s.processedRows < s.totalRows);
    expect(partWay('parsing')).toBe(true);
    expect(partWay('checking')).toBe(true);
    expect((await drivers.list({ tenantId, limit: 1 })).total).toBe(100_000);
    expect(findDriverByBadge(t.store.db, tenantId, 'rfid99999a')?.email).toBe('driver99999@example.com');

    const again = await imported({ csv, mode: 'replace' });
    expect(counts(again)).toEqual({ added: 0, changed: 0, removed: 0, unchanged: 100_000, errors: 0, applied: true });
  });
});

describe('imports and other changes at once', () => {
  it('refuses a second import into a tenant while one runs', async () => {
    const { jobId } = await drivers.importStart({ tenantId, mode: 'merge', dryRun: true, csv: bigList(20_000) });
    expect((await rejection(drivers.importStart({ tenantId, mode: 'merge', dryRun: true, csv: bigList(1) }))).code).toBe('CONFLICT');
    while (!['done', 'failed'].includes((await drivers.importStatus({ jobId })).phase)) await sleep(5);
  });

  it('checks again before writing when the list changed while the file was being checked', async () => {
    const { jobId } = await drivers.importStart({ tenantId, mode: 'merge', dryRun: false, csv: bigList(20_000) });
    while ((await drivers.importStatus({ jobId })).phase === 'parsing') await nextTurn();
    // The import has read the list; a driver now takes a badge of the file.
    await drivers.create({ tenantId, email: 'late@example.com', badgeIds: ['RFID43'] });
    let job = await drivers.importStatus({ jobId });
    while (job.phase !== 'done' && job.phase !== 'failed') {
      await sleep(5);
      job = await drivers.importStatus({ jobId });
    }
    expect(job.result?.applied).toBe(false);
    expect(job.result?.errors.items).toEqual([
      { row: 45, field: 'badge_ids', message: 'Badge "RFID43" belongs to late@example.com, who is not in the file' },
    ]);
    expect((await drivers.list({ tenantId })).total).toBe(1);
  });
});
