import { TRPCClientError } from '@trpc/client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { securityProblems, stationPasswordSchema } from '../contract/index.ts';
import { refusal } from '../app/lib/forms.ts';
import { defaultCpmsAuth, generatePassword } from '../app/lib/security.ts';
import { filterErrors, sessionSeconds } from '../app/lib/transactions.ts';

const profile = fc.integer({ min: 0, max: 3 });
const version = fc.constantFrom('1.6' as const, '2.0.1' as const);
const encoding = fc.constantFrom('text' as const, 'hex' as const);
/** A calendar day as `<input type="date">` gives it. */
const day = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));

describe('the default password toward the CPMS', () => {
  it('goes with every station profile and CPMS profile', () => {
    fc.assert(
      fc.property(profile, profile, (stationProfile, cpmsProfile) => {
        const problems = securityProblems({ stationProfile, cpmsProfile, cpmsAuth: defaultCpmsAuth(stationProfile, cpmsProfile), cpmsUrl: 'wss://cpms.example.com' });
        expect(problems).toEqual([]);
      }),
    );
  });

  it('passes the station’s header on when stations send one (profiles 1 and 2)', () => {
    expect([0, 1, 2, 3].map((stationProfile) => defaultCpmsAuth(stationProfile, 2))).toEqual(['stored', 'passthrough', 'passthrough', 'stored']);
  });

  it('passes whatever the station sends on unchanged when the CPMS wants no password (profiles 0 and 3)', () => {
    fc.assert(
      fc.property(profile, fc.constantFrom(0, 3), (stationProfile, cpmsProfile) => {
        expect(defaultCpmsAuth(stationProfile, cpmsProfile)).toBe('passthrough');
      }),
    );
  });
});

describe('a generated station password', () => {
  it('is one the broker takes, and one every station of the tenant’s OCPP version takes', () => {
    fc.assert(
      fc.property(version, encoding, (ocppVersion, enc) => {
        const value = generatePassword(enc, ocppVersion);
        const parsed = stationPasswordSchema.safeParse({ value, encoding: enc });
        expect(parsed.success).toBe(true);
        const bytes = parsed.data!.length;
        if (enc === 'hex') expect(value).toMatch(/^[0-9A-F]{40}$/);
        else expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
        // OCPP 1.6: an AuthorizationKey of 16-20 bytes; 2.0.1: a passwordString of 16-40 characters.
        if (ocppVersion === '1.6') expect(bytes).toBeGreaterThanOrEqual(16), expect(bytes).toBeLessThanOrEqual(20);
        else if (enc === 'text') expect(value.length).toBeGreaterThanOrEqual(16), expect(value.length).toBeLessThanOrEqual(40);
      }),
    );
  });

  it('is a new one each time', () => {
    const seen = new Set(Array.from({ length: 200 }, () => generatePassword('text', '1.6')));
    expect(seen.size).toBe(200);
  });
});

describe('the transactions filters', () => {
  it('refuse a From after the To under From, and take every other pair of days', () => {
    fc.assert(
      fc.property(day, day, (from, to) => {
        const errors = filterErrors({ from, to });
        if (from > to) expect(errors).toEqual({ from: ['After the To date: no session could match'] });
        else expect(errors).toEqual({});
      }),
    );
  });

  it('take either date alone, and refuse one that is not a date', () => {
    fc.assert(
      fc.property(day, (date) => {
        expect([filterErrors({ from: date, to: '' }), filterErrors({ from: '', to: date })]).toEqual([{}, {}]);
      }),
    );
    expect(filterErrors({ from: '2026-13-45', to: '' })).toEqual({ from: ['Not a date (year-month-day)'] });
  });

  it('count a session’s duration from its start to its end, or to now while it charges', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    expect(sessionSeconds({ startedAt: '2026-11-24T10:00:00Z', stoppedAt: '2026-11-24T11:30:00Z', state: 'completed' }, now)).toBe(5400);
    expect(sessionSeconds({ startedAt: '2026-11-24T11:59:00Z', stoppedAt: null, state: 'active' }, now)).toBe(60);
    expect(sessionSeconds({ startedAt: null, stoppedAt: null, state: 'active' }, now)).toBeUndefined();
    expect(sessionSeconds({ startedAt: '2026-11-24T11:59:00Z', stoppedAt: null, state: 'completed' }, now)).toBeUndefined();
  });
});

describe('a refusal in a form', () => {
  const refused = (data: Record<string, unknown>, message = 'refused') =>
    TRPCClientError.from({ error: { message, code: -32600, data } } as never);

  it('puts the broker’s field errors under their fields', () => {
    expect(refusal(refused({ code: 'BAD_REQUEST', fieldErrors: { slug: ['Taken'] } }))).toEqual({
      fields: { slug: ['Taken'] },
      message: 'The broker refused some fields; see below.',
    });
  });

  it('puts the message of a code that belongs to a field under that field', () => {
    expect(refusal(refused({ code: 'CONFLICT' }, 'The slug "a" is taken'), { CONFLICT: 'slug' })).toEqual({ fields: { slug: ['The slug "a" is taken'] } });
  });

  it('says when to try again after too many attempts', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    const { message } = refusal(refused({ code: 'TOO_MANY_REQUESTS', retryAfterSeconds: 900 }), {}, { TOO_MANY_REQUESTS: 'Too many failed sign-ins.' }, now);
    expect(message).toMatch(/^Too many failed sign-ins\. Try again in 15 min \(at .+\)\.$/);
  });
});
