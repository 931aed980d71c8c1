/**
 * Why a station's WebSocket upgrade was refused, and the HTTP status it gets.
 * Every code is documented in broker/README.md (a test holds the two together).
 */
export const refusals = {
  NOT_FOUND: { status: 404, message: 'No such tenant, or it is disabled' },
  BAD_IDENTITY: { status: 400, message: 'Invalid station identity' },
  BAD_HANDSHAKE: { status: 400, message: 'Invalid WebSocket handshake' },
  THROTTLED: { status: 429, message: 'Too many failed authentications from this address' },
  TLS_REQUIRED: { status: 403, message: 'This tenant requires TLS (wss://)' },
  TLS_REFUSED: { status: 403, message: 'This tenant accepts security profile 1 over ws:// only' },
  UNKNOWN_STATION: { status: 404, message: 'No such station' },
  UNAUTHENTICATED: { status: 401, message: 'Authentication failed' },
  BAD_CERTIFICATE: { status: 403, message: 'Client certificate refused' },
  CPMS_CREDENTIALS_MISSING: { status: 502, message: 'The broker has no credentials for the CPMS' },
  CPMS_REFUSED: { status: 0, message: 'The CPMS refused the connection' },
  CPMS_UNREACHABLE: { status: 502, message: 'The CPMS could not be reached' },
  CPMS_TIMEOUT: { status: 504, message: 'The CPMS did not answer in time' },
  BUSY: { status: 503, message: 'Too many stations are connecting at once; retry later' },
  SHUTTING_DOWN: { status: 503, message: 'The broker is shutting down' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const;

export type RefusalCode = keyof typeof refusals;

export class Refusal extends Error {
  readonly code: RefusalCode;
  readonly status: number;
  /** Extra response headers, e.g. the CPMS's `WWW-Authenticate`. */
  readonly headers: Record<string, string>;

  constructor(code: RefusalCode, detail?: string, status?: number, headers: Record<string, string> = {}) {
    super(detail ? `${refusals[code].message}: ${detail}` : refusals[code].message);
    this.code = code;
    this.status = status ?? refusals[code].status;
    this.headers = headers;
  }
}
