/** WebSocket close codes the broker sends itself (RFC 6455 §7.4.1). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
} as const;

/**
 * Whether `code` may be sent in a close frame. 1005, 1006 and 1015 only ever describe
 * a close locally (no status, abnormal closure, TLS failure) and 1004 is reserved.
 */
export function isSendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * The code to close one link with after its partner closed with `code`: the same code where
 * it may be sent, otherwise 1011 when the CPMS side failed and 1001 when the station went away.
 */
export function partnerCloseCode(code: number, closedSide: 'station' | 'cpms'): number {
  if (isSendable(code)) return code;
  return closedSide === 'cpms' ? CloseCode.INTERNAL_ERROR : CloseCode.GOING_AWAY;
}

/** ws keeps the close code of a protocol error on the error, under a symbol of its own (lib/constants.js kStatusCode). */
const WS_STATUS_CODE = 'status-code';

/**
 * The close code `ws` sent when it failed a link for a protocol error (its `WS_ERR_*` errors), read from the error
 * as ws itself reads it to close (websocket.js `receiverOnError`: `websocket.close(err[kStatusCode])`), so that it
 * is always what was sent: e.g. 1009 for a message over maxPayload, 1008 for too many fragments, 1007 for invalid
 * UTF-8. ws does not export the symbol; it is found by its description. Its own close event then reports 1006,
 * since it stops reading before the peer's echo arrives.
 */
export function closeCodeOfError(error: Error): number | undefined {
  const key = Object.getOwnPropertySymbols(error).find((symbol) => symbol.description === WS_STATUS_CODE);
  const code: unknown = key && (error as unknown as Record<symbol, unknown>)[key];
  return typeof code === 'number' ? code : undefined;
}

/** A close the broker makes itself, for a reason an admin or the server gives: its code and the reason text sent. */
export interface CloseReason {
  code: number;
  reason: string;
}

/** Why the broker closes stations on an admin's change, each with its code (RFC 6455 §7.4.1) and text. */
export const CloseReason = {
  DISCONNECTED_BY_ADMIN: { code: CloseCode.NORMAL, reason: 'Disconnected by an administrator' },
  STATION_REMOVED: { code: CloseCode.NORMAL, reason: 'Station removed from the registry' },
  TENANT_DISABLED: { code: CloseCode.NORMAL, reason: 'Tenant disabled' },
  TENANT_REMOVED: { code: CloseCode.NORMAL, reason: 'Tenant removed' },
  /** 1012: the station should reconnect, and will meet the new settings. */
  TENANT_SETTINGS_CHANGED: { code: CloseCode.SERVICE_RESTART, reason: 'Tenant settings changed' },
  TENANT_CERTIFICATES_CHANGED: { code: CloseCode.SERVICE_RESTART, reason: 'Tenant certificates changed' },
} as const satisfies Record<string, CloseReason>;
