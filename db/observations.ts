import type Database from 'better-sqlite3';
import { badgeMatchKey, isEnergyRegister } from '../contract/index.ts';

/**
 * The observation writer's half of the database: plain better-sqlite3 statements, each prepared once, so that the
 * writer's thread never loads the ORM and never builds or prepares a query per observation. Table and column names
 * are those of db/schema.ts (timestamps in ms since the epoch, as its `timestamp_ms` columns store them).
 */

/** A measurement, normalized (server/observers/samples.ts). */
export interface SampleRow {
  at: Date;
  measurand: string;
  phase: string | null;
  location: string | null;
  context: string | null;
  unit: string | null;
  value: number;
}

interface Where {
  tenantId: number;
  identity: string;
}

/**
 * What the traffic said, read by the writer's thread from the frames (server/observers/read.ts). Plain data, applied
 * in order; each one is idempotent, so a message a station sends twice changes nothing the second time.
 */
export type Observation = Where &
  (
    | { kind: 'identified'; at: Date; action: string; badgeId: string; answer: string | null }
    | { kind: 'boot'; at: Date; vendor: string; model: string; serialNumber: string | null; firmwareVersion: string | null }
    | { kind: 'status'; at: Date; evseId: number; connectorId: number; status: string; errorCode: string | null }
    | { kind: 'started16'; at: Date; transactionId: string; connectorId: number; badgeId: string; meterStartWh: number }
    | { kind: 'stopped16'; at: Date; transactionId: string; meterStopWh: number; reason: string | null; badgeId: string | null; samples: SampleRow[] }
    | { kind: 'meter'; evseId: number | null; connectorId: number | null; transactionId: string | null; samples: SampleRow[] }
    | {
        kind: 'event201';
        at: Date;
        eventType: 'Started' | 'Updated' | 'Ended';
        transactionId: string;
        evseId: number | null;
        connectorId: number | null;
        badgeId: string | null;
        stoppedReason: string | null;
        samples: SampleRow[];
      }
  );

export interface Failure {
  kind: Observation['kind'];
  tenantId: number;
  identity: string;
  error: string;
}

/** What one batch did. */
export interface BatchResult {
  /** Sample rows inserted (a replayed sample is not inserted again, and not counted). */
  samples: number;
  /** Indexes (in the batch) of the units that could not be written, with why. */
  failed: { index: number; failure: Failure }[];
}

interface TransactionRow {
  id: number;
  ocppVersion: '1.6' | '2.0.1';
  evseId: number | null;
  connectorId: number | null;
  badgeId: string | null;
  driverId: number | null;
  startedAt: number | null;
  stoppedAt: number | null;
  meterStartWh: number | null;
  meterStopWh: number | null;
  energyWh: number | null;
  stopReason: string | null;
  state: 'active' | 'completed';
}

const TRANSACTION_COLUMNS = `id, ocpp_version as ocppVersion, evse_id as evseId, connector_id as connectorId, badge_id as badgeId,
  driver_id as driverId, started_at as startedAt, stopped_at as stoppedAt, meter_start_wh as meterStartWh,
  meter_stop_wh as meterStopWh, energy_wh as energyWh, stop_reason as stopReason, state`;

/** OCPP 1.6 stations send -1 for a transaction the CPMS never numbered: it ties to nothing. */
const NO_TRANSACTION = '-1';

export type ObservationStore = ReturnType<typeof createObservationStore>;

/**
 * Prepares every statement the writer needs, once, on `sqlite` (a connection to a migrated database).
 * `afterUnit` is a test seam: called inside a batch's transaction after each unit is applied.
 */
export function createObservationStore(sqlite: Database.Database, options: { afterUnit?: (index: number) => void } = {}) {
  const q = {
    driverOf: sqlite.prepare<[number, string], { id: number }>(
      'select drivers.id from badges join drivers on drivers.id = badges.driver_id where badges.tenant_id = ? and badges.match_key = ?',
    ),
    identified: sqlite.prepare(
      'insert into identifications (tenant_id, identity, at, action, badge_id, answer, driver_id) values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing',
    ),
    boot: sqlite.prepare(
      `insert into station_facts (tenant_id, identity, vendor, model, serial_number, firmware_version, booted_at) values (?, ?, ?, ?, ?, ?, ?)
       on conflict (tenant_id, identity) do update set vendor = excluded.vendor, model = excluded.model,
         serial_number = excluded.serial_number, firmware_version = excluded.firmware_version, booted_at = excluded.booted_at`,
    ),
    status: sqlite.prepare(
      // An older notification replayed late changes nothing.
      `insert into connector_status (tenant_id, identity, evse_id, connector_id, status, error_code, at) values (?, ?, ?, ?, ?, ?, ?)
       on conflict (tenant_id, identity, evse_id, connector_id) do update set status = excluded.status,
         error_code = excluded.error_code, at = excluded.at where connector_status.at <= excluded.at`,
    ),
    findTransaction: sqlite.prepare<[number, string, string], TransactionRow>(
      `select ${TRANSACTION_COLUMNS} from transactions where tenant_id = ? and identity = ? and transaction_id = ?`,
    ),
    createTransaction: sqlite.prepare<[number, string, string, string, number], TransactionRow>(
      `insert into transactions (tenant_id, identity, ocpp_version, transaction_id, updated_at) values (?, ?, ?, ?, ?) returning ${TRANSACTION_COLUMNS}`,
    ),
    activeOnConnector: sqlite.prepare<[number, string, number], TransactionRow>(
      `select ${TRANSACTION_COLUMNS} from transactions where tenant_id = ? and identity = ? and state = 'active' and connector_id = ?`,
    ),
    activeOnEvse: sqlite.prepare<[number, string, number], TransactionRow>(
      `select ${TRANSACTION_COLUMNS} from transactions where tenant_id = ? and identity = ? and state = 'active' and evse_id = ?`,
    ),
    started16: sqlite.prepare(
      'update transactions set started_at = ?, connector_id = ?, meter_start_wh = ?, badge_id = ?, driver_id = ?, energy_wh = ?, updated_at = ? where id = ?',
    ),
    stopped16: sqlite.prepare(
      `update transactions set stopped_at = ?, meter_stop_wh = ?, energy_wh = ?, stop_reason = ?, state = 'completed', badge_id = ?, driver_id = ?,
         updated_at = ? where id = ?`,
    ),
    event201: sqlite.prepare(
      `update transactions set started_at = ?, stopped_at = ?, stop_reason = ?, state = ?, evse_id = ?, connector_id = ?, badge_id = ?,
         driver_id = ?, meter_start_wh = ?, meter_stop_wh = ?, energy_wh = ?, updated_at = ? where id = ?`,
    ),
    meterRange: sqlite.prepare('update transactions set meter_start_wh = ?, meter_stop_wh = ?, energy_wh = ?, updated_at = ? where id = ?'),
    energySoFar: sqlite.prepare('update transactions set energy_wh = ?, updated_at = ? where id = ?'),
    sample: sqlite.prepare(
      `insert into meter_samples (tenant_id, identity, evse_id, connector_id, transaction_ref, at, measurand, phase, location, context, unit, value)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing`,
    ),
  };

  const driverOf = (tenantId: number, badgeId: string): number | null => q.driverOf.get(tenantId, badgeMatchKey(badgeId))?.id ?? null;

  function findOrCreate(where: Where, ocppVersion: '1.6' | '2.0.1', transactionId: string): TransactionRow {
    return (
      q.findTransaction.get(where.tenantId, where.identity, transactionId) ??
      q.createTransaction.get(where.tenantId, where.identity, ocppVersion, transactionId, Date.now())!
    );
  }

  /** 1.6 MeterValues may leave out the transaction: the one active on that connector, if any. */
  function activeOn(where: Where, evseId: number | null, connectorId: number | null): TransactionRow | undefined {
    if (evseId !== null) return q.activeOnEvse.get(where.tenantId, where.identity, evseId);
    if (connectorId !== null) return q.activeOnConnector.get(where.tenantId, where.identity, connectorId);
    return undefined;
  }

  function insertSamples(where: Where, place: { evseId: number | null; connectorId: number | null; transactionRef: number | null }, samples: SampleRow[]): number {
    let inserted = 0;
    for (const s of samples) {
      inserted += q.sample.run(
        where.tenantId,
        where.identity,
        place.evseId,
        place.connectorId,
        place.transactionRef,
        s.at.getTime(),
        s.measurand,
        s.phase,
        s.location,
        s.context,
        s.unit,
        s.value,
      ).changes;
    }
    return inserted;
  }

  /**
   * The energy of a session still charging, from the register readings of its MeterValues. 2.0.1: the lowest and
   * highest readings, as for TransactionEvents. 1.6: from the meterStart of StartTransaction; meterStop stays for
   * StopTransaction.
   */
  function updateEnergySoFar(row: TransactionRow, registers: number[]): void {
    if (registers.length === 0) return;
    if (row.ocppVersion === '2.0.1') {
      const meterStartWh = min(row.meterStartWh, registers);
      const meterStopWh = max(row.meterStopWh, registers);
      const energyWh = meterStartWh === null || meterStopWh === null ? null : energy(meterStartWh, meterStopWh);
      q.meterRange.run(meterStartWh, meterStopWh, energyWh, Date.now(), row.id);
    } else if (row.meterStartWh !== null) {
      const soFar = energy(row.meterStartWh, max(null, registers)!);
      q.energySoFar.run(soFar === null ? row.energyWh : max(row.energyWh, [soFar]), Date.now(), row.id);
    }
  }

  /** Applies one observation; returns the sample rows it inserted. */
  function apply(o: Observation): number {
    switch (o.kind) {
      case 'identified':
        q.identified.run(o.tenantId, o.identity, o.at.getTime(), o.action, o.badgeId, o.answer, driverOf(o.tenantId, o.badgeId));
        return 0;
      case 'boot':
        q.boot.run(o.tenantId, o.identity, o.vendor, o.model, o.serialNumber, o.firmwareVersion, o.at.getTime());
        return 0;
      case 'status':
        q.status.run(o.tenantId, o.identity, o.evseId, o.connectorId, o.status, o.errorCode, o.at.getTime());
        return 0;
      case 'started16': {
        if (o.transactionId === NO_TRANSACTION) return 0;
        const row = findOrCreate(o, '1.6', o.transactionId);
        if (row.startedAt !== null) return 0; // a replayed start
        q.started16.run(
          o.at.getTime(),
          o.connectorId,
          o.meterStartWh,
          row.badgeId ?? o.badgeId,
          row.driverId ?? driverOf(o.tenantId, o.badgeId),
          row.meterStopWh === null ? null : energy(o.meterStartWh, row.meterStopWh),
          Date.now(),
          row.id,
        );
        return 0;
      }
      case 'stopped16': {
        if (o.transactionId === NO_TRANSACTION) return insertSamples(o, { evseId: null, connectorId: null, transactionRef: null }, o.samples);
        const row = findOrCreate(o, '1.6', o.transactionId);
        if (row.state === 'completed') return 0; // a duplicated StopTransaction, e.g. after a reboot
        const badgeId = row.badgeId ?? o.badgeId;
        q.stopped16.run(
          o.at.getTime(),
          o.meterStopWh,
          row.meterStartWh === null ? null : energy(row.meterStartWh, o.meterStopWh),
          o.reason,
          badgeId,
          row.driverId ?? (badgeId ? driverOf(o.tenantId, badgeId) : null),
          Date.now(),
          row.id,
        );
        return insertSamples(o, { evseId: null, connectorId: row.connectorId, transactionRef: row.id }, o.samples);
      }
      case 'meter': {
        const row =
          o.transactionId !== null && o.transactionId !== NO_TRANSACTION
            ? findOrCreate(o, o.evseId === null ? '1.6' : '2.0.1', o.transactionId)
            : activeOn(o, o.evseId, o.connectorId);
        const inserted = insertSamples(o, { evseId: o.evseId, connectorId: o.connectorId, transactionRef: row?.id ?? null }, o.samples);
        if (row?.state === 'active') updateEnergySoFar(row, registersOf(o.samples));
        return inserted;
      }
      case 'event201': {
        const row = findOrCreate(o, '2.0.1', o.transactionId);
        const registers = registersOf(o.samples);
        const meterStartWh = min(row.meterStartWh, registers);
        const meterStopWh = max(row.meterStopWh, registers);
        const badgeId = row.badgeId ?? o.badgeId;
        const ended = o.eventType === 'Ended';
        const at = o.at.getTime();
        q.event201.run(
          // Events may arrive late and out of order (offline): the start is the earliest time seen, a Started event's first.
          o.eventType === 'Started' ? (row.startedAt === null || at < row.startedAt ? at : row.startedAt) : (row.startedAt ?? at),
          ended ? (row.stoppedAt ?? at) : row.stoppedAt,
          ended ? (row.stopReason ?? o.stoppedReason) : row.stopReason,
          ended || row.state === 'completed' ? 'completed' : 'active',
          row.evseId ?? o.evseId,
          row.connectorId ?? o.connectorId,
          badgeId,
          row.driverId ?? (badgeId ? driverOf(o.tenantId, badgeId) : null),
          meterStartWh,
          meterStopWh,
          meterStartWh === null || meterStopWh === null ? null : energy(meterStartWh, meterStopWh),
          Date.now(),
          row.id,
        );
        return insertSamples(o, { evseId: o.evseId ?? row.evseId, connectorId: o.connectorId ?? row.connectorId, transactionRef: row.id }, o.samples);
      }
    }
  }

  const applyUnits = (units: Observation[][]): number => {
    let samples = 0;
    for (let i = 0; i < units.length; i++) {
      for (const observation of units[i]!) samples += apply(observation);
      options.afterUnit?.(i);
    }
    return samples;
  };
  // Immediate: take the write lock first, so that a concurrent writer (an import) makes this wait, not fail.
  const inOneTransaction = sqlite.transaction(applyUnits).immediate;

  return {
    /**
     * Applies a batch of units (the observations of one frame each) in one transaction; when that fails, one unit at
     * a time, so that one bad unit (e.g. of a tenant removed meanwhile) loses only itself.
     */
    write(units: Observation[][]): BatchResult {
      try {
        return { samples: inOneTransaction(units), failed: [] };
      } catch {
        const result: BatchResult = { samples: 0, failed: [] };
        units.forEach((unit, index) => {
          try {
            result.samples += inOneTransaction([unit]);
          } catch (error) {
            const first = unit[0]!;
            result.failed.push({ index, failure: { kind: first.kind, tenantId: first.tenantId, identity: first.identity, error: String(error) } });
          }
        });
        return result;
      }
    },
  };
}

/** The readings of the energy register (Wh, all phases together) among samples. */
function registersOf(samples: SampleRow[]): number[] {
  const registers: number[] = [];
  for (const s of samples) if (isEnergyRegister(s)) registers.push(s.value);
  return registers;
}

/** Energy from two register readings; a meter that went backwards (replaced, reset) gives no figure rather than a wrong one. */
function energy(startWh: number, stopWh: number): number | null {
  return stopWh >= startWh ? stopWh - startWh : null;
}

/** The lowest of `current` (null: none yet) and `values`; a loop, as a frame may carry more values than a call has arguments. */
function min(current: number | null, values: number[]): number | null {
  let lowest = current;
  for (const v of values) if (lowest === null || v < lowest) lowest = v;
  return lowest;
}

function max(current: number | null, values: number[]): number | null {
  let highest = current;
  for (const v of values) if (highest === null || v > highest) highest = v;
  return highest;
}
