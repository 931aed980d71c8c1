import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeCell, unescapeCell } from '../server/csv-cell.ts';

const FORMULA_CHARACTERS = ['=', '+', '-', '@', '\t', '\r'];

/** Any string, and strings that begin with a formula character or an apostrophe (rare in plain random strings). */
const cells = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.tuple(fc.constantFrom(...FORMULA_CHARACTERS, "'"), fc.string({ unit: 'binary' })).map(([first, rest]) => first + rest),
);

describe('CSV cells', () => {
  it('reads every escaped string back as it was', () => {
    fc.assert(
      fc.property(cells, (value) => {
        expect(unescapeCell(escapeCell(value))).toBe(value);
      }),
    );
  });

  it('never writes a cell that begins with a formula character', () => {
    fc.assert(
      fc.property(cells, (value) => {
        expect(FORMULA_CHARACTERS).not.toContain(escapeCell(value).charAt(0));
      }),
    );
  });

  it('writes formulas with a leading apostrophe and leaves other cells alone', () => {
    expect(['=HYPERLINK("http://x")', '+SUM(A1)', '-2+3', '@SUM(A1)', '\tx', '\rx', "'x"].map(escapeCell)).toEqual([
      `'=HYPERLINK("http://x")`,
      "'+SUM(A1)",
      "'-2+3",
      "'@SUM(A1)",
      "'\tx",
      "'\rx",
      "''x",
    ]);
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]/), (value) => {
        expect(escapeCell(value)).toBe(value);
      }),
    );
  });
});
