/**
 * The CPMS keeps its word: every SetChargingProfile / ClearChargingProfile the CPMS sends a station, watched with the
 * station's answer, so that the broker knows the CPMS's own limit for each session (and never offers more), the
 * stackLevels it uses (the broker's go above), and when a broad clear took the broker's profiles too. Under the
 * tenant's policy, the broker may also answer those commands itself ('accept', 'reject'). Only for tenants with smart
 * charging on; README.md "The CPMS's charging commands" says it for operators.
 */
import type { Logger } from 'pino';
import type { RouteHooks } from '../../broker/index.ts';
import { brokerProfileKeys, chargingPolicyOf, cpmsProfileRows, saveCpmsProfiles } from '../../db/cpms-profiles.ts';
import type { Db } from '../../db/index.ts';
import { ocppVersionOf } from '../../contract/index.ts';
import {
  apply,
  clearMatches,
  composite,
  endTransaction,
  isUnqualified,
  maxStackLevel,
  parseCommand,
  parseProfile,
  startTransaction,
  type Applied,
  type InstalledProfile,
  type OcppVersion,
  type ProfileCommand,
} from './charging-profiles.ts';

export interface SessionTarget {
  evseId: number | null;
  connectorId: number | null;
  transactionId: string;
  /** When the session started charging (ms): the start of Relative schedules. Unknown: their lowest period counts. */
  startedAt?: number;
}

export interface CpmsChange {
  tenantId: number;
  identity: string;
  kind: 'set' | 'clear';
  broadClear: boolean;
}

export interface CpmsLimits {
  /**
   * The CPMS's own limit for that session at `at`, A per phase (its profiles in force, W converted with voltageV and
   * the schedule's numberPhases, default 3); null when its profiles set none.
   */
  limitA(tenantId: number, identity: string, target: SessionTarget, at: number, voltageV: number): number | null;
  /** The highest stackLevel the CPMS has installed for that purpose on that station (any evse); null when none. */
  maxStackLevel(tenantId: number, identity: string, purpose: string): number | null;
  /**
   * Called after the station Accepted a CPMS SetChargingProfile or ClearChargingProfile (or the broker accepted it
   * under the 'accept' policy). `broadClear`: the clear may have removed the broker's profiles too (no id, or criteria
   * that match them): apply them again.
   */
  onChange(listener: (change: CpmsChange) => void): () => void;
}

export interface CpmsProfiles extends CpmsLimits {
  /** The route hooks: the policy (answerCpms) and the watching (observe). */
  readonly hooks: RouteHooks;
  /** The CPMS's profiles the broker holds for a station now (read-only). */
  profiles(tenantId: number, identity: string): readonly InstalledProfile[];
}

/** Stations whose CPMS profiles are kept in memory; beyond, those used least recently are read again when needed. */
export const CACHED_STATIONS_LIMIT = 4096;
const WATCHED = new Set(['SetChargingProfile', 'ClearChargingProfile']);

/** A CALL's payload; throws when the frame is not JSON. */
const payloadOf = (frame: Buffer): unknown => (JSON.parse(frame.toString()) as unknown[])[3];

/** What the watching attaches to the CPMS's call in flight (PendingCall.context), to read with the station's answer. */
class Watched {
  readonly command: ProfileCommand;
  constructor(command: ProfileCommand) {
    this.command = command;
  }
}

export function createCpmsLimits(db: Db, log: Logger): CpmsProfiles {
  const cache = new Map<string, InstalledProfile[]>();
  const listeners = new Set<(change: CpmsChange) => void>();
  const keyOf = (tenantId: number, identity: string) => `${tenantId}\n${identity}`;

  function load(tenantId: number, identity: string): InstalledProfile[] {
    const key = keyOf(tenantId, identity);
    let profiles = cache.get(key);
    if (profiles) {
      cache.delete(key); // most recently used last
    } else {
      profiles = [];
      for (const row of cpmsProfileRows(db, tenantId, identity)) {
        const parsed = parseProfile(row.profile);
        if (parsed) profiles.push({ ...parsed, evseId: row.evseId, installedAt: row.installedAt.getTime(), sent: row.profile });
      }
      if (cache.size >= CACHED_STATIONS_LIMIT) cache.delete(cache.keys().next().value!);
    }
    cache.set(key, profiles);
    return profiles;
  }

  function notify(change: CpmsChange): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (error) {
        log.error({ err: error, tenantId: change.tenantId, identity: change.identity }, 'a listener of CPMS profile changes failed');
      }
    }
  }

  /** The broker's own profiles a clear (that the station accepted) may have taken too. */
  function clearsBrokers(tenantId: number, identity: string, command: Extract<ProfileCommand, { action: 'ClearChargingProfile' }>): boolean {
    if (isUnqualified(command)) return true;
    return brokerProfileKeys(db, tenantId, identity).some((p) => clearMatches(command, p));
  }

  /** Stores what the station (or the broker, for it) accepted, and logs the profiles dropped for the bound. */
  function accepted(tenantId: number, identity: string, version: OcppVersion, command: ProfileCommand, now: number): Applied {
    const applied = apply(load(tenantId, identity), command, version, now);
    commit(tenantId, identity, applied);
    for (const p of applied.dropped) {
      log.warn({ event: 'smart.cpms_profile_dropped', tenantId, identity, profileId: p.id, purpose: p.purpose }, 'the oldest CPMS profile of the station was forgotten: too many');
    }
    return applied;
  }

  function commit(tenantId: number, identity: string, change: Pick<Applied, 'profiles' | 'removed' | 'added'>): void {
    saveCpmsProfiles(db, tenantId, identity, change);
    cache.set(keyOf(tenantId, identity), change.profiles);
  }

  /** Forgets the TxProfiles that a transaction's end (or a 1.6 start on their connector) made stale. */
  function forget(tenantId: number, identity: string, stale: (profiles: InstalledProfile[]) => InstalledProfile[]): void {
    const profiles = load(tenantId, identity);
    const removed = stale(profiles);
    if (removed.length > 0) commit(tenantId, identity, { profiles: profiles.filter((p) => !removed.includes(p)), removed, added: [] });
  }

  /** A TxProfile ends with its transaction: 1.6 StopTransaction, 2.0.1 TransactionEvent Ended (read only then). */
  function transactionCall(tenantId: number, identity: string, version: OcppVersion, action: string, frame: Buffer): void {
    if (version === '1.6') {
      if (action !== 'StopTransaction' && action !== 'StartTransaction') return;
    } else if (action !== 'TransactionEvent' || !frame.includes('"Ended"')) {
      return;
    }
    if (!chargingPolicyOf(db, tenantId)?.smartCharging) return;
    const payload = payloadOf(frame) as Record<string, unknown> | null;
    if (typeof payload !== 'object' || payload === null) return;
    if (action === 'StopTransaction') {
      if (Number.isInteger(payload.transactionId)) forget(tenantId, identity, (p) => endTransaction(p, String(payload.transactionId)));
    } else if (action === 'StartTransaction') {
      if (Number.isInteger(payload.connectorId)) forget(tenantId, identity, (p) => startTransaction(p, payload.connectorId as number));
    } else if (payload.eventType === 'Ended') {
      const id = (payload.transactionInfo as { transactionId?: unknown } | undefined)?.transactionId;
      if (typeof id === 'string') forget(tenantId, identity, (p) => endTransaction(p, id));
    }
  }

  return {
    limitA(tenantId, identity, target, at, voltageV) {
      const evseId = target.evseId ?? target.connectorId;
      return composite(load(tenantId, identity), { evseId, transactionId: target.transactionId, startedAt: target.startedAt }, at, voltageV).limitA;
    },
    maxStackLevel: (tenantId, identity, purpose) => maxStackLevel(load(tenantId, identity), purpose),
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    profiles: (tenantId, identity) => load(tenantId, identity),

    hooks: {
      answerCpms(session, call, frame, pending) {
        if (!WATCHED.has(call.action)) return undefined;
        const { tenantId, identity } = session;
        const version = ocppVersionOf(session.subprotocol);
        const policy = chargingPolicyOf(db, tenantId);
        if (!policy?.smartCharging || policy.cpmsChargingPolicy === 'forward') return undefined;
        const set = call.action === 'SetChargingProfile';
        if (policy.cpmsChargingPolicy === 'reject') {
          // ClearChargingProfile has no Rejected (1.6 and 2.0.1: Accepted | Unknown): the broker knows of nothing to clear.
          return JSON.stringify([3, call.id, { status: set ? 'Rejected' : 'Unknown' }]);
        }
        let command: ProfileCommand | undefined;
        try {
          command = parseCommand(version, call.action, payloadOf(frame));
        } catch {
          command = undefined;
        }
        if (!command) {
          // As a station would answer a payload it cannot read (1.6 spells it FormationViolation).
          const code = version === '1.6' ? 'FormationViolation' : 'FormatViolation';
          return JSON.stringify([4, call.id, code, `Not a valid ${call.action}`, {}]);
        }
        try {
          const applied = accepted(tenantId, identity, version, command, Date.now());
          pending.context = new Watched(command);
          notify({ tenantId, identity, kind: set ? 'set' : 'clear', broadClear: false }); // the station's profiles are untouched
          return JSON.stringify([3, call.id, { status: set || applied.removed.length > 0 ? 'Accepted' : 'Unknown' }]);
        } catch (error) {
          log.error({ err: error, tenantId, identity }, 'recording a CPMS charging profile failed');
          return undefined; // forwarded: the station decides, and the answer is watched as usual
        }
      },

      observe(session, from, envelope, frame, call, local) {
        if (local) return; // the broker's own calls, and the calls it answered itself (recorded in answerCpms)
        const { tenantId, identity } = session;
        const version = ocppVersionOf(session.subprotocol);
        try {
          if (from === 'cpms') {
            if (envelope.kind !== 'call' || !WATCHED.has(envelope.action) || call === undefined || call.context !== undefined) return;
            if (!chargingPolicyOf(db, tenantId)?.smartCharging) return;
            const command = parseCommand(version, envelope.action, payloadOf(frame));
            if (command) call.context = new Watched(command);
            return;
          }
          if (envelope.kind === 'result' && call?.context instanceof Watched) {
            const status = (JSON.parse(frame.toString()) as [number, string, { status?: unknown }])[2]?.status;
            if (status !== 'Accepted') return; // Rejected, NotSupported, Unknown: nothing changed on the station
            const { command } = call.context;
            accepted(tenantId, identity, version, command, Date.now());
            const broadClear = command.action === 'ClearChargingProfile' && clearsBrokers(tenantId, identity, command);
            notify({ tenantId, identity, kind: command.action === 'SetChargingProfile' ? 'set' : 'clear', broadClear });
            return;
          }
          if (envelope.kind === 'call') transactionCall(tenantId, identity, version, envelope.action, frame);
        } catch (error) {
          log.error({ err: error, tenantId, identity }, 'watching a CPMS charging profile failed');
        }
      },
    },
  };
}
