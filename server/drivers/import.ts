import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { badgeMatchKey } from '../../contract/index.ts';
import { driverListVersion, driverPage, writeDriverChanges, type StoredBadge } from '../../db/drivers.ts';
import type { Db } from '../../db/index.ts';
import { showBadge } from '../../contract/index.ts';
import { csvText, estimateRows, readDriverCsv, type CsvDriver, type RowError } from './csv.ts';

/**
 * Importing a driver list: parse and validate the CSV (csv.ts), check it against itself and the tenant's drivers,
 * and, unless it is a dry run or anything is wrong, write it in one transaction. A job runs in the background a
 * chunk at a time, so that a 100,000-row list never holds up the OCPP frames this process forwards; the UI polls it.
 *
 * - merge: drivers in the file are added or get the file's badges; the others stay.
 * - replace: the file becomes the list; drivers not in it are removed.
 * Drivers are matched by email, badges by match key (case and surrounding spaces do not count); a driver whose
 * badges match is unchanged, and keeps them as they were written. Blocking is not in the CSV: an import leaves it.
 */

export type ImportMode = 'merge' | 'replace';
export type ImportPhase = 'parsing' | 'checking' | 'applying' | 'done' | 'failed';

/** Lists in a result stop at this many items; their counts do not. */
export const RESULT_ITEMS_MAX = 1000;

export interface ImportResult {
  mode: ImportMode;
  dryRun: boolean;
  /** Written: not a dry run, and no error. */
  applied: boolean;
  added: { count: number; items: { row: number; email: string; badgeIds: string[] }[] };
  changed: { count: number; items: { row: number; email: string; before: string[]; after: string[] }[] };
  removed: { count: number; items: { email: string; badgeIds: string[] }[] };
  unchanged: { count: number };
  /** By row. */
  errors: { count: number; items: RowError[] };
}

export interface ImportJob {
  id: string;
  tenantId: number;
  mode: ImportMode;
  dryRun: boolean;
  phase: ImportPhase;
  /** Progress within the current phase. */
  processedRows: number;
  /** Driver rows: estimated from the line count while parsing, exact after. */
  totalRows: number;
  durationsMs: { parsing?: number; checking?: number; applying?: number };
  result?: ImportResult;
  /** Why a failed job failed (an unexpected error, not an error in the file). */
  failure?: string;
  startedAt: Date;
  finishedAt?: Date;
}

export interface ImportRequest {
  tenantId: number;
  /** Bytes are decoded strictly as UTF-8; text is checked for signs of a lossy decoding. */
  csv: { text: string } | { bytes: Uint8Array };
  mode: ImportMode;
  dryRun: boolean;
  maxBadgeLength: number;
  /** Called inside the import's transaction, once written: for the audit log. */
  onApplied?: (result: ImportResult) => void;
  onFailed?: (error: unknown) => void;
}

/** Rows checked, or drivers read, between two turns of the event loop (each turn stays under about 20 ms). */
const CHUNK_ROWS = 2500;
/** Finished jobs are forgotten after this long. */
const KEEP_FINISHED_MS = 10 * 60_000;

interface Existing {
  byEmail: Map<string, { id: number; badges: StoredBadge[] }>;
  /** Match key → the email of the driver holding it. */
  ownerOf: Map<string, string>;
}

interface Plan {
  errors: RowError[];
  add: { row: number; email: string; badges: StoredBadge[] }[];
  update: { row: number; id: number; email: string; before: StoredBadge[]; badges: StoredBadge[] }[];
  remove: { id: number; email: string; badges: StoredBadge[] }[];
  unchanged: number;
}

function emptyExisting(): Existing {
  return { byEmail: new Map(), ownerOf: new Map() };
}

function addPage(existing: Existing, page: ReturnType<typeof driverPage>): void {
  for (const driver of page) {
    existing.byEmail.set(driver.email, { id: driver.id, badges: driver.badges });
    for (const badge of driver.badges) existing.ownerOf.set(badge.matchKey, driver.email);
  }
}

async function loadExisting(db: Db, tenantId: number): Promise<Existing> {
  const existing = emptyExisting();
  for (let page = driverPage(db, tenantId, '', CHUNK_ROWS); page.length > 0; page = driverPage(db, tenantId, page.at(-1)!.email, CHUNK_ROWS)) {
    addPage(existing, page);
    await nextTurn();
  }
  return existing;
}

function loadExistingNow(db: Db, tenantId: number): Existing {
  const existing = emptyExisting();
  for (let page = driverPage(db, tenantId, '', CHUNK_ROWS); page.length > 0; page = driverPage(db, tenantId, page.at(-1)!.email, CHUNK_ROWS)) {
    addPage(existing, page);
  }
  return existing;
}

/**
 * The checks and the diff, as two passes over the rows that can run a range at a time: first the file against
 * itself (an email or a badge twice), then each driver against the tenant's list.
 */
function planner(rows: CsvDriver[], existing: Existing, mode: ImportMode, fileErrors: RowError[]) {
  const plan: Plan = { errors: [...fileErrors], add: [], update: [], remove: [], unchanged: 0 };
  const firstRowOf = new Map<string, number>();
  const badgeRow = new Map<string, { row: number; email: string | null }>();
  const repeated = new Set<number>();

  function checkFile(from: number, to: number): void {
    for (const { row, email, badgeIds } of rows.slice(from, to)) {
      if (email !== null) {
        const first = firstRowOf.get(email);
        if (first === undefined) firstRowOf.set(email, row);
        else {
          repeated.add(row);
          plan.errors.push({ row, field: 'email', message: `${email} is also on row ${first}` });
        }
      }
      for (const badge of badgeIds ?? []) {
        const key = badgeMatchKey(badge);
        const other = badgeRow.get(key);
        if (!other) badgeRow.set(key, { row, email });
        else if (email === null || other.email !== email) {
          const whose = other.email === null ? '' : ` (${other.email})`;
          plan.errors.push({ row, field: 'badge_ids', message: `Badge ${showBadge(badge)} is also on row ${other.row}${whose}` });
        }
      }
    }
  }

  function compare(from: number, to: number): void {
    for (const { row, email, badgeIds } of rows.slice(from, to)) {
      if (email === null || badgeIds === null || repeated.has(row)) continue;
      if (mode === 'merge') {
        for (const badge of badgeIds) {
          const owner = existing.ownerOf.get(badgeMatchKey(badge));
          // A driver in the file gets the file's badges, so a badge may move from them; the others keep theirs.
          if (owner !== undefined && owner !== email && !firstRowOf.has(owner)) {
            plan.errors.push({ row, field: 'badge_ids', message: `Badge ${showBadge(badge)} belongs to ${owner}, who is not in the file` });
          }
        }
      }
      const current = existing.byEmail.get(email);
      if (!current) {
        plan.add.push({ row, email, badges: badgeIds.map((b) => ({ badgeId: b, matchKey: badgeMatchKey(b) })) });
        continue;
      }
      const kept = new Map(current.badges.map((b) => [b.matchKey, b]));
      const badges = badgeIds.map((b) => kept.get(badgeMatchKey(b)) ?? { badgeId: b, matchKey: badgeMatchKey(b) });
      const same = badges.length === current.badges.length && badges.every((b) => kept.has(b.matchKey));
      if (same) plan.unchanged++;
      else plan.update.push({ row, id: current.id, email, before: current.badges, badges });
    }
  }

  function finish(): Plan {
    if (mode === 'replace') {
      for (const [email, driver] of existing.byEmail) {
        if (!firstRowOf.has(email)) plan.remove.push({ id: driver.id, email, badges: driver.badges });
      }
      plan.remove.sort((a, b) => (a.email < b.email ? -1 : 1));
    }
    plan.errors.sort((a, b) => a.row - b.row);
    return plan;
  }

  return { passes: [checkFile, compare], finish };
}

function planNow(rows: CsvDriver[], existing: Existing, mode: ImportMode, fileErrors: RowError[]): Plan {
  const { passes, finish } = planner(rows, existing, mode, fileErrors);
  for (const pass of passes) pass(0, rows.length);
  return finish();
}

function summary(plan: Plan, request: ImportRequest, applied: boolean): ImportResult {
  const cap = <T, U>(items: T[], view: (item: T) => U) => ({ count: items.length, items: items.slice(0, RESULT_ITEMS_MAX).map(view) });
  const written = (badges: StoredBadge[]) => badges.map((b) => b.badgeId);
  return {
    mode: request.mode,
    dryRun: request.dryRun,
    applied,
    added: cap(plan.add, (a) => ({ row: a.row, email: a.email, badgeIds: written(a.badges) })),
    changed: cap(plan.update, (u) => ({ row: u.row, email: u.email, before: written(u.before), after: written(u.badges) })),
    removed: cap(plan.remove, (r) => ({ email: r.email, badgeIds: written(r.badges) })),
    unchanged: { count: plan.unchanged },
    errors: cap(plan.errors, (e) => e),
  };
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}

/**
 * Runs an import, reporting progress on `job` as it goes. The write is one synchronous transaction; if the tenant's
 * list changed while it was being checked (over several turns of the event loop), the transaction checks it again
 * first and writes nothing if it no longer holds.
 */
export async function runDriverImport(db: Db, request: ImportRequest, job: ImportJob): Promise<ImportResult> {
  const { tenantId, mode, maxBadgeLength } = request;
  let started = performance.now();
  job.phase = 'parsing';
  const decoded = csvText(request.csv);
  if ('error' in decoded) {
    job.durationsMs.parsing = elapsed(started);
    return summary({ errors: [decoded.error], add: [], update: [], remove: [], unchanged: 0 }, request, false);
  }
  job.totalRows = estimateRows(decoded.text);
  const file = await readDriverCsv(decoded.text, { maxBadgeLength, onProgress: (rows) => void (job.processedRows = rows) });
  job.totalRows = job.processedRows = file.drivers.length;
  job.durationsMs.parsing = elapsed(started);

  started = performance.now();
  job.phase = 'checking';
  job.processedRows = 0;
  const version = driverListVersion(db, tenantId);
  const { passes, finish } = planner(file.drivers, await loadExisting(db, tenantId), mode, file.errors);
  const rows = file.drivers.length;
  for (const [p, pass] of passes.entries()) {
    for (let from = 0; from < rows; from += CHUNK_ROWS) {
      const to = Math.min(from + CHUNK_ROWS, rows);
      pass(from, to);
      job.processedRows = Math.floor((p * rows + to) / passes.length);
      await nextTurn();
    }
  }
  let plan = finish();
  job.durationsMs.checking = elapsed(started);
  if (request.dryRun || plan.errors.length > 0) return summary(plan, request, false);

  started = performance.now();
  job.phase = 'applying';
  job.processedRows = 0;
  // Immediate: take the write lock before reading, so that no other connection commits between the check and the write.
  const result = db.transaction(() => {
    if (driverListVersion(db, tenantId) !== version) {
      plan = planNow(file.drivers, loadExistingNow(db, tenantId), mode, file.errors);
      if (plan.errors.length > 0) return summary(plan, request, false);
    }
    writeDriverChanges(db, { tenantId, remove: plan.remove.map((r) => r.id), update: plan.update, add: plan.add });
    const result = summary(plan, request, true);
    request.onApplied?.(result);
    return result;
  }, { behavior: 'immediate' });
  job.processedRows = rows;
  job.durationsMs.applying = elapsed(started);
  return result;
}

const jobs = new Map<string, ImportJob>();

/** Starts an import in the background; poll it with `driverImportJob`. */
export function startDriverImport(db: Db, request: ImportRequest): ImportJob {
  const job: ImportJob = {
    id: randomUUID(),
    tenantId: request.tenantId,
    mode: request.mode,
    dryRun: request.dryRun,
    phase: 'parsing',
    processedRows: 0,
    totalRows: 0,
    durationsMs: {},
    startedAt: new Date(),
  };
  jobs.set(job.id, job);
  const finish = (phase: 'done' | 'failed') => {
    job.phase = phase;
    job.finishedAt = new Date();
    setTimeout(() => jobs.delete(job.id), KEEP_FINISHED_MS).unref();
  };
  runDriverImport(db, request, job).then(
    (result) => {
      job.result = result;
      finish('done');
    },
    (error: unknown) => {
      job.failure = error instanceof Error ? error.message : String(error);
      finish('failed');
      request.onFailed?.(error);
    },
  );
  return { ...job };
}

/** A copy of a job's state, while it runs and for some minutes after. */
export function driverImportJob(id: string): ImportJob | undefined {
  const job = jobs.get(id);
  return job && { ...job, durationsMs: { ...job.durationsMs } };
}

/** The import of a tenant that has not finished yet, if any. */
export function runningDriverImport(tenantId: number): ImportJob | undefined {
  return [...jobs.values()].find((job) => job.tenantId === tenantId && job.phase !== 'done' && job.phase !== 'failed');
}
