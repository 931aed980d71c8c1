/**
 * Time-of-day limits of a site (capacity-tariff windows), as pure functions: which window applies at a moment in the
 * site's time zone. A window belongs to the weekdays it starts on; one whose end is not after its start runs across
 * midnight into the next day (22:00-06:00), and one that ends where it starts lasts 24 hours.
 */

/** ISO weekdays: 1 Monday … 7 Sunday. */
export type Weekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface ScheduleWindow {
  weekdays: Weekday[];
  /** Local time, "HH:MM". */
  from: string;
  /** Local time, "HH:MM" ("24:00" for the end of the day). */
  to: string;
  /** The site's limit per phase while the window lasts. */
  limitA: number;
}

export interface LocalTime {
  weekday: Weekday;
  /** Minutes since local midnight, 0-1439. */
  minute: number;
}

/** "HH:MM" → minutes since midnight; undefined when malformed. */
export function parseClock(clock: string): number | undefined {
  const match = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(clock);
  if (!match) return undefined;
  const minutes = Number(match[1]) * 60 + Number(match[2]);
  return minutes <= 24 * 60 ? minutes : undefined;
}

function clock(text: string): number {
  const minutes = parseClock(text);
  if (minutes === undefined) throw new RangeError(`Not a time of day: ${JSON.stringify(text)}`);
  return minutes;
}

const previousDay = (weekday: Weekday): Weekday => (weekday === 1 ? 7 : ((weekday - 1) as Weekday));

/** Whether `window` is in force at `time`. */
export function windowApplies(window: ScheduleWindow, time: LocalTime): boolean {
  const from = clock(window.from);
  const to = clock(window.to);
  if (from < to) return window.weekdays.includes(time.weekday) && time.minute >= from && time.minute < to;
  // Across midnight (or 24 hours when to == from): the evening of a listed day, and the morning after it.
  return (window.weekdays.includes(time.weekday) && time.minute >= from) || (window.weekdays.includes(previousDay(time.weekday)) && time.minute < to);
}

/** The window in force at `time` with the lowest limit, if any. */
export function activeWindow(schedule: readonly ScheduleWindow[], time: LocalTime): ScheduleWindow | undefined {
  let found: ScheduleWindow | undefined;
  for (const window of schedule) if (windowApplies(window, time) && (found === undefined || window.limitA < found.limitA)) found = window;
  return found;
}

const WEEKDAYS: Record<string, Weekday> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
/** Formatters per time zone; bounded, since zones come from site settings. */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 64;

/** The weekday and minute of `at` in an IANA time zone ("Europe/Brussels"), DST included. */
export function localTime(at: Date | number, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return { weekday: WEEKDAYS[parts.weekday!]!, minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** Whether a time zone name is one this runtime knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
