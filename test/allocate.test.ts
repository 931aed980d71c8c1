import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allocate,
  nextTurn,
  siteBudget,
  stationPhases,
  type Allocation,
  type SessionDemand,
  type SiteSettings,
  type StationLoad,
} from '../server/smart/allocate.ts';
import { activeWindow, localTime, windowApplies, type ScheduleWindow } from '../contract/schedule.ts';

const EPS = 1e-9;
const AT = Date.parse('2026-12-02T12:00:00Z'); // a Wednesday

function site(changes: Partial<SiteSettings> = {}): SiteSettings {
  return { gridLimitA: 32, gridLimitKw: null, phases: 3, voltageV: 230, safetyMarginPct: 0, minCurrentA: 6, timeZone: 'UTC', schedule: [], ...changes };
}

function station(id: number, changes: Partial<StationLoad> = {}): StationLoad {
  return { id, maxCurrentA: 32, phases: 3, phase: null, priority: 0, excluded: false, uncontrollable: false, ...changes };
}

const tenths = (a: number) => Math.round(a * 10);
/** A current from `min` to `max` A, mostly in whole tenths as operators enter them, sometimes any real number. */
const current = (min: number, max: number) =>
  fc.oneof({ weight: 4, arbitrary: fc.integer({ min: min * 10, max: max * 10 }).map((t) => t / 10) }, { weight: 1, arbitrary: fc.double({ min, max, noNaN: true }) });

const siteArb = fc.record({
  gridLimitA: fc.option(current(0, 120), { nil: null, freq: 5 }),
  gridLimitKw: fc.option(current(0, 80), { nil: null, freq: 2 }),
  phases: fc.constantFrom(1 as const, 3 as const),
  voltageV: fc.constantFrom(230, 240),
  safetyMarginPct: current(0, 30),
  minCurrentA: fc.constantFrom(6, 6, 6, 1, 8, 10),
  timeZone: fc.constant('UTC'),
  schedule: fc.constant([] as ScheduleWindow[]),
});

const stationArb = fc.record({
  maxCurrentA: current(0, 40),
  phases: fc.constantFrom(1 as const, 3 as const),
  phase: fc.constantFrom(null, 'L1' as const, 'L2' as const, 'L3' as const),
  priority: fc.integer({ min: 0, max: 2 }),
  excluded: fc.constant(false),
  uncontrollable: fc.constant(false),
});

/** A site, its stations (one in ten excluded, one in ten uncontrollable) and sessions on them (sometimes two on one station). */
const scenario = fc
  .tuple(
    siteArb,
    fc.array(stationArb, { minLength: 1, maxLength: 12 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 12, maxLength: 12 }),
  )
  .chain(([s, stationSpecs, rare]) => {
    const stations = stationSpecs.map((spec, i) => ({ ...spec, id: i + 1, excluded: rare[i] === 0, uncontrollable: rare[i] === 9 }));
    const session = fc.record({
      stationId: fc.integer({ min: 1, max: stations.length }),
      cpmsLimitA: fc.option(current(0, 40), { nil: null }),
      measuredA: fc.option(current(0, 40), { nil: null }),
      previousOfferA: fc.option(current(0, 40), { nil: null }),
      waitingSince: fc.option(fc.integer({ min: AT - 3_600_000, max: AT }), { nil: null }),
      chargingSince: fc.option(fc.integer({ min: AT - 3_600_000, max: AT }), { nil: null }),
    });
    return fc.tuple(fc.constant(s), fc.constant(stations), fc.array(session, { maxLength: 16 }).map((list) => list.map((x, i) => ({ ...x, id: `s${i}` }))));
  });

/** What is left of each phase and station after the offers, in tenths of an ampere. */
function leftOver(s: SiteSettings, stations: StationLoad[], allocation: Allocation): Map<string, number> {
  const left = new Map<string, number>();
  allocation.budget.phases.forEach((phase, i) => left.set(phase, tenths(allocation.budget.availableA[i]!)));
  for (const st of stations) left.set(`station:${st.id}`, Math.floor(st.maxCurrentA * 10 + 1e-6));
  for (const offer of allocation.offers) {
    for (const phase of offer.phases) left.set(phase, left.get(phase)! - tenths(offer.offerA));
    left.set(`station:${offer.stationId}`, left.get(`station:${offer.stationId}`)! - tenths(offer.offerA));
  }
  return left;
}

describe('allocation, for random sites and sessions', () => {
  it('never offers more than the budget of any phase, and the budget leaves the margin and the stations it does not control', () => {
    fc.assert(
      fc.property(scenario, ([s, stations, sessions]) => {
        const allocation = allocate(s, stations, sessions, AT);
        const { budget } = allocation;
        budget.phases.forEach((phase, i) => {
          const offered = allocation.offers.filter((o) => o.phases.includes(phase)).reduce((sum, o) => sum + o.offerA, 0);
          expect(offered).toBeLessThanOrEqual(budget.availableA[i]! + EPS);
          expect(allocation.offeredA[i]).toBeCloseTo(offered, 6);
          expect(budget.availableA[i]).toBeGreaterThanOrEqual(0);
          expect(budget.availableA[i]).toBeLessThanOrEqual(Math.max(0, budget.limitA - budget.marginA - budget.excludedA[i]! - budget.uncontrollableA[i]!) + 1e-6); // floating-point input: 2.4999999999999996 is 2.5
        });
      }),
      { numRuns: 500 },
    );
  });

  it('offers each session 0 or at least the minimum, in tenths of an ampere, never above its station maximum or the CPMS limit', () => {
    fc.assert(
      fc.property(scenario, ([s, stations, sessions]) => {
        const allocation = allocate(s, stations, sessions, AT);
        for (const offer of allocation.offers) {
          const session = sessions.find((x) => x.id === offer.sessionId)!;
          const st = stations.find((x) => x.id === offer.stationId)!;
          expect(offer.offerA === 0 || offer.offerA >= s.minCurrentA - EPS).toBe(true);
          expect(Math.abs(offer.offerA * 10 - Math.round(offer.offerA * 10))).toBeLessThan(1e-6);
          expect(offer.offerA).toBeLessThanOrEqual(st.maxCurrentA + EPS);
          if (session.cpmsLimitA != null) expect(offer.offerA).toBeLessThanOrEqual(session.cpmsLimitA + EPS);
          expect(st.excluded || st.uncontrollable).toBe(false);
        }
        for (const st of stations) {
          const total = allocation.offers.filter((o) => o.stationId === st.id).reduce((sum, o) => sum + o.offerA, 0);
          expect(total).toBeLessThanOrEqual(st.maxCurrentA + EPS);
        }
        const controlled = sessions.filter((x) => stations.some((st) => st.id === x.stationId && !st.excluded && !st.uncontrollable));
        expect(allocation.offers.map((o) => o.sessionId)).toEqual(controlled.map((x) => x.id));
      }),
      { numRuns: 500 },
    );
  });

  it('shares equally within a priority tier, up to 0.1 A, among sessions not capped by their own limits', () => {
    // Equal shares are well defined where every session draws from the same phases: 1-phase sites, or 3-phase
    // stations only (otherwise shares are equal per phase, max-min fair).
    const samePhases = scenario.map(([s, stations, sessions]) => [s, s.phases === 1 ? stations : stations.map((st) => ({ ...st, phases: 3 as const })), sessions] as const);
    fc.assert(
      fc.property(samePhases, ([s, stations, sessions]) => {
        const allocation = allocate(s, stations, sessions, AT);
        for (const tier of new Set(allocation.offers.map((o) => o.priority))) {
          const shares = allocation.offers.filter((o) => o.priority === tier && o.reason === 'share').map((o) => tenths(o.offerA));
          if (shares.length > 1) expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
          // A session held by its own limit gets no more than the equal share would have given it.
          const capped = allocation.offers.filter((o) => o.priority === tier && ['cpms-limit', 'car-limit', 'station-max'].includes(o.reason));
          for (const o of capped) if (shares.length > 0) expect(tenths(o.offerA)).toBeLessThanOrEqual(Math.max(...shares) + 1);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('leaves no current unused while a session below its own limits could take it', () => {
    fc.assert(
      fc.property(scenario, ([s, stations, sessions]) => {
        const allocation = allocate(s, stations, sessions, AT);
        const left = leftOver(s, stations, allocation);
        for (const [, value] of left) expect(value).toBeGreaterThanOrEqual(0);
        for (const offer of allocation.offers) {
          const uses = [...offer.phases, `station:${offer.stationId}`];
          const room = Math.min(...uses.map((r) => left.get(r)!));
          if (offer.offerA > 0 && offer.offerA < offer.capA - EPS) expect([offer, room]).toEqual([offer, 0]);
          // A paused session did not fit its minimum anywhere it draws from.
          if (offer.reason === 'paused-rotation') expect(room).toBeLessThan(tenths(Math.max(s.minCurrentA, 0.1)));
          if (offer.reason === 'below-minimum') expect(offer.capA).toBeLessThan(s.minCurrentA);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('gives a higher priority tier its share before a lower one gets more than the minimum', () => {
    const onePhase = scenario.map(([s, stations, sessions]) => [{ ...s, phases: 1 as const }, stations, sessions] as const);
    fc.assert(
      fc.property(onePhase, ([s, stations, sessions]) => {
        const allocation = allocate(s, stations, sessions, AT);
        const min = tenths(s.minCurrentA);
        for (const low of allocation.offers.filter((o) => tenths(o.offerA) > min)) {
          for (const high of allocation.offers.filter((o) => o.priority > low.priority && o.offerA > 0)) {
            // The higher one is at its own limit, or only its station held it back.
            expect(high.reason === 'share' ? 'short' : 'capped').toBe('capped');
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('allocation examples', () => {
  it('splits a 32 A site equally between three cars and gives the rest of a car that takes less to the others', () => {
    const stations = [station(1), station(2), station(3)];
    const first = allocate(site(), stations, [{ id: 'a', stationId: 1 }, { id: 'b', stationId: 2 }, { id: 'c', stationId: 3 }], AT);
    expect(first.offers.map((o) => [o.offerA, o.reason])).toEqual([[10.7, 'share'], [10.7, 'share'], [10.6, 'share']]);

    // Car a draws 7.2 A of its 10.7 A: it is the limit (9 A, the ampere above 7.2 + 0.8); b and c share what it leaves.
    const second = allocate(site(), stations, [
      { id: 'a', stationId: 1, measuredA: 7.2, previousOfferA: 10.7 },
      { id: 'b', stationId: 2, measuredA: 10.5, previousOfferA: 10.7 },
      { id: 'c', stationId: 3 },
    ], AT);
    expect(second.offers.map((o) => [o.offerA, o.reason])).toEqual([[9, 'car-limit'], [11.5, 'share'], [11.5, 'share']]);

    // Offered 9 A, it still takes 7.2 A: the offer stays, it does not swing back up.
    const third = allocate(site(), stations, [{ id: 'a', stationId: 1, measuredA: 7.2, previousOfferA: 9 }, { id: 'b', stationId: 2 }, { id: 'c', stationId: 3 }], AT);
    expect(third.offers.map((o) => o.offerA)).toEqual([9, 11.5, 11.5]);
    // Once it takes all of its offer, it may want more: it gets its share again.
    const fourth = allocate(site(), stations, [{ id: 'a', stationId: 1, measuredA: 8.9, previousOfferA: 9 }, { id: 'b', stationId: 2 }, { id: 'c', stationId: 3 }], AT);
    expect(fourth.offers.map((o) => [o.offerA, o.reason])).toEqual([[10.7, 'share'], [10.7, 'share'], [10.6, 'share']]);
  });

  it('takes a car that stays within 0.8 A of its offer as taking all it is offered', () => {
    const allocation = allocate(site({ gridLimitA: 16 }), [station(1)], [{ id: 'a', stationId: 1, measuredA: 15.3, previousOfferA: 16 }], AT);
    expect(allocation.offers[0]).toMatchObject({ offerA: 16, reason: 'share' });
  });

  it('keeps a slow car at the minimum rather than pausing it', () => {
    const allocation = allocate(site({ gridLimitA: 16 }), [station(1)], [{ id: 'a', stationId: 1, measuredA: 0.4, previousOfferA: 16 }], AT);
    expect(allocation.offers[0]).toMatchObject({ offerA: 6, reason: 'car-limit' });
  });

  it('counts a 1-phase station on L1 of a 3-phase site unless told another phase', () => {
    expect(stationPhases(site(), station(1, { phases: 1 }))).toEqual(['L1']);
    expect(stationPhases(site(), station(1, { phases: 1, phase: 'L3' }))).toEqual(['L3']);
    expect(stationPhases(site({ phases: 1 }), station(1, { phases: 3 }))).toEqual(['L1']);
    const stations = [station(1, { phases: 1 }), station(2, { phases: 1 }), station(3)];
    const allocation = allocate(site({ gridLimitA: 20 }), stations, [{ id: 'a', stationId: 1 }, { id: 'b', stationId: 2 }, { id: 'c', stationId: 3 }], AT);
    // L1 carries a, b and c; c's 3-phase share is held to L1's.
    expect(allocation.offers.map((o) => o.offerA)).toEqual([6.7, 6.7, 6.6]);
    expect(allocation.offeredA).toEqual([20, 6.6, 6.6]);
  });

  it('holds excluded and uncontrollable stations at their maximum and the margin off the budget', () => {
    const budget = siteBudget(site({ gridLimitA: 63, safetyMarginPct: 10 }), [station(1, { excluded: true, maxCurrentA: 16 }), station(2, { uncontrollable: true, phases: 1, phase: 'L2', maxCurrentA: 10 })], AT);
    expect(budget).toMatchObject({ limitA: 63, marginA: 6.3, excludedA: [16, 16, 16], uncontrollableA: [0, 10, 0], availableA: [40.7, 30.7, 40.7] });
  });

  it('uses the lower of the limit in A and the limit in kW', () => {
    expect(siteBudget(site({ gridLimitA: 40, gridLimitKw: 11 }), [], AT).limitA).toBeCloseTo(11_000 / 690, 6);
    expect(siteBudget(site({ gridLimitA: 10, gridLimitKw: 11 }), [], AT).limitA).toBe(10);
  });

  it('pauses a session whose own limit is below the minimum', () => {
    const allocation = allocate(site(), [station(1), station(2, { maxCurrentA: 4 })], [{ id: 'a', stationId: 1, cpmsLimitA: 5.9 }, { id: 'b', stationId: 2 }], AT);
    expect(allocation.offers.map((o) => [o.offerA, o.reason])).toEqual([[0, 'below-minimum'], [0, 'below-minimum']]);
  });

  it('rounds offers down to 0.1 A', () => {
    const allocation = allocate(site({ gridLimitA: 20 }), [station(1), station(2), station(3)], [{ id: 'a', stationId: 1 }, { id: 'b', stationId: 2 }, { id: 'c', stationId: 3 }], AT);
    expect(allocation.offers.map((o) => o.offerA)).toEqual([6.7, 6.7, 6.6]);
  });
});

describe('rotation of paused sessions', () => {
  it('pauses the sessions that do not fit, and gives each its turn after 15 minutes', () => {
    // Room for two minimums, four cars: every car charges within half an hour, none waits forever.
    const s = site({ gridLimitA: 12, phases: 1 });
    const stations = [1, 2, 3, 4].map((id) => station(id));
    let sessions: SessionDemand[] = stations.map((st) => ({ id: `car${st.id}`, stationId: st.id, waitingSince: AT }));
    const charged = new Map<string, number>();
    for (let minute = 0; minute <= 60; minute++) {
      const at = AT + minute * 60_000;
      const allocation = allocate(s, stations, sessions, at);
      const charging = allocation.offers.filter((o) => o.offerA > 0);
      expect(charging).toHaveLength(2);
      for (const o of allocation.offers) {
        if (o.offerA > 0 && !charged.has(o.sessionId)) charged.set(o.sessionId, minute);
        if (o.offerA === 0) expect(o.reason).toBe('paused-rotation');
      }
      sessions = sessions.map((x, i) => ({ ...x, ...nextTurn(x, allocation.offers[i]!, at) }));
    }
    expect([...charged.keys()].sort()).toEqual(['car1', 'car2', 'car3', 'car4']);
    expect(Math.max(...charged.values())).toBe(15);
  });

  it('keeps a session charging through its first 15 minutes even when another waits longer', () => {
    const s = site({ gridLimitA: 6, phases: 1 });
    const stations = [station(1), station(2)];
    const sessions = [
      { id: 'new', stationId: 1, chargingSince: AT - 14 * 60_000 },
      { id: 'waiting', stationId: 2, waitingSince: AT - 60 * 60_000 },
    ];
    expect(allocate(s, stations, sessions, AT).offers.map((o) => o.offerA)).toEqual([6, 0]);
    expect(allocate(s, stations, sessions, AT + 60_000).offers.map((o) => o.offerA)).toEqual([0, 6]);
  });

  it('lets a higher priority take the minimum before any turn of a lower one', () => {
    const s = site({ gridLimitA: 6, phases: 1 });
    const stations = [station(1), station(2, { priority: 1 })];
    const sessions = [{ id: 'low', stationId: 1, chargingSince: AT - 60_000 }, { id: 'high', stationId: 2, waitingSince: AT }];
    expect(allocate(s, stations, sessions, AT).offers.map((o) => [o.sessionId, o.offerA])).toEqual([['low', 0], ['high', 6]]);
  });
});

describe('schedule windows', () => {
  const weekdays: ScheduleWindow = { weekdays: [1, 2, 3, 4, 5], from: '17:00', to: '21:00', limitA: 10 };
  const night: ScheduleWindow = { weekdays: [5], from: '22:00', to: '06:00', limitA: 40 };

  it('applies a window on its weekdays from its start up to (not including) its end', () => {
    expect(windowApplies(weekdays, { weekday: 3, minute: 17 * 60 })).toBe(true);
    expect(windowApplies(weekdays, { weekday: 3, minute: 20 * 60 + 59 })).toBe(true);
    expect(windowApplies(weekdays, { weekday: 3, minute: 21 * 60 })).toBe(false);
    expect(windowApplies(weekdays, { weekday: 3, minute: 16 * 60 + 59 })).toBe(false);
    expect(windowApplies(weekdays, { weekday: 6, minute: 18 * 60 })).toBe(false);
  });

  it('runs a window across midnight into the morning after the weekday it starts on', () => {
    expect(windowApplies(night, { weekday: 5, minute: 23 * 60 })).toBe(true);
    expect(windowApplies(night, { weekday: 6, minute: 5 * 60 + 59 })).toBe(true);
    expect(windowApplies(night, { weekday: 6, minute: 6 * 60 })).toBe(false);
    expect(windowApplies(night, { weekday: 5, minute: 5 * 60 })).toBe(false); // Friday morning belongs to Thursday
    expect(windowApplies(night, { weekday: 6, minute: 23 * 60 })).toBe(false);
    const sundayIntoMonday: ScheduleWindow = { weekdays: [7], from: '20:00', to: '02:00', limitA: 1 };
    expect(windowApplies(sundayIntoMonday, { weekday: 1, minute: 60 })).toBe(true);
  });

  it('takes a window that ends where it starts as 24 hours, and a window to 24:00 as the rest of the day', () => {
    const allDay: ScheduleWindow = { weekdays: [2], from: '08:00', to: '08:00', limitA: 1 };
    expect(windowApplies(allDay, { weekday: 2, minute: 8 * 60 })).toBe(true);
    expect(windowApplies(allDay, { weekday: 3, minute: 7 * 60 + 59 })).toBe(true);
    expect(windowApplies(allDay, { weekday: 3, minute: 8 * 60 })).toBe(false);
    expect(windowApplies({ weekdays: [2], from: '18:00', to: '24:00', limitA: 1 }, { weekday: 2, minute: 1439 })).toBe(true);
  });

  it('takes the lowest limit where windows overlap', () => {
    expect(activeWindow([night, { ...night, limitA: 20 }], { weekday: 5, minute: 23 * 60 })?.limitA).toBe(20);
  });

  it('reads the time of day in the site time zone, summer and winter time included', () => {
    expect(localTime(Date.parse('2026-12-02T16:30:00Z'), 'Europe/Brussels')).toEqual({ weekday: 3, minute: 17 * 60 + 30 });
    expect(localTime(Date.parse('2026-07-01T15:30:00Z'), 'Europe/Brussels')).toEqual({ weekday: 3, minute: 17 * 60 + 30 });
    expect(localTime(Date.parse('2026-12-06T23:30:00Z'), 'Europe/Brussels')).toEqual({ weekday: 1, minute: 30 });
  });

  it('limits the budget to the window in force, only when it is lower than the grid limit', () => {
    const s = site({ gridLimitA: 32, timeZone: 'Europe/Brussels', schedule: [weekdays, night] });
    expect(siteBudget(s, [], Date.parse('2026-12-02T16:30:00Z'))).toMatchObject({ limitA: 10, source: 'schedule', availableA: [10, 10, 10] });
    expect(siteBudget(s, [], Date.parse('2026-12-02T20:30:00Z'))).toMatchObject({ limitA: 32, source: 'grid', window: null });
    expect(siteBudget(s, [], Date.parse('2026-12-04T23:30:00Z'))).toMatchObject({ limitA: 32, source: 'grid', window: night });
  });

  it('finds, for any moment, the same window as checking every minute of the week by hand', () => {
    const clock = fc.integer({ min: 0, max: 24 * 60 }).map((m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`);
    const windowArb = fc.record({
      weekdays: fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }) as fc.Arbitrary<ScheduleWindow['weekdays']>,
      from: clock.filter((c) => c !== '24:00'),
      to: clock,
      limitA: fc.integer({ min: 0, max: 100 }),
    });
    fc.assert(
      fc.property(windowArb, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 1439 }), (w, weekday, minute) => {
        // By hand: the minutes the window covers, counted from the start of each listed day.
        const toMinutes = (c: string) => Number(c.slice(0, 2)) * 60 + Number(c.slice(3));
        const from = toMinutes(w.from);
        const length = toMinutes(w.to) > from ? toMinutes(w.to) - from : toMinutes(w.to) - from + 24 * 60;
        const now = (weekday - 1) * 1440 + minute;
        const covered = w.weekdays.some((d) => {
          const start = (d - 1) * 1440 + from;
          return [start, start - 7 * 1440].some((s) => now >= s && now < s + length);
        });
        expect(windowApplies(w, { weekday: weekday as ScheduleWindow['weekdays'][number], minute })).toBe(covered);
      }),
      { numRuns: 1000 },
    );
  });
});
