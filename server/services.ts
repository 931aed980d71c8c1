import type { Logger } from 'pino';
import { combineHooks, createBroker, type RouteHooks } from '../broker/index.ts';
import type { Db } from '../db/index.ts';
import type { Sealer } from './auth/seal.ts';
import { SignInThrottle } from './auth/login-throttle.ts';
import { AttemptThrottle } from '../broker/throttle.ts';
import type { Config } from './config.ts';
import { createConnectionLog } from './connections.ts';
import { createCpmsTester } from './cpms-test.ts';
import { createDirectory } from './directory.ts';
import { createInspector } from './inspector/index.ts';
import type { Metrics } from './metrics.ts';
import { createCpmsLimits, type CpmsLimits } from './smart/cpms-profiles.ts';
import { createDispatch, type DispatchTimings } from './smart/dispatch.ts';
import type { Services } from './trpc.ts';

/** The settings the services are made with. */
export type ServiceSettings = Partial<Pick<Config, 'host'>> &
  Pick<
    Config,
    | 'dataDir'
    | 'pingIntervalMs'
    | 'upstreamConnectTimeoutMs'
    | 'cpmsHandshakeConcurrency'
    | 'cpmsHandshakeQueue'
    | 'stationAuthFailuresPerAddress'
    | 'maxPayloadBytes'
    | 'connectionLogRetentionDays'
    | 'stationSilentAfterMs'
    | 'stationOfflineAlertMinutes'
  >;

/** What the services are made of: what the server opens first (the database, its secrets), and its seams. */
export interface ServiceParts {
  db: Db;
  log: Logger;
  sealer: Sealer;
  /** Made before the services: the observation writer reports to it, and it reads the writer's queue. */
  metrics: Metrics;
  /** What the traffic says: server/observers (the server's writer); none, for an API without it. */
  observers?: RouteHooks;
  reloadServerCertificate: () => void;
  writerHealth?: Services['writerHealth'];
  /** Resolves once the observations captured so far are written (the writer's `flushed`): dispatch reads after it. */
  observationsFlushed?: () => Promise<void>;
  /** Smart charging's seams: the CPMS's own limits, and dispatch's timers (tests shorten them). */
  smart?: { cpmsLimits?: CpmsLimits; timings?: Partial<DispatchTimings> };
}

/**
 * The one composition root: the proxy and everything the API needs, wired together. The server (server/app.ts)
 * and the tests (test/support/api.ts) both make their services here.
 */
export function createServices(settings: ServiceSettings, parts: ServiceParts): Services {
  const { db, log, sealer, metrics } = parts;
  const directory = createDirectory(db, sealer, log);
  const connections = createConnectionLog({
    db,
    log,
    registry: metrics.registry,
    retentionDays: settings.connectionLogRetentionDays,
    upstreamConnectTimeoutMs: settings.upstreamConnectTimeoutMs,
  });
  const inspector = createInspector();
  inspector.register(metrics.registry);
  const observers = parts.observers;
  const cpmsLimits = createCpmsLimits(db, log);
  const smart = createDispatch({
    db,
    broker: () => broker,
    log,
    // What the CPMS allows (its watched profiles); tests may put a table of their own in its place.
    cpmsLimits: parts.smart?.cpmsLimits ?? cpmsLimits,
    flushed: parts.observationsFlushed,
    registry: metrics.registry,
    timings: parts.smart?.timings,
  });
  const broker = createBroker({
    directory,
    // In this order: the inspector holds a frame before anything else reads it; the observers answer Authorize.
    hooks: combineHooks(inspector.hooks, ...(observers ? [observers] : []), cpmsLimits.hooks, smart.hooks, metrics.hooks),
    onRefused: metrics.refused,
    onConnection: (event) => {
      connections.record(event);
      smart.connection(event);
    },
    authThrottle: new AttemptThrottle(),
    stationAuthFailuresPerAddress: settings.stationAuthFailuresPerAddress,
    pingIntervalMs: settings.pingIntervalMs,
    upstreamConnectTimeoutMs: settings.upstreamConnectTimeoutMs,
    cpmsHandshakeConcurrency: settings.cpmsHandshakeConcurrency,
    cpmsHandshakeQueue: settings.cpmsHandshakeQueue,
    maxPayloadBytes: settings.maxPayloadBytes,
    log,
  });
  return {
    db,
    broker,
    log,
    sealer,
    throttle: new SignInThrottle(),
    reloadServerCertificate: parts.reloadServerCertificate,
    listening: { port: 0, tlsPort: 0 },
    metrics,
    inspector,
    dataDir: settings.dataDir,
    connections,
    cpmsLimits,
    cpmsTester: createCpmsTester({ directory, timeoutMs: settings.upstreamConnectTimeoutMs, maxPayloadBytes: settings.maxPayloadBytes }),
    offline: { stationSilentAfterMs: settings.stationSilentAfterMs, stationOfflineAlertMinutes: settings.stationOfflineAlertMinutes },
    writerHealth: parts.writerHealth,
    host: settings.host,
    smart,
  };
}
