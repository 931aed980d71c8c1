import { finished } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parse, type CsvError, type Info } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import { driverPage } from '../../db/drivers.ts';
import type { Db } from '../../db/index.ts';
import { driverInputSchema } from '../../contract/index.ts';
import { escapeCell, unescapeCell } from '../csv-cell.ts';

/**
 * The operators' driver list: UTF-8 (a BOM is tolerated), a header `email,badge_ids`, one driver a row, several
 * badges in one quoted field separated by commas:
 *
 *     email,badge_ids
 *     john.doe@example.com,"BADGE001,BADGE002"
 */
export const CSV_COLUMNS = ['email', 'badge_ids'] as const;

/** What is wrong, where: `row` counts lines as a person does (the header is row 1, the first driver row 2). */
export interface RowError {
  row: number;
  field: 'email' | 'badge_ids' | 'header' | 'file';
  message: string;
}

/** A driver row of the file. `email` or `badgeIds` is null when invalid; the errors say why. */
export interface CsvDriver {
  row: number;
  email: string | null;
  badgeIds: string[] | null;
}

/** Text is fed to the parser this much at a time (about 1,200 rows), with a turn of the event loop in between. */
const SLICE_CHARS = 32 * 1024;

/** Drivers read per page when exporting. */
const EXPORT_PAGE = 2500;

const notUtf8 = (why: string) => `The file is not UTF-8 (${why}): save it as "CSV UTF-8" and send it again`;

/** Decodes an uploaded file strictly: a file that is not UTF-8 is an error, not replacement characters. A BOM is dropped. */
export function decodeCsv(bytes: Uint8Array): { text: string } | { error: RowError } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    const lossy = new TextDecoder('utf-8').decode(bytes);
    const row = lineOf(lossy, lossy.indexOf('\uFFFD'));
    return { error: { row, field: 'file', message: notUtf8(`first on row ${row}`) } };
  }
}

/**
 * Text that went through a lossy decoder shows it: U+FFFD where the bytes were not UTF-8 (a browser's
 * `FileReader.readAsText` does this to a Latin-1 file), or unpaired surrogates. Neither belongs in an email or a badge.
 */
export function textProblem(text: string): RowError | undefined {
  const wellFormed = text.toWellFormed(); // an unpaired surrogate becomes U+FFFD, one code unit for one
  const at = wellFormed.indexOf('\uFFFD');
  if (at < 0) return undefined;
  const row = lineOf(wellFormed, at);
  return { row, field: 'file', message: notUtf8(`row ${row} has characters lost in decoding`) };
}

/** The text of an upload: bytes decoded strictly, text checked for signs of a lossy decoding. */
export function csvText(csv: { text: string } | { bytes: Uint8Array }): { text: string } | { error: RowError } {
  if ('bytes' in csv) return decodeCsv(csv.bytes);
  const error = textProblem(csv.text);
  return error ? { error } : csv;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** How many driver rows the text has at most (its lines but the header): a progress estimate before parsing. */
export function estimateRows(text: string): number {
  let lines = text.length > 0 && !text.endsWith('\n') ? 1 : 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return Math.max(0, lines - 1);
}

/** The badges of one `badge_ids` field. An empty field has none; an empty entry ("A,,B") stays, to be reported. */
export function splitBadges(field: string): string[] {
  return field.trim() === '' ? [] : field.split(',');
}

function parseError(error: CsvError, lastRowEnd: number): RowError {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
    case 'CSV_MAX_RECORD_SIZE':
      return { row: lastRowEnd + 1, field: 'file', message: 'A quote opened on this row is never closed' };
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'INVALID_OPENING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return {
        row: typeof error.lines === 'number' ? error.lines : lastRowEnd + 1,
        field: 'file',
        message: 'A quote in the middle of a field: quote the whole field, and double the quotes inside it',
      };
    default:
      return { row: typeof error.lines === 'number' ? error.lines : lastRowEnd + 1, field: 'file', message: error.message };
  }
}

function checkHeader(names: string[]): { columns?: { email: number; badges: number }; errors: RowError[] } {
  const known = (name: string) => (CSV_COLUMNS as readonly string[]).includes(name);
  if (!names.some(known)) {
    const line = names.join(',');
    const message = /^email\s*;/.test(line)
      ? 'Columns separated by semicolons: the file must separate them with commas (email,badge_ids)'
      : `No header: the first line must be email,badge_ids, not ${JSON.stringify(line)}`;
    return { errors: [{ row: 1, field: 'header', message }] };
  }
  const errors: RowError[] = [];
  names.forEach((name, i) => {
    if (!known(name)) errors.push({ row: 1, field: 'header', message: `Unknown column ${JSON.stringify(name)}: the header must be email,badge_ids` });
    else if (names.indexOf(name) !== i) errors.push({ row: 1, field: 'header', message: `The column ${name} appears twice` });
  });
  for (const name of CSV_COLUMNS) {
    if (!names.includes(name)) errors.push({ row: 1, field: 'header', message: `The column ${name} is missing: the header must be email,badge_ids` });
  }
  const email = names.indexOf('email');
  const badges = names.indexOf('badge_ids');
  return { columns: email >= 0 && badges >= 0 ? { email, badges } : undefined, errors };
}

/**
 * Parses and validates a driver list with the schema the API uses, a slice at a time, letting the event loop turn
 * between slices. Cross-row checks (an email or a badge twice) are the import's (import.ts).
 */
export async function readDriverCsv(
  text: string,
  { maxBadgeLength, onProgress }: { maxBadgeLength: number; onProgress?: (rows: number) => void },
): Promise<{ drivers: CsvDriver[]; errors: RowError[] }> {
  const schema = driverInputSchema(maxBadgeLength);
  const drivers: CsvDriver[] = [];
  const errors: RowError[] = [];
  let columns: { email: number; badges: number } | undefined;
  let width = 0;
  let headerSeen = false;
  let lastRowEnd = 0;

  const onRecord = ({ record, info }: { record: string[]; info: Info }) => {
    // A quoted field may span lines: the row is where the record starts.
    const row = info.lines - record.reduce((n, field) => n + (field.match(/\n/g)?.length ?? 0), 0);
    lastRowEnd = info.lines;
    if (!headerSeen) {
      headerSeen = true;
      const header = checkHeader(record.map((name) => name.trim().toLowerCase()));
      columns = header.columns;
      width = record.length;
      errors.push(...header.errors.map((e) => ({ ...e, row })));
      return;
    }
    if (!columns) return;
    if (record.length > width) {
      errors.push({
        row,
        field: 'badge_ids',
        message: `${record.length} fields where the header has ${width}: put several badges in one quoted field, as "BADGE1,BADGE2"`,
      });
    }
    // A cell an export escaped against formulas ('=…) reads as it was written (csv-cell.ts).
    const email = schema.shape.email.safeParse(unescapeCell(record[columns.email] ?? ''));
    const badgeIds = schema.shape.badgeIds.safeParse(splitBadges(unescapeCell(record[columns.badges] ?? '')));
    for (const issue of email.error?.issues ?? []) errors.push({ row, field: 'email', message: issue.message });
    for (const issue of badgeIds.error?.issues ?? []) errors.push({ row, field: 'badge_ids', message: issue.message });
    drivers.push({
      row,
      email: email.success ? email.data : null,
      badgeIds: badgeIds.success && record.length <= width ? badgeIds.data : null,
    });
  };

  const parser = parse({
    bom: true,
    info: true,
    trim: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    max_record_size: 64 * 1024,
  });
  let failed: CsvError | undefined;
  parser.on('data', onRecord);
  parser.on('error', (error: CsvError) => void (failed ??= error));
  const done = finished(parser).catch(() => {});

  // Records arrive synchronously while a slice is written.
  for (let i = 0; i < text.length && !failed; i += SLICE_CHARS) {
    parser.write(text.slice(i, i + SLICE_CHARS));
    onProgress?.(drivers.length);
    await nextTurn();
  }
  if (!failed) parser.end();
  await done;
  if (failed) errors.push(parseError(failed, lastRowEnd));
  if (!headerSeen && !failed) errors.push({ row: 1, field: 'header', message: 'The file is empty: it needs the header email,badge_ids' });
  onProgress?.(drivers.length);
  return { drivers, errors };
}

/**
 * Drivers in the same CSV format, badges joined by commas (quoted by csv-stringify when there are several), cells
 * that a spreadsheet would run as a formula escaped (csv-cell.ts).
 */
export function toCsv(drivers: { email: string; badgeIds: string[] }[], { header }: { header: boolean }): string {
  return stringify(
    drivers.map((d) => [escapeCell(d.email), escapeCell(d.badgeIds.join(','))]),
    { header, columns: [...CSV_COLUMNS], record_delimiter: 'unix' },
  );
}

/** A tenant's drivers as CSV, by email, read a page at a time with a turn of the event loop in between. */
export async function exportDriverCsv(db: Db, tenantId: number): Promise<string> {
  const parts = [toCsv([], { header: true })];
  for (let page = driverPage(db, tenantId, '', EXPORT_PAGE); page.length > 0; page = driverPage(db, tenantId, page.at(-1)!.email, EXPORT_PAGE)) {
    parts.push(toCsv(page.map((d) => ({ email: d.email, badgeIds: d.badges.map((b) => b.badgeId) })), { header: false }));
    await nextTurn();
  }
  return parts.join('');
}
