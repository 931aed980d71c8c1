import { sql } from 'drizzle-orm';
import type { ScheduleWindow } from '../contract/schedule.ts';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { AUTHORIZATION_MODES, CPMS_AUTHS, CPMS_CHARGING_POLICIES, OCPP_VERSIONS, ROLES, TENANT_DEFAULTS } from '../contract/index.ts';

/** Milliseconds since the epoch, as `timestamp_ms` columns store them. */
const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

/**
 * A tenant is one operator: its stations connect to `/ocpp/<slug>/<identity>` on the broker,
 * and the broker connects each of them on to `<cpmsUrl>/<identity>`.
 * Security settings, stations and drivers hang off this table in later migrations.
 */
export const tenants = sqliteTable('tenants', {
  id: integer().primaryKey({ autoIncrement: true }),
  name: text().notNull(),
  slug: text().notNull().unique(),
  cpmsUrl: text('cpms_url').notNull(),
  enabled: integer({ mode: 'boolean' }).notNull().default(TENANT_DEFAULTS.enabled),
  /** The OCPP security profile its stations must use toward the broker (0 none, 1 Basic, 2 TLS + Basic, 3 mutual TLS). */
  stationProfile: integer('station_profile').notNull().default(TENANT_DEFAULTS.stationProfile),
  /** Whether identities missing from the station registry may connect. */
  allowUnknownStations: integer('allow_unknown_stations', { mode: 'boolean' }).notNull().default(TENANT_DEFAULTS.allowUnknownStations),
  /** Whether profile 1 stations may also come over TLS. */
  profile1OverTls: integer('profile1_over_tls', { mode: 'boolean' }).notNull().default(TENANT_DEFAULTS.profile1OverTls),
  /** The O that station certificates must carry under profile 3, when set. */
  organization: text(),
  /** The security profile the CPMS expects from the broker. */
  cpmsProfile: integer('cpms_profile').notNull().default(TENANT_DEFAULTS.cpmsProfile),
  /**
   * Profiles 1 and 2 toward the CPMS: pass the station's own Authorization header on, or send the stored CPMS password.
   * The column default is the migration's (0002) and never applies: createTenant always writes `cpmsAuthOf(input)`.
   */
  cpmsAuth: text('cpms_auth', { enum: CPMS_AUTHS }).notNull().default('passthrough'),
  /** The OCPP version of the tenant's stations: badges may be 20 characters long under 1.6, 36 under 2.0.1 and 2.1. */
  ocppVersion: text('ocpp_version', { enum: OCPP_VERSIONS }).notNull().default(TENANT_DEFAULTS.ocppVersion),
  /** `cpms`: the CPMS decides and the broker only observes; `broker`: the broker answers Authorize from the driver list. */
  authorizationMode: text('authorization_mode', { enum: AUTHORIZATION_MODES }).notNull().default(TENANT_DEFAULTS.authorizationMode),
  /** Off: driver identification only. On: the broker allocates each site's current to its sessions (server/smart/). */
  smartCharging: integer('smart_charging', { mode: 'boolean' }).notNull().default(TENANT_DEFAULTS.smartCharging),
  /** With smart charging on: forward the CPMS's charging commands, answer them Accepted, or answer them Rejected. */
  cpmsChargingPolicy: text('cpms_charging_policy', { enum: CPMS_CHARGING_POLICIES }).notNull().default(TENANT_DEFAULTS.cpmsChargingPolicy),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

export type Tenant = typeof tenants.$inferSelect;

/** The stations a tenant knows, with their credentials on each leg. */
export const stations = sqliteTable(
  'stations',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    description: text().notNull().default(''),
    /** The station's Basic auth password (profiles 1 and 2): HMAC-SHA256 of the bytes it sends (scrypt before). */
    passwordHash: text('password_hash'),
    /** The password the broker sends the CPMS for this station, sealed (server/auth/seal.ts). */
    cpmsPasswordSealed: text('cpms_password_sealed'),
    /** Profile 3: when set, the station's client certificate must also have this SHA-256 fingerprint. */
    certificateFingerprint: text('certificate_fingerprint'),
    /** The site whose current it shares (smart charging); null: not assigned. */
    siteId: integer('site_id').references(() => sites.id, { onDelete: 'set null' }),
    /** Per phase, for all its connectors together. */
    maxCurrentA: real('max_current_a').notNull().default(32),
    phases: integer().notNull().default(3),
    /** Which phase of a 3-phase site a 1-phase station is wired to. */
    phase: text({ enum: ['L1', 'L2', 'L3'] }).notNull().default('L1'),
    /** Higher goes first. */
    priority: integer().notNull().default(0),
    /** Counted at its maximum, never controlled. */
    excluded: integer({ mode: 'boolean' }).notNull().default(false),
    /** Set by dispatch when the station rejects profiles or draws more than offered: counted at its maximum. */
    uncontrollable: integer({ mode: 'boolean' }).notNull().default(false),
    /** Why and since when: `rejected` (a profile was Rejected or NotSupported) or `overdraw` (drew more than offered). */
    uncontrollableReason: text('uncontrollable_reason'),
    uncontrollableSince: integer('uncontrollable_since', { mode: 'timestamp_ms' }),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [uniqueIndex('stations_tenant_identity').on(table.tenantId, table.identity), index('stations_site').on(table.siteId)],
);

/**
 * A site: stations behind one grid connection, sharing its current (server/smart/allocate.ts). Limits per phase;
 * `schedule` holds time-of-day windows with a lower limit (capacity tariff), in the site's time zone.
 */
export const sites = sqliteTable(
  'sites',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    gridLimitA: real('grid_limit_a'),
    gridLimitKw: real('grid_limit_kw'),
    phases: integer().notNull().default(3),
    voltageV: real('voltage_v').notNull().default(230),
    safetyMarginPct: real('safety_margin_pct').notNull().default(0),
    minCurrentA: real('min_current_a').notNull().default(6),
    /** What stations fall back to when the broker is gone (dispatch: TxDefaultProfile). */
    failsafeCurrentA: real('failsafe_current_a').notNull().default(6),
    timeZone: text('time_zone').notNull().default('UTC'),
    /** JSON: [{ weekdays: [1-7], from: "HH:MM", to: "HH:MM", limitA }]. */
    schedule: text({ mode: 'json' }).$type<ScheduleWindow[]>().notNull().default([]),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [uniqueIndex('sites_tenant_name').on(table.tenantId, table.name)],
);

export type Site = typeof sites.$inferSelect;

/**
 * The charging profiles installed on stations, as far as the broker knows: the CPMS's (watched with their answers,
 * so the broker never offers more than the CPMS allows) and the broker's own (ids 2,000,000,000 and up), so that a
 * restarted broker knows what each station holds. A row is written when the station answers Accepted and removed
 * when a Clear it Accepted covers it or its transaction ends.
 */
export const chargingProfiles = sqliteTable(
  'charging_profiles',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    owner: text({ enum: ['cpms', 'broker'] }).notNull(),
    /** 1.6 chargingProfileId, 2.0.1 id. */
    profileId: integer('profile_id').notNull(),
    purpose: text().notNull(),
    stackLevel: integer('stack_level').notNull(),
    /** 1.6 connectorId, 2.0.1 evseId; 0 is the whole station. */
    evseId: integer('evse_id').notNull(),
    transactionId: text('transaction_id'),
    /** As sent: 1.6 csChargingProfiles, 2.0.1 chargingProfile. */
    profile: text({ mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    /** The broker's: the limit it wrote, A per phase. */
    limitA: real('limit_a'),
    installedAt: integer('installed_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [uniqueIndex('charging_profiles_key').on(table.tenantId, table.identity, table.owner, table.profileId)],
);

/** The offer in force for each open session of a site (what its station holds), and since when it charges or waits. */
export const smartOffers = sqliteTable(
  'smart_offers',
  {
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    transactionId: text('transaction_id').notNull(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** A per phase; 0 is paused. */
    offerA: real('offer_a').notNull(),
    reason: text().notNull(),
    chargingSince: integer('charging_since', { mode: 'timestamp_ms' }),
    waitingSince: integer('waiting_since', { mode: 'timestamp_ms' }),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.identity, table.transactionId] }), index('smart_offers_site').on(table.siteId)],
);

/** Every limit the broker sent a station, with the answer: bounded by count and age (db/retention.ts). */
export const limitChanges = sqliteTable(
  'limit_changes',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    transactionId: text('transaction_id'),
    /** The TxProfile's or TxDefaultProfile's. */
    purpose: text().notNull(),
    fromA: real('from_a'),
    toA: real('to_a').notNull(),
    reason: text().notNull(),
    /** The station's status (Accepted, Rejected, NotSupported) or what went wrong (timeout, not connected, error). */
    outcome: text().notNull(),
    at: integer({ mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [index('limit_changes_site_at').on(table.siteId, table.at)],
);

/**
 * Every certificate and key the broker holds:
 * - `server`: the broker's own TLS certificate chain and key for wss:// (one RSA, one ECDSA at most);
 * - `station-ca`: roots that station client certificates must chain to (profile 3, per tenant);
 * - `cpms-ca`: roots the CPMS server certificate must chain to, instead of the system's (per tenant);
 * - `cpms-client`: the broker's client certificate and key toward the CPMS (profile 3), per tenant or per station.
 * A key pair made by the broker waits with its CSR until the signed certificate is imported.
 */
export const certificates = sqliteTable('certificates', {
  id: integer().primaryKey({ autoIncrement: true }),
  kind: text({ enum: ['server', 'station-ca', 'cpms-ca', 'cpms-client'] }).notNull(),
  tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
  stationId: integer('station_id').references(() => stations.id, { onDelete: 'cascade' }),
  /** PEM: the certificate, then its chain; null while a CSR waits for its certificate. */
  certificatePem: text('certificate_pem'),
  /** The private key as PKCS#8 PEM, sealed; never exported. */
  keySealed: text('key_sealed'),
  csrPem: text('csr_pem'),
  /** Generated by the broker itself (the self-signed server certificate). */
  generated: integer({ mode: 'boolean' }).notNull().default(false),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

export type Certificate = typeof certificates.$inferSelect;
export type CertificateKind = Certificate['kind'];

/** Admin UI and API accounts. `admin` may do everything, `viewer` only read. */
export const users = sqliteTable('users', {
  id: integer().primaryKey({ autoIncrement: true }),
  username: text().notNull().unique(),
  /** scrypt, with its parameters (server/auth/password.ts). */
  passwordHash: text('password_hash').notNull(),
  role: text({ enum: ROLES }).notNull(),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

/** Browser sessions. The id in the cookie is never stored: only its SHA-256. */
export const sessions = sqliteTable('sessions', {
  idHash: text('id_hash').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }).notNull().default(now),
});

/** Bearer tokens for scripts, acting with their owner's role. Only the SHA-256 of a token is stored. */
export const apiTokens = sqliteTable('api_tokens', {
  id: integer().primaryKey({ autoIncrement: true }),
  name: text().notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
  expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
  lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
  revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
});

/** Who changed what, and when. `before` and `after` are JSON of the public view of the thing: never a secret. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    at: integer({ mode: 'timestamp_ms' }).notNull().default(now),
    /** "user:alice", "token:deploy (alice)", "system" */
    actor: text().notNull(),
    action: text().notNull(),
    target: text(),
    before: text({ mode: 'json' }),
    after: text({ mode: 'json' }),
    remoteAddress: text('remote_address'),
  },
  (table) => [index('audit_log_at').on(table.at), index('audit_log_action').on(table.action)],
);

export type User = typeof users.$inferSelect;
export type Role = User['role'];

/** The people behind the badges, per tenant (imported from the operator's CSV: `email,badge_ids`). */
export const drivers = sqliteTable(
  'drivers',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** Lower case. */
    email: text().notNull(),
    blocked: integer({ mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [uniqueIndex('drivers_tenant_email').on(table.tenantId, table.email)],
);

/** RFID badges (OCPP idTag / idToken). A badge belongs to one driver of a tenant; matching ignores case and spaces. */
export const badges = sqliteTable(
  'badges',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    driverId: integer('driver_id')
      .notNull()
      .references(() => drivers.id, { onDelete: 'cascade' }),
    /** As the operator wrote it, trimmed. */
    badgeId: text('badge_id').notNull(),
    /** What matching uses: trimmed, lower case (2.0.1 idTokens are case-insensitive). */
    matchKey: text('match_key').notNull(),
  },
  (table) => [uniqueIndex('badges_tenant_key').on(table.tenantId, table.matchKey), index('badges_driver').on(table.driverId)],
);

/** What the broker last heard of each station: BootNotification facts. */
export const stationFacts = sqliteTable(
  'station_facts',
  {
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    vendor: text(),
    model: text(),
    serialNumber: text('serial_number'),
    firmwareVersion: text('firmware_version'),
    bootedAt: integer('booted_at', { mode: 'timestamp_ms' }),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.identity] })],
);

/** The last StatusNotification of each connector (1.6: connectorId, evseId 0; 2.0.1: evseId and connectorId). */
export const connectorStatus = sqliteTable(
  'connector_status',
  {
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    evseId: integer('evse_id').notNull(),
    connectorId: integer('connector_id').notNull(),
    status: text().notNull(),
    errorCode: text('error_code'),
    at: integer({ mode: 'timestamp_ms' }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.identity, table.evseId, table.connectorId] })],
);

/**
 * Charging sessions of both OCPP versions. 1.6: the transaction id the CPMS returns for StartTransaction;
 * 2.0.1: the one the station makes. Energies in Wh.
 */
export const transactions = sqliteTable(
  'transactions',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    ocppVersion: text('ocpp_version', { enum: OCPP_VERSIONS }).notNull(),
    transactionId: text('transaction_id').notNull(),
    evseId: integer('evse_id'),
    connectorId: integer('connector_id'),
    badgeId: text('badge_id'),
    /** Null for a badge no driver has (an unknown badge) or no badge at all. */
    driverId: integer('driver_id').references(() => drivers.id, { onDelete: 'set null' }),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    stoppedAt: integer('stopped_at', { mode: 'timestamp_ms' }),
    meterStartWh: real('meter_start_wh'),
    meterStopWh: real('meter_stop_wh'),
    energyWh: real('energy_wh'),
    stopReason: text('stop_reason'),
    state: text({ enum: ['active', 'completed'] }).notNull().default('active'),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (table) => [
    uniqueIndex('transactions_station_tx').on(table.tenantId, table.identity, table.transactionId),
    index('transactions_started').on(table.tenantId, table.startedAt),
    index('transactions_driver').on(table.driverId),
  ],
);

/** Measurements from MeterValues, StopTransaction.transactionData and TransactionEvent, in Wh, W, A, V (and as sent otherwise). */
export const meterSamples = sqliteTable(
  'meter_samples',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    evseId: integer('evse_id'),
    connectorId: integer('connector_id'),
    transactionRef: integer('transaction_ref').references(() => transactions.id, { onDelete: 'set null' }),
    at: integer({ mode: 'timestamp_ms' }).notNull(),
    measurand: text().notNull(),
    phase: text(),
    location: text(),
    context: text(),
    unit: text(),
    value: real().notNull(),
  },
  (table) => [
    index('meter_samples_tx').on(table.transactionRef),
    // A replayed message (a duplicated StopTransaction, an Ended event sent again) must not count its samples twice.
    // The time comes right after the station: each station's samples then append at the end of their part of the
    // index (the writer's inserts cost a third less than with the time after the connector), and the same index
    // serves every query of a station's samples over time.
    uniqueIndex('meter_samples_once').on(
      table.tenantId,
      table.identity,
      table.at,
      sql`coalesce(${table.evseId}, -1)`,
      sql`coalesce(${table.connectorId}, -1)`,
      table.measurand,
      sql`coalesce(${table.phase}, '')`,
      sql`coalesce(${table.location}, '')`,
    ),
  ],
);

/** Every badge presented (Authorize, a transaction start), with the driver it matched, if any. */
export const identifications = sqliteTable(
  'identifications',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    identity: text().notNull(),
    at: integer({ mode: 'timestamp_ms' }).notNull(),
    action: text().notNull(),
    badgeId: text('badge_id').notNull(),
    driverId: integer('driver_id').references(() => drivers.id, { onDelete: 'set null' }),
    /** What the broker answered, in broker authorization mode. */
    answer: text(),
  },
  (table) => [
    // A frame the writer applies again (its batch retried after a crash) adds no second row; it serves the list by
    // tenant and time too. One station sends one call at a time (OCPP-J), so no two real presentations share it.
    uniqueIndex('identifications_once').on(table.tenantId, table.at, table.identity, table.action, table.badgeId),
    // Removing drivers (a replace import removes many) sets this to null: without an index, a scan per driver.
    index('identifications_driver').on(table.driverId),
  ],
);

/**
 * The connection log: every station connection opened, refused and closed, written in batches by
 * server/connections.ts, pruned by age (CONNECTION_LOG_RETENTION_DAYS) and to a row cap. `hint` is for the
 * operator only (it may name other tenants): never sent to a station.
 */
export const connectionEvents = sqliteTable(
  'connection_events',
  {
    id: integer().primaryKey({ autoIncrement: true }),
    at: integer({ mode: 'timestamp_ms' }).notNull(),
    /** Null when no tenant matched the path. */
    tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'set null' }),
    /** The slug as the station sent it. */
    tenantSlug: text('tenant_slug'),
    identity: text(),
    remoteAddress: text('remote_address').notNull(),
    kind: text({ enum: ['opened', 'refused', 'closed'] }).notNull(),
    /** The HTTP status a refused station got. */
    status: integer(),
    /** A refusal's code (broker/refusals.ts), or a close code ("1000"). */
    code: text(),
    reason: text(),
    subprotocol: text(),
    closedBy: text('closed_by', { enum: ['station', 'cpms', 'broker'] }),
    durationMs: integer('duration_ms'),
    hint: text(),
  },
  (table) => [
    index('connection_events_at').on(table.at),
    index('connection_events_tenant').on(table.tenantId, table.identity, table.id),
    index('connection_events_kind').on(table.kind, table.id),
  ],
);

export type ConnectionEventRow = typeof connectionEvents.$inferSelect;
