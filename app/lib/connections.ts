import { duration } from './format.ts';
import type { ConnectionEvent, CpmsHealth } from './trpc.ts';

/** What happened, in a few words: "refused 502", "closed 1000 by the CPMS", "opened ocpp1.6". */
export function outcome(event: ConnectionEvent): string {
  switch (event.kind) {
    case 'opened':
      return event.subprotocol ? `opened (${event.subprotocol})` : 'opened';
    case 'refused':
      return `refused ${event.status ?? ''}`.trim();
    case 'closed': {
      const by = event.closedBy === 'cpms' ? 'the CPMS' : event.closedBy === 'station' ? 'the station' : 'the broker';
      const after = event.durationMs === null ? '' : ` after ${duration(event.durationMs / 1000)}`;
      return `closed ${event.code ?? ''} by ${by}${after}`;
    }
  }
}

export function badgeOf(event: ConnectionEvent): string {
  return event.kind === 'opened' ? 'on' : event.kind === 'refused' ? 'expired' : 'off';
}

/** The CPMS's health in one line, for the tenants list. */
export function healthLine(health: CpmsHealth): { text: string; tone: 'on' | 'expired' | 'off' } {
  if (health.failing && health.lastFailure) return { text: `Failing (${health.lastFailure.status ?? health.lastFailure.code})`, tone: 'expired' };
  if (health.lastSuccessAt) return { text: 'Reachable', tone: 'on' };
  return { text: 'No handshake yet', tone: 'off' };
}
