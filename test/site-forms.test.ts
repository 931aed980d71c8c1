import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check } from '../app/lib/forms.ts';
import { describeLimit, describeWindow, numberOrNull, textOf } from '../app/lib/sites.ts';
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
