/**
 * One SetChargingProfile of dispatch to one station, with everything that follows from its answer: the station's
 * capabilities read first (once per connection), the stackLevel above the CPMS's, the profile kept when Accepted, the
 * station marked uncontrollable when it refuses, the limit logged with its outcome, the metric counted.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { OwnCallError, type Broker } from '../../broker/index.ts';
import type { Db } from '../../db/index.ts';
import type { AssignedStation, SiteView } from '../../db/sites.ts';
import { clearUncontrollable, logLimitChange, markUncontrollable, saveBrokerProfile } from '../../db/smart.ts';
import type { CpmsLimits } from './cpms-profiles.ts';
import {
  answerStatus,
  capabilities16,
  capabilities201,
  CONFIGURATION_KEYS,
  DEFAULT_CAPABILITIES,
  getVariablesRequest,
  profileIdFor,
  setChargingProfile,
  stackLevelAbove,
  type Capabilities,
  type ProfilePurpose,
} from './profiles.ts';

/** Capabilities kept per connection (one entry per connected station). */
const CAPABILITIES_LIMIT = 10_000;

/** The station's answer (Accepted, Rejected, NotSupported, …), a failure code of the broker's own calls, or why nothing was sent. */
export type Outcome = 'Accepted' | string;

export interface SenderOptions {
  db: Db;
  broker: () => Broker;
  log: Logger;
  cpmsLimits: CpmsLimits;
  callTimeoutMs: number;
  registry?: Registry;
}

/** One limit to write: a session's TxProfile or a station's failsafe TxDefaultProfile. */
export interface Send {
  station: AssignedStation;
  version: '1.6' | '2.0.1';
  purpose: ProfilePurpose;
  place: number;
  transactionId: string | null;
  fromA: number | null;
  toA: number;
  phases: number;
  reason: string;
}

export function createSender(options: SenderOptions) {
  const { db, log, cpmsLimits } = options;
  const key = (tenantId: number, identity: string) => `${tenantId}/${identity}`;
  const capabilities = new Map<string, Promise<Capabilities>>();
  const calls = options.registry
    ? new Counter({ name: 'ocpp_broker_smart_profile_calls_total', help: 'SetChargingProfile calls of dispatch, by outcome', labelNames: ['outcome'], registers: [options.registry] })
    : undefined;
  const uncontrollableEvents = options.registry
    ? new Counter({ name: 'ocpp_broker_smart_uncontrollable_total', help: 'Stations marked uncontrollable, by reason', labelNames: ['reason'], registers: [options.registry] })
    : undefined;

  /** The station's capabilities, read once per connection before its first profile. */
  function capabilitiesOf(tenantId: number, identity: string, version: '1.6' | '2.0.1'): Promise<Capabilities> {
    const k = key(tenantId, identity);
    let read = capabilities.get(k);
    if (read) return read;
    if (capabilities.size >= CAPABILITIES_LIMIT) capabilities.delete(capabilities.keys().next().value!);
    const broker = options.broker();
    read = (async () => {
      try {
        if (version === '1.6') {
          return capabilities16(await broker.call(tenantId, identity, 'GetConfiguration', { key: [...CONFIGURATION_KEYS] }, { timeoutMs: options.callTimeoutMs }));
        }
        return capabilities201(await broker.call(tenantId, identity, 'GetVariables', getVariablesRequest(), { timeoutMs: options.callTimeoutMs }));
      } catch (error) {
        if (error instanceof OwnCallError && (error.code === 'GONE' || error.code === 'NOT_CONNECTED')) capabilities.delete(k);
        return DEFAULT_CAPABILITIES;
      }
    })();
    capabilities.set(k, read);
    return read;
  }

  function uncontrollable(site: SiteView, identity: string, reason: string, detail: Record<string, unknown>) {
    if (!markUncontrollable(db, site.tenantId, identity, reason, new Date())) return;
    uncontrollableEvents?.inc({ reason });
    log.warn({ event: 'smart.uncontrollable', siteId: site.id, identity, reason, ...detail }, 'smart charging: station marked uncontrollable, counted at its maximum');
  }

  /** One SetChargingProfile, with everything that follows from its answer. */
  async function send(site: SiteView, s: Send, priority: 'high' | 'normal'): Promise<Outcome> {
    const broker = options.broker();
    const { tenantId } = site;
    const identity = s.station.identity;
    const caps = await capabilitiesOf(tenantId, identity, s.version);
    let outcome: Outcome;
    const level = stackLevelAbove(cpmsLimits.maxStackLevel(tenantId, identity, s.purpose), caps);
    if (!caps.enabled) {
      outcome = 'NotEnabled';
      uncontrollable(site, identity, 'not-enabled', { purpose: s.purpose });
    } else if (level === undefined) {
      outcome = 'NoStackLevel';
      uncontrollable(site, identity, 'stack-level', { purpose: s.purpose, maxStackLevel: caps.maxStackLevel });
    } else {
      const spec = { ...s, version: s.version, stackLevel: level, limitA: s.toA, voltageV: site.voltageV, amps: caps.amps };
      const { payload, profile } = setChargingProfile(spec);
      try {
        outcome = answerStatus(await broker.call(tenantId, identity, 'SetChargingProfile', payload, { priority, timeoutMs: options.callTimeoutMs }));
      } catch (error) {
        outcome = error instanceof OwnCallError ? error.code : 'ERROR';
      }
      if (outcome === 'Accepted') {
        saveBrokerProfile(db, {
          tenantId,
          identity,
          profileId: profileIdFor(s.place),
          purpose: s.purpose,
          stackLevel: level,
          evseId: s.place,
          transactionId: s.transactionId,
          profile,
          limitA: s.toA,
        });
        if (clearUncontrollable(db, tenantId, identity)) {
          log.info({ event: 'smart.controllable', siteId: site.id, identity }, 'smart charging: station accepts profiles again');
        }
      } else if (outcome === 'Rejected' || outcome === 'NotSupported' || outcome === 'CALL_ERROR' || outcome === 'Invalid') {
        uncontrollable(site, identity, 'rejected', { purpose: s.purpose, outcome });
      }
    }
    calls?.inc({ outcome });
    logLimitChange(db, {
      siteId: site.id,
      identity,
      transactionId: s.transactionId,
      purpose: s.purpose,
      fromA: s.fromA,
      toA: s.toA,
      reason: s.reason,
      outcome,
      at: new Date(),
    });
    return outcome;
  }

  return {
    send,
    uncontrollable,
    /** The station's connection ended: its capabilities are read again on the next one. */
    forget(tenantId: number, identity: string) {
      capabilities.delete(key(tenantId, identity));
    },
  };
}
