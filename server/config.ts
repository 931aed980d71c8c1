import { parseArgs } from 'node:util';
import { z } from 'zod';
import { STATION_AUTH_LIMITS } from '../broker/index.ts';
import { passwordSchema, usernameSchema } from '../contract/index.ts';

/**
 * Every setting of the broker: its command-line flag, its environment variable and its meaning.
 * Units are in the names. This is the only module that reads `process.env`.
 */
export const options = {
  port: { flag: 'port', env: 'PORT', help: 'HTTP port for the admin UI, its API and OCPP (ws://)' },
  tlsPort: { flag: 'tls-port', env: 'TLS_PORT', help: 'HTTPS port for the admin UI, its API and OCPP (wss://)' },
  host: { flag: 'host', env: 'HOST', help: 'Address to listen on' },
  dataDir: { flag: 'data-dir', env: 'DATA_DIR', help: 'Directory of the SQLite database (broker.db)' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', help: 'fatal, error, warn, info, debug, trace or silent' },
  pingIntervalMs: {
    flag: 'ping-interval-ms',
    env: 'PING_INTERVAL_MS',
    help: 'WebSocket ping interval on each link; a link that misses 3 pongs is dropped',
  },
  upstreamConnectTimeoutMs: {
    flag: 'upstream-connect-timeout-ms',
    env: 'UPSTREAM_CONNECT_TIMEOUT_MS',
    help: 'How long to wait for the CPMS to accept a connection before answering the station 504',
  },
  cpmsHandshakeConcurrency: {
    flag: 'cpms-handshake-concurrency',
    env: 'CPMS_HANDSHAKE_CONCURRENCY',
    help: 'CPMS handshakes in flight at once; further stations wait in line',
  },
  cpmsHandshakeQueue: {
    flag: 'cpms-handshake-queue',
    env: 'CPMS_HANDSHAKE_QUEUE',
    help: 'Stations that may wait for a CPMS handshake; beyond that they get 503 with Retry-After',
  },
  stationAuthFailuresPerAddress: {
    flag: 'station-auth-failures-per-address',
    env: 'STATION_AUTH_FAILURES_PER_ADDRESS',
    help: 'Failed station authentications one address may make in 15 minutes before it gets 429 (raise it for many stations behind one gateway)',
  },
  maxPayloadBytes: {
    flag: 'max-payload-bytes',
    env: 'MAX_PAYLOAD_BYTES',
    help: 'Largest WebSocket message accepted on either link (larger: close 1009)',
  },
  sampleRetentionDays: {
    flag: 'sample-retention-days',
    env: 'SAMPLE_RETENTION_DAYS',
    help: 'Meter value samples older than this many days are deleted',
  },
  connectionLogRetentionDays: {
    flag: 'connection-log-retention-days',
    env: 'CONNECTION_LOG_RETENTION_DAYS',
    help: 'Connection log events older than this many days are deleted (and beyond 100,000 rows, the oldest)',
  },
  stationSilentAfterMs: {
    flag: 'station-silent-after-ms',
    env: 'STATION_SILENT_AFTER_MS',
    help: 'A connected station that sent nothing for this long counts as offline, until its CPMS gives it a Heartbeat interval (then twice that)',
  },
  stationOfflineAlertMinutes: {
    flag: 'station-offline-alert-minutes',
    env: 'STATION_OFFLINE_ALERT_MINUTES',
    help: 'A registered station offline for longer than this raises an alert',
  },
  observationQueueMaxBytes: {
    flag: 'observation-queue-max-bytes',
    env: 'OBSERVATION_QUEUE_MAX_BYTES',
    help: 'Bound of the observations waiting to be written; past it new ones are dropped (and counted)',
  },
  auditRetentionDays: {
    flag: 'audit-retention-days',
    env: 'AUDIT_RETENTION_DAYS',
    help: 'Audit log entries older than this many days are deleted',
  },
  maxRequestBodyBytes: {
    flag: 'max-request-body-bytes',
    env: 'MAX_REQUEST_BODY_BYTES',
    help: 'Largest API request body (larger: 413); the driver import takes up to 48 MiB regardless',
  },
  headersTimeoutMs: {
    flag: 'headers-timeout-ms',
    env: 'HEADERS_TIMEOUT_MS',
    help: "How long a client may take to send a request's headers",
  },
  requestTimeoutMs: {
    flag: 'request-timeout-ms',
    env: 'REQUEST_TIMEOUT_MS',
    help: 'How long a client may take to send a whole request, body included',
  },
  keepAliveTimeoutMs: {
    flag: 'keep-alive-timeout-ms',
    env: 'KEEP_ALIVE_TIMEOUT_MS',
    help: 'How long an idle HTTP connection is kept open for the next request',
  },
  // No flags for these: command lines are visible to every user of the machine.
  metricsToken: { flag: undefined, env: 'METRICS_TOKEN', help: 'When set, /metrics requires Authorization: Bearer <this token>' },
  adminUser: { flag: undefined, env: 'BROKER_ADMIN_USER', help: 'Creates this admin at start-up when no admin exists yet' },
  adminPassword: { flag: undefined, env: 'BROKER_ADMIN_PASSWORD', help: 'Password of BROKER_ADMIN_USER (at least 12 characters)' },
} as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const configSchema = z.object({
  port: int(0, 65535).default(8080),
  tlsPort: int(0, 65535).default(8443),
  host: z.string().min(1).default('0.0.0.0'),
  dataDir: z.string().min(1).default('./data'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  pingIntervalMs: int(10, 3_600_000).default(30_000),
  upstreamConnectTimeoutMs: int(10, 600_000).default(10_000),
  cpmsHandshakeConcurrency: int(1, 10_000).default(64),
  cpmsHandshakeQueue: int(0, 100_000).default(1000),
  stationAuthFailuresPerAddress: int(1, 1_000_000).default(STATION_AUTH_LIMITS.perAddress),
  maxPayloadBytes: int(1024, 100 * 1024 * 1024).default(16 * 1024 * 1024),
  sampleRetentionDays: int(1, 36_500).default(400),
  connectionLogRetentionDays: int(1, 36_500).default(30),
  stationSilentAfterMs: int(1_000, 7 * 24 * 3_600_000).default(600_000),
  stationOfflineAlertMinutes: int(0, 7 * 24 * 60).default(15),
  observationQueueMaxBytes: int(64 * 1024, 4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  auditRetentionDays: int(1, 36_500).default(400),
  maxRequestBodyBytes: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  headersTimeoutMs: int(100, 600_000).default(10_000),
  requestTimeoutMs: int(100, 3_600_000).default(30_000),
  keepAliveTimeoutMs: int(100, 600_000).default(5_000),
  metricsToken: z.string().min(16, 'At least 16 characters').regex(/^\S+$/, 'No spaces').optional(),
  adminUser: usernameSchema.optional(),
  adminPassword: passwordSchema.optional(),
});

export type Config = z.infer<typeof configSchema>;
type Key = keyof typeof options;

export class ConfigError extends Error {}

/** Reads the configuration from flags, then environment variables, then defaults. Throws one readable ConfigError. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  const keys = Object.keys(options) as Key[];
  let flags: Record<string, string | undefined>;
  try {
    flags = parseArgs({
      args: argv,
      options: Object.fromEntries(keys.flatMap((k) => (options[k].flag ? [[options[k].flag, { type: 'string' as const }]] : []))),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (error) {
    throw new ConfigError(`Invalid command line: ${(error as Error).message}`);
  }
  const raw = Object.fromEntries(
    keys.map((k) => [k, (options[k].flag && flags[options[k].flag]) ?? emptyToUndefined(env[options[k].env])]),
  );
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path[0] as Key;
    const { env: name, flag } = options[key];
    const shown = key === 'adminPassword' || key === 'metricsToken' ? '(hidden)' : JSON.stringify(raw[key]);
    throw new ConfigError(`Invalid configuration: ${name}${flag ? ` (--${flag})` : ''} = ${shown}: ${issue.message}`);
  }
  if ((parsed.data.adminUser === undefined) !== (parsed.data.adminPassword === undefined)) {
    throw new ConfigError('Invalid configuration: BROKER_ADMIN_USER and BROKER_ADMIN_PASSWORD go together');
  }
  return parsed.data;
}

const emptyToUndefined = (value: string | undefined) => (value === '' ? undefined : value);
