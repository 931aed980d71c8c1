/**
 * What a refusal says about the attempt:
 * - `auth`: the station could not prove who it is (logged, audited, counted by the throttles and the metrics);
 * - `client`: the request is wrong or not allowed now, whoever sends it;
 * - `cpms`: the CPMS could not take the station;
 * - `broker`: the broker itself cannot take it now.
 */
export type RefusalKind = 'auth' | 'client' | 'cpms' | 'broker';

/**
 * Why a station's WebSocket upgrade was refused, and the HTTP status it gets. The station gets the status and the
 * message only; the detail (e.g. the CPMS's address and error) is for the log.
 * Every code is documented in broker/README.md (a test holds the two together).
 */
export const refusals = {
  NOT_FOUND: { status: 404, kind: 'client', message: 'No such tenant, or it is disabled' },
  BAD_IDENTITY: { status: 400, kind: 'client', message: 'Invalid station identity' },
  BAD_HANDSHAKE: { status: 400, kind: 'client', message: 'Invalid WebSocket handshake' },
  THROTTLED: { status: 429, kind: 'client', message: 'Too many failed authentications' },
  TLS_REQUIRED: { status: 403, kind: 'client', message: 'This tenant requires TLS (wss://)' },
  TLS_REFUSED: { status: 403, kind: 'client', message: 'This tenant accepts security profile 1 over ws:// only' },
  UNKNOWN_STATION: { status: 404, kind: 'auth', message: 'No such station' },
  UNAUTHENTICATED: { status: 401, kind: 'auth', message: 'Authentication failed' },
  BAD_CERTIFICATE: { status: 403, kind: 'auth', message: 'Client certificate refused' },
  CPMS_CREDENTIALS_MISSING: { status: 502, kind: 'cpms', message: 'The broker has no credentials for the CPMS' },
  CPMS_REFUSED: { status: 0, kind: 'cpms', message: 'The CPMS refused the connection' },
  CPMS_UNREACHABLE: { status: 502, kind: 'cpms', message: 'The CPMS could not be reached' },
  CPMS_TIMEOUT: { status: 504, kind: 'cpms', message: 'The CPMS did not answer in time' },
  CPMS_LOOP: { status: 508, kind: 'cpms', message: 'The CPMS URL leads back to this broker' },
  BUSY: { status: 503, kind: 'broker', message: 'The broker is busy; retry later' },
  SHUTTING_DOWN: { status: 503, kind: 'broker', message: 'The broker is shutting down' },
  INTERNAL: { status: 500, kind: 'broker', message: 'Internal error' },
} as const satisfies Record<string, { status: number; kind: RefusalKind; message: string }>;

export type RefusalCode = keyof typeof refusals;

export interface RefusalOptions {
  /** What went wrong, for the log: never sent to the station. */
  detail?: string;
  /** Instead of the code's own status, e.g. the CPMS's status passed on. */
  status?: number;
  /** Extra response headers, e.g. `Retry-After` or the CPMS's `WWW-Authenticate`. */
  headers?: Record<string, string>;
}

export class Refusal extends Error {
  readonly code: RefusalCode;
  readonly kind: RefusalKind;
  readonly status: number;
  /** What went wrong, for the log: never sent to the station. */
  readonly detail: string | undefined;
  /** Extra response headers, e.g. the CPMS's `WWW-Authenticate`. */
  readonly headers: Record<string, string>;

  /** `options` as a string: the detail alone. */
  constructor(code: RefusalCode, options: string | RefusalOptions = {}) {
    const { detail, status, headers = {} } = typeof options === 'string' ? { detail: options } : options;
    super(detail ? `${refusals[code].message}: ${detail}` : refusals[code].message);
    this.code = code;
    this.kind = refusals[code].kind;
    this.detail = detail;
    this.status = status ?? refusals[code].status;
    this.headers = headers;
  }
}
