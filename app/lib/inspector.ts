/** The message inspector's rows, as the station page keeps them: frames, and where a slow stream skipped some. */
import type { InspectedFrame } from './trpc.ts';

export type InspectorRow = { kind: 'frame'; frame: InspectedFrame } | { kind: 'skipped'; count: number; after: number };

/** Rows the page keeps (the broker keeps as many frames per station). */
export const KEEP_ROWS = 200;

/** `rows` with `more` at the end, the oldest dropped beyond KEEP_ROWS; frames already there (by seq) are left out. */
export function appendRows(rows: InspectorRow[], more: InspectorRow[]): InspectorRow[] {
  const last = lastSeq(rows);
  const fresh = more.filter((row) => row.kind === 'skipped' || row.frame.seq > last);
  if (fresh.length === 0) return rows;
  return [...rows, ...fresh].slice(-KEEP_ROWS);
}

export function lastSeq(rows: InspectorRow[]): number {
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows[i]!;
    if (row.kind === 'frame') return row.frame.seq;
  }
  return 0;
}

const PARTIES = { station: 'Station', cpms: 'CPMS', broker: 'Broker' } as const;

export function party(who: InspectedFrame['origin']): string {
  return PARTIES[who];
}

/** → toward the CPMS, ← toward the station, ↩ to the broker (which answered itself). */
export function arrow(frame: InspectedFrame): string {
  return frame.to === 'cpms' ? '→' : frame.to === 'station' ? '←' : '↩';
}

const TYPES = { call: 'Call', result: 'Result', error: 'Error', send: 'Send', invalid: 'Invalid' } as const;

export function typeLabel(frame: InspectedFrame): string {
  return frame.type === 'error' && frame.errorCode ? `Error ${frame.errorCode}` : TYPES[frame.type];
}

/** The frame as indented JSON, or its text as it is when it is not JSON (cut short, or invalid). */
export function pretty(frame: InspectedFrame): string {
  try {
    return JSON.stringify(JSON.parse(frame.text), null, 2);
  } catch {
    return frame.text;
  }
}

export function bytes(size: number): string {
  return size < 1024 ? `${size} B` : size < 1024 * 1024 ? `${(size / 1024).toFixed(1)} KiB` : `${(size / 1024 / 1024).toFixed(1)} MiB`;
}
