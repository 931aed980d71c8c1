/**
 * CSV cells that a spreadsheet would run as a formula (CSV injection, OWASP): a cell that begins with `=`, `+`, `-`,
 * `@`, a tab or a carriage return is written with a `'` in front, which spreadsheets take as "text" and do not show.
 * A cell that begins with `'` itself gets one more, so that reading a cell back is exact for every string: the
 * driver import removes one leading `'` (a deliberate departure from plain CSV: a badge typed as `'X` in a file
 * imports as `X`, as a spreadsheet would show it).
 */
const FORMULA_START = /^[=+\-@\t\r']/;

/** The cell as it is written into an export. */
export function escapeCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The value of a cell read from a file that `escapeCell` may have written. */
export function unescapeCell(cell: string): string {
  return cell.startsWith("'") ? cell.slice(1) : cell;
}
