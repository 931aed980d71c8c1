import type { ScheduleWindow } from '../../contract/schedule.ts';

export const WEEKDAYS = [
  { value: 1, short: 'Mon', name: 'Monday' },
  { value: 2, short: 'Tue', name: 'Tuesday' },
  { value: 3, short: 'Wed', name: 'Wednesday' },
  { value: 4, short: 'Thu', name: 'Thursday' },
  { value: 5, short: 'Fri', name: 'Friday' },
  { value: 6, short: 'Sat', name: 'Saturday' },
  { value: 7, short: 'Sun', name: 'Sunday' },
] as const;

/** A number typed into a text field: null when empty (NaN, which the schema refuses, when not a number). */
export function numberOrNull(text: string): number | null {
  return text.trim() === '' ? null : Number(text.trim().replace(',', '.'));
}

export const textOf = (value: number | null | undefined) => (value == null ? '' : String(value));

/** "Mon-Fri 17:00-21:00: 20 A". */
export function describeWindow(window: ScheduleWindow): string {
  const days = window.weekdays.map((d) => WEEKDAYS[d - 1]!.short);
  const consecutive = window.weekdays.length > 2 && window.weekdays.every((d, i) => i === 0 || d === window.weekdays[i - 1]! + 1);
  return `${consecutive ? `${days[0]}–${days.at(-1)}` : days.join(', ')} ${window.from}–${window.to}: ${window.limitA} A`;
}

/** "32 A per phase", "22 kW", or both. */
export function describeLimit(site: { gridLimitA: number | null; gridLimitKw: number | null }): string {
  return [site.gridLimitA !== null && `${site.gridLimitA} A per phase`, site.gridLimitKw !== null && `${site.gridLimitKw} kW`].filter(Boolean).join(' and ');
}

export const amps = (a: number | null | undefined) => (a == null ? '—' : `${a.toFixed(1)} A`);

export const REASONS: Record<string, string> = {
  share: 'Equal share',
  'station-max': 'Station maximum',
  'cpms-limit': 'CPMS limit',
  'car-limit': 'Car takes less',
  'paused-rotation': 'Paused, waiting for its turn',
  'below-minimum': 'Its limit is below the minimum',
};

/** Why dispatch marked a station uncontrollable (stations.uncontrollableReason). */
export const UNCONTROLLABLE_REASONS: Record<string, string> = {
  rejected: 'It answered a charging profile Rejected, NotSupported or with an error',
  'not-enabled': 'Smart charging is disabled on the station (SmartChargingCtrlr Enabled is false)',
  'stack-level': 'The CPMS uses its highest stack level: a profile above it is not possible',
  overdraw: 'It drew more than it was offered for over a minute',
};

/** Why a reading may be out of date (sites.get marks it). */
export const STALE: Record<string, { label: string; explanation: string }> = {
  old: { label: 'Stale', explanation: 'The reading is older than 2 minutes' },
  offline: { label: 'Offline', explanation: 'The station is offline: the car may draw something else by now' },
};

/**
 * A log shown newest first and read again page by page from the top (`newest`, ids descending), with older entries
 * loaded on request (in `shown`): the new top page, then what was shown that is older than it, at most `max`. When the
 * new page does not reach back to what was shown (more entries came than a page holds), what was shown is dropped
 * rather than shown with a gap.
 */
export function mergeLog<T extends { id: number }>(newest: T[], shown: T[], max: number): T[] {
  const oldest = newest.at(-1);
  if (oldest === undefined) return [];
  if (shown.length > 0 && oldest.id > shown[0]!.id) return newest.slice(0, max);
  return [...newest, ...shown.filter((entry) => entry.id < oldest.id)].slice(0, max);
}
