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

/**
 * The close code `ws` sent when it failed a link for a protocol error (its `WS_ERR_*` errors):
 * 1009 for a message over maxPayload, 1007 for invalid UTF-8 in a text frame, 1002 for the rest.
 * Its own close event then reports 1006, since it stops reading before the peer's echo arrives.
 */
export function closeCodeOfError(error: Error & { code?: string }): number | undefined {
  if (!error.code?.startsWith('WS_ERR_')) return undefined;
  if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 1009;
  if (error.code === 'WS_ERR_INVALID_UTF8') return 1007;
  return 1002;
}
