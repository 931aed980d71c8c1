/**
 * A simulated day of 200 stations on 10 sites, minute by minute, through the allocation module (server/smart/
 * allocate.ts): cars arrive and leave, each with its own maximum current and energy need. Not a test: it prints
 *  - whether a site's limit was ever exceeded (the highest sum of offers, and of the limits dispatch would have sent,
 *    over the budget, per phase);
 *  - the energy delivered, against an unmanaged run where every car draws its maximum (and limits are exceeded);
 *  - the profile calls per station per hour that dispatch would send, by its own plan (server/smart/plan.ts): changes
 *    of 1 A or more (deadband), decreases at once, increases by at most STEP_A per 2 minutes.
 * Usage: npm run simulate [-- --seed 42]
 */
import { allocate, nextTurn, stationPhases, type SessionDemand, type SiteSettings, type StationLoad } from '../server/smart/allocate.ts';
import { DEADBAND_A, plan, RAISE_INTERVAL_MS, RAISE_STEP_A } from '../server/smart/plan.ts';

const SITES = 10;
const STATIONS_PER_SITE = 20;
const STEP_MS = 60_000;
const DAY_START = Date.parse('2026-12-07T00:00:00Z'); // a Monday
const MINUTES = 24 * 60;
const STEP_A = RAISE_STEP_A;
const RAISE_EVERY_MS = RAISE_INTERVAL_MS;

const seedArg = process.argv.indexOf('--seed');
let seed = seedArg > 0 ? Number(process.argv[seedArg + 1]) : 13;
/** mulberry32: the same day for the same seed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const between = (min: number, max: number) => min + random() * (max - min);

interface Car {
  id: string;
  stationId: number;
  maxA: number;
  needWh: number;
  gotWh: number;
  leavesAt: number;
}

interface Station extends StationLoad {
  /** The car plugged in, if any. */
  car?: Car;
  /** The unmanaged twin's car (same arrivals). */
  twin?: Car;
  /** The offer in force at the station (what dispatch last sent), and when it was last raised. */
  sentA: number;
  raisedAt: number;
  calls: number;
  turn: Pick<SessionDemand, 'waitingSince' | 'chargingSince'>;
}

/** Arrivals per station per minute, by hour: a morning and an evening peak. */
function arrivalRate(minute: number): number {
  const hour = minute / 60;
  const peak = (h: number, width: number) => Math.exp(-(((hour - h) / width) ** 2));
  return (0.5 * peak(8, 1.5) + 0.35 * peak(18, 2) + 0.03) / 60;
}

function makeSite(index: number): { site: SiteSettings; stations: Station[] } {
  const site: SiteSettings = {
    gridLimitA: pick([63, 80, 100, 125, 160]),
    gridLimitKw: null,
    phases: 3,
    voltageV: 230,
    safetyMarginPct: pick([0, 5, 10]),
    minCurrentA: 6,
    timeZone: 'Europe/Brussels',
    // Half the sites keep their evening peak down (capacity tariff).
    schedule: index % 2 === 0 ? [{ weekdays: [1, 2, 3, 4, 5], from: '17:00', to: '21:00', limitA: 50 }] : [],
  };
  const stations = Array.from({ length: STATIONS_PER_SITE }, (_, i): Station => {
    const phases = random() < 0.25 ? (1 as const) : (3 as const);
    return {
      id: index * 1000 + i,
      maxCurrentA: pick([16, 32, 32]),
      phases,
      phase: phases === 1 ? pick(['L1', 'L2', 'L3'] as const) : null,
      priority: random() < 0.15 ? 1 : 0,
      excluded: i === 0 && index % 3 === 0, // a few sites have one station outside control
      uncontrollable: false,
      sentA: 0,
      raisedAt: -Infinity,
      calls: 0,
      turn: {},
    };
  });
  return { site, stations };
}

const phasesOf = (site: SiteSettings, s: StationLoad) => (site.phases === 1 || s.phases === 1 ? 1 : 3);

/** Energy of `amps` per phase over one step, Wh. */
const stepWh = (amps: number, phases: number, voltageV: number) => (amps * phases * voltageV * STEP_MS) / 3_600_000;

const started = performance.now();
const rows: string[][] = [];
let worstRatio = 0;
let totals = { managedWh: 0, unmanagedWh: 0, neededWh: 0, calls: 0 };

for (let index = 0; index < SITES; index++) {
  const { site, stations } = makeSite(index);
  let maxRatio = 0;
  let maxSentRatio = 0;
  let maxUnmanagedRatio = 0;
  let managedWh = 0;
  let unmanagedWh = 0;
  let neededWh = 0;
  let cars = 0;
  for (let minute = 0; minute < MINUTES; minute++) {
    const at = DAY_START + minute * STEP_MS;
    for (const st of stations) {
      if (st.car && at >= st.car.leavesAt) st.car = undefined;
      if (st.twin && at >= st.twin.leavesAt) st.twin = undefined;
      if (!st.car && !st.twin && random() < arrivalRate(minute)) {
        const car: Car = {
          id: `car${index}-${cars++}`,
          stationId: st.id,
          maxA: pick([10, 13, 16, 16, 32]),
          needWh: between(5_000, 40_000),
          gotWh: 0,
          leavesAt: at + between(1, 10) * 3_600_000,
        };
        neededWh += car.needWh;
        st.car = car;
        st.twin = { ...car };
        st.turn = { waitingSince: at };
      }
    }

    // Managed: the allocation's targets, and what dispatch would have sent by now.
    const plugged = stations.filter((st) => st.car && !st.excluded);
    const draw = (st: Station) => (st.car && st.car.gotWh < st.car.needWh ? Math.min(st.sentA, st.car.maxA) : 0);
    const sessions: SessionDemand[] = plugged.map((st) => ({ id: st.car!.id, stationId: st.id, measuredA: draw(st), previousOfferA: st.sentA, ...st.turn }));
    const allocation = allocate(site, stations, sessions, at);
    allocation.budget.phases.forEach((_, p) => {
      const budget = allocation.budget.availableA[p]!;
      if (budget > 0) maxRatio = Math.max(maxRatio, allocation.offeredA[p]! / budget);
    });
    allocation.offers.forEach((offer, i) => (plugged[i]!.turn = nextTurn(plugged[i]!.turn, offer, at)));
    // What dispatch sends (server/smart/plan.ts): decreases at once, then stepped increases.
    const available = Object.fromEntries(allocation.budget.phases.map((phase, p) => [phase, allocation.budget.availableA[p]!]));
    const planned = allocation.offers.map((offer, i) => {
      const st = plugged[i]!;
      return { key: String(i), phases: offer.phases, heldA: st.sentA, targetA: offer.offerA, raisedAt: Number.isFinite(st.raisedAt) ? st.raisedAt : null };
    });
    const { decreases, increases } = plan(planned, available, { deadbandA: DEADBAND_A, raiseStepA: STEP_A, raiseIntervalMs: RAISE_EVERY_MS, minCurrentA: site.minCurrentA }, at);
    for (const step of [...decreases, ...increases]) {
      const st = plugged[Number(step.key)]!;
      if (step.toA > st.sentA) st.raisedAt = at;
      st.sentA = step.toA;
      st.calls++;
    }
    // What the stations were told, after this step's calls: never more than the budget either.
    allocation.budget.phases.forEach((phase, p) => {
      const budget = allocation.budget.availableA[p]!;
      const sent = plugged.filter((st) => stationPhases(site, st).includes(phase)).reduce((sum, st) => sum + st.sentA, 0);
      if (budget > 0) maxSentRatio = Math.max(maxSentRatio, sent / budget);
    });
    for (const st of stations) {
      if (!st.car) {
        st.sentA = 0;
        continue;
      }
      const amps = st.excluded ? Math.min(st.maxCurrentA, st.car.maxA) : draw(st);
      const wh = Math.min(stepWh(amps, phasesOf(site, st), site.voltageV), st.car.needWh - st.car.gotWh);
      st.car.gotWh += Math.max(0, wh);
      managedWh += Math.max(0, wh);
    }

    // Unmanaged: every car draws its maximum (up to the station's).
    const unmanagedA = [0, 0, 0];
    for (const st of stations) {
      const car = st.twin;
      if (!car || car.gotWh >= car.needWh) continue;
      const amps = Math.min(car.maxA, st.maxCurrentA);
      const phases = phasesOf(site, st);
      for (const p of phases === 3 ? [0, 1, 2] : [['L1', 'L2', 'L3'].indexOf(st.phase ?? 'L1')]) unmanagedA[p]! += amps;
      const wh = Math.min(stepWh(amps, phases, site.voltageV), car.needWh - car.gotWh);
      car.gotWh += wh;
      unmanagedWh += wh;
    }
    const limitNow = allocation.budget.limitA;
    if (limitNow > 0) maxUnmanagedRatio = Math.max(maxUnmanagedRatio, Math.max(...unmanagedA) / limitNow);
  }
  const calls = stations.reduce((sum, st) => sum + st.calls, 0);
  const callsPerHour = stations.map((st) => st.calls / 24);
  worstRatio = Math.max(worstRatio, maxRatio, maxSentRatio);
  totals = { managedWh: totals.managedWh + managedWh, unmanagedWh: totals.unmanagedWh + unmanagedWh, neededWh: totals.neededWh + neededWh, calls: totals.calls + calls };
  rows.push([
    `site ${index + 1}`,
    `${site.gridLimitA} A${site.schedule.length ? ' (50 A 17-21h)' : ''}`,
    String(cars),
    (maxRatio * 100).toFixed(1),
    (maxSentRatio * 100).toFixed(1),
    (maxUnmanagedRatio * 100).toFixed(0),
    (managedWh / 1000).toFixed(0),
    (unmanagedWh / 1000).toFixed(0),
    (neededWh / 1000).toFixed(0),
    (calls / STATIONS_PER_SITE / 24).toFixed(2),
    Math.max(...callsPerHour).toFixed(2),
  ]);
}

const header = ['', 'limit/phase', 'cars', 'max offers/budget %', 'max sent/budget %', 'unmanaged peak/limit %', 'managed kWh', 'unmanaged kWh', 'needed kWh', 'calls/station/h', 'max'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`${SITES} sites × ${STATIONS_PER_SITE} stations, ${MINUTES} one-minute steps, deadband ${DEADBAND_A} A, raises of at most ${STEP_A} A per ${RAISE_EVERY_MS / 60_000} min\n`);
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  `\nlimit never exceeded: ${worstRatio <= 1 + 1e-9 ? 'yes' : 'NO'} (highest sum of offers or of the limits sent / budget: ${(worstRatio * 100).toFixed(1)} %)` +
    `\nenergy: managed ${(totals.managedWh / 1000).toFixed(0)} kWh, unmanaged ${(totals.unmanagedWh / 1000).toFixed(0)} kWh (${((totals.managedWh / totals.unmanagedWh) * 100).toFixed(1)} %), of ${(totals.neededWh / 1000).toFixed(0)} kWh needed` +
    `\nprofile calls: ${totals.calls} in all, ${(totals.calls / (SITES * STATIONS_PER_SITE) / 24).toFixed(2)} per station per hour` +
    `\nran in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
if (worstRatio > 1 + 1e-9) process.exitCode = 1;
