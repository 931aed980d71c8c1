import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check } from '../app/lib/forms.ts';
import { describeLimit, describeWindow, mergeLog, numberOrNull, textOf } from '../app/lib/sites.ts';
import { siteCreateSchema, siteUpdateSchema } from '../contract/sites.ts';

describe('site forms', () => {
  it('reads back every number it shows, an empty field as none, and a decimal comma as a point', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        expect(numberOrNull(textOf(n))).toBe(n === 0 ? 0 : n);
      }),
    );
    expect(numberOrNull('  ')).toBeNull();
    expect(numberOrNull('6,5')).toBe(6.5);
    expect(numberOrNull('six')).toBeNaN();
  });

  it('describes a limit and a window as the site page shows them', () => {
    expect(describeLimit({ gridLimitA: 32, gridLimitKw: null })).toBe('32 A per phase');
    expect(describeLimit({ gridLimitA: 32, gridLimitKw: 22 })).toBe('32 A per phase and 22 kW');
    expect(describeWindow({ weekdays: [1, 2, 3, 4, 5], from: '17:00', to: '21:00', limitA: 20 })).toBe('Mon–Fri 17:00–21:00: 20 A');
    expect(describeWindow({ weekdays: [6, 7], from: '22:00', to: '06:00', limitA: 40 })).toBe('Sat, Sun 22:00–06:00: 40 A');
  });

  it('puts a missing limit, a time zone and a window time under their fields, as the form shows them', () => {
    const refused = check(siteCreateSchema, { tenantId: 1, name: 'Depot', gridLimitA: null, timeZone: 'Nowhere/Else' });
    expect(refused.ok ? {} : refused.errors).toMatchObject({ gridLimitA: ['A limit in A or in kW'], timeZone: ['An IANA time zone, e.g. Europe/Brussels'] });
    const window = check(siteUpdateSchema, { id: 1, schedule: [{ weekdays: [], from: '7:00', to: '21:00', limitA: 10 }] });
    expect(window.ok).toBe(false);
    expect(check(siteUpdateSchema, { id: 1, schedule: [{ weekdays: [3, 1, 3], from: '22:00', to: '24:00', limitA: 10 }] })).toEqual({
      ok: true,
      data: { id: 1, schedule: [{ weekdays: [1, 3], from: '22:00', to: '24:00', limitA: 10 }] },
    });
  });
});

describe('the limit change log of the site page', () => {
  const PAGE = 20;
  /** A log as the API holds it (ids rising with time, not consecutive: other sites share them), newest first. */
  const log = fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { maxLength: 120 }).map((ids) => ids.sort((a, b) => b - a).map((id) => ({ id })));

  it('shows the top page read again, then what was shown older than it, newest first, never with a gap or twice', () => {
    fc.assert(
      fc.property(log, fc.nat(60), fc.nat(100), fc.integer({ min: 1, max: 200 }), (entries, arrived, loaded, max) => {
        // What the page showed: the top page of the log before `arrived` entries came, and `loaded` older ones.
        const before = entries.slice(Math.min(arrived, entries.length));
        const shown = before.slice(0, PAGE + loaded);
        const newest = entries.slice(0, PAGE);
        const merged = mergeLog(newest, shown, max);
        const ids = merged.map((e) => e.id);
        expect(ids).toEqual([...ids].sort((a, b) => b - a));
        expect(new Set(ids).size).toBe(ids.length);
        // Always a run from the top of the log: nothing skipped between what is shown.
        expect(ids).toEqual(entries.slice(0, ids.length).map((e) => e.id));
        expect(ids.length).toBeGreaterThanOrEqual(Math.min(newest.length, max));
        // What was shown stays, down to where it reached, unless more came than a page holds.
        const reach = shown.length === 0 ? 0 : arrived + shown.length;
        expect(ids.length).toBe(Math.min(max, arrived < PAGE ? Math.max(newest.length, reach) : newest.length));
      }),
      { numRuns: 1_000 },
    );
  });

  it('is empty when the log is', () => {
    expect(mergeLog([], [{ id: 3 }], 100)).toEqual([]);
  });
});
