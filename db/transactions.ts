import { and, eq, lt, sql } from 'drizzle-orm';
import { findDriverByBadge } from './badges.ts';
import type { Db } from './index.ts';
import { connectorStatus, identifications, meterSamples, stationFacts, transactions } from './schema.ts';

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
 * What the observers saw in the traffic, to be written in batches (server/observers/writer.ts). Plain data, applied
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

/**
 * Applies a batch in one transaction; when that fails, one observation at a time, so that one bad observation
 * (e.g. of a tenant removed meanwhile) loses only itself. Returns those that could not be written.
 */
export function applyObservations(db: Db, batch: Observation[]): Failure[] {
  try {
    // Immediate: take the write lock first, so that a concurrent writer (an import) makes this wait, not fail.
    db.transaction(
      () => {
        for (const observation of batch) applyObservation(db, observation);
      },
      { behavior: 'immediate' },
    );
    return [];
  } catch {
    const failures: Failure[] = [];
    for (const observation of batch) {
      try {
        db.transaction(() => applyObservation(db, observation), { behavior: 'immediate' });
      } catch (error) {
        failures.push({ kind: observation.kind, tenantId: observation.tenantId, identity: observation.identity, error: String(error) });
      }
    }
    return failures;
  }
}

/** OCPP 1.6 stations send -1 for a transaction the CPMS never numbered: it ties to nothing. */
const NO_TRANSACTION = '-1';

export function applyObservation(db: Db, o: Observation): void {
  switch (o.kind) {
    case 'identified':
      db.insert(identifications)
        .values({ tenantId: o.tenantId, identity: o.identity, at: o.at, action: o.action, badgeId: o.badgeId, answer: o.answer, driverId: driverOf(db, o.tenantId, o.badgeId) })
        .run();
      return;
    case 'boot': {
      const facts = { vendor: o.vendor, model: o.model, serialNumber: o.serialNumber, firmwareVersion: o.firmwareVersion, bootedAt: o.at };
      db.insert(stationFacts).values({ tenantId: o.tenantId, identity: o.identity, ...facts }).onConflictDoUpdate({ target: [stationFacts.tenantId, stationFacts.identity], set: facts }).run();
      return;
    }
    case 'status': {
      const status = { status: o.status, errorCode: o.errorCode, at: o.at };
      db.insert(connectorStatus)
        .values({ tenantId: o.tenantId, identity: o.identity, evseId: o.evseId, connectorId: o.connectorId, ...status })
        .onConflictDoUpdate({
          target: [connectorStatus.tenantId, connectorStatus.identity, connectorStatus.evseId, connectorStatus.connectorId],
          set: status,
          setWhere: sql`${connectorStatus.at} <= ${o.at.getTime()}`, // an older notification replayed late changes nothing
        })
        .run();
      return;
    }
    case 'started16': {
      if (o.transactionId === NO_TRANSACTION) return;
      const row = findOrCreate(db, o, '1.6', o.transactionId);
      if (row.startedAt !== null) return; // a replayed start
      db.update(transactions)
        .set({
          startedAt: o.at,
          connectorId: o.connectorId,
          meterStartWh: o.meterStartWh,
          badgeId: row.badgeId ?? o.badgeId,
          driverId: row.driverId ?? driverOf(db, o.tenantId, o.badgeId),
          energyWh: row.meterStopWh === null ? null : energy(o.meterStartWh, row.meterStopWh),
          updatedAt: new Date(),
        })
        .where(eq(transactions.id, row.id))
        .run();
      return;
    }
    case 'stopped16': {
      if (o.transactionId === NO_TRANSACTION) {
        insertSamples(db, o, { evseId: null, connectorId: null, transactionRef: null }, o.samples);
        return;
      }
      const row = findOrCreate(db, o, '1.6', o.transactionId);
      if (row.state === 'completed') return; // a duplicated StopTransaction, e.g. after a reboot
      const badgeId = row.badgeId ?? o.badgeId;
      db.update(transactions)
        .set({
          stoppedAt: o.at,
          meterStopWh: o.meterStopWh,
          energyWh: row.meterStartWh === null ? null : energy(row.meterStartWh, o.meterStopWh),
          stopReason: o.reason,
          state: 'completed',
          badgeId,
          driverId: row.driverId ?? (badgeId ? driverOf(db, o.tenantId, badgeId) : null),
          updatedAt: new Date(),
        })
        .where(eq(transactions.id, row.id))
        .run();
      insertSamples(db, o, { evseId: null, connectorId: row.connectorId, transactionRef: row.id }, o.samples);
      return;
    }
    case 'meter': {
      const row =
        o.transactionId !== null && o.transactionId !== NO_TRANSACTION
          ? findOrCreate(db, o, o.evseId === null ? '1.6' : '2.0.1', o.transactionId)
          : activeOn(db, o, o.evseId, o.connectorId);
      insertSamples(db, o, { evseId: o.evseId, connectorId: o.connectorId, transactionRef: row?.id ?? null }, o.samples);
      if (row?.state === 'active') updateEnergySoFar(db, row, registersOf(o.samples));
      return;
    }
    case 'event201': {
      const row = findOrCreate(db, o, '2.0.1', o.transactionId);
      const registers = registersOf(o.samples);
      const meterStartWh = min(row.meterStartWh, ...registers);
      const meterStopWh = max(row.meterStopWh, ...registers);
      const badgeId = row.badgeId ?? o.badgeId;
      const ended = o.eventType === 'Ended';
      db.update(transactions)
        .set({
          // Events may arrive late and out of order (offline): the start is the earliest time seen, a Started event's first.
          startedAt: o.eventType === 'Started' ? earliest(row.startedAt, o.at) : (row.startedAt ?? o.at),
          stoppedAt: ended ? (row.stoppedAt ?? o.at) : row.stoppedAt,
          stopReason: ended ? (row.stopReason ?? o.stoppedReason) : row.stopReason,
          state: ended || row.state === 'completed' ? 'completed' : 'active',
          evseId: row.evseId ?? o.evseId,
          connectorId: row.connectorId ?? o.connectorId,
          badgeId,
          driverId: row.driverId ?? (badgeId ? driverOf(db, o.tenantId, badgeId) : null),
          meterStartWh,
          meterStopWh,
          energyWh: meterStartWh === null || meterStopWh === null ? null : energy(meterStartWh, meterStopWh),
          updatedAt: new Date(),
        })
        .where(eq(transactions.id, row.id))
        .run();
      insertSamples(db, o, { evseId: o.evseId ?? row.evseId, connectorId: o.connectorId ?? row.connectorId, transactionRef: row.id }, o.samples);
      return;
    }
  }
}

/** The readings of the energy register (Wh, all phases together) among samples. */
function registersOf(samples: SampleRow[]): number[] {
  return samples.filter((s) => s.measurand === 'Energy.Active.Import.Register' && s.unit === 'Wh' && s.phase === null).map((s) => s.value);
}

/**
 * The energy of a session still charging, from the register readings of its MeterValues. 2.0.1: the lowest and
 * highest readings, as for TransactionEvents. 1.6: from the meterStart of StartTransaction; meterStop stays for
 * StopTransaction.
 */
function updateEnergySoFar(db: Db, row: typeof transactions.$inferSelect, registers: number[]): void {
  if (registers.length === 0) return;
  if (row.ocppVersion === '2.0.1') {
    const meterStartWh = min(row.meterStartWh, ...registers);
    const meterStopWh = max(row.meterStopWh, ...registers);
    const energyWh = meterStartWh === null || meterStopWh === null ? null : energy(meterStartWh, meterStopWh);
    db.update(transactions).set({ meterStartWh, meterStopWh, energyWh, updatedAt: new Date() }).where(eq(transactions.id, row.id)).run();
  } else if (row.meterStartWh !== null) {
    const energyWh = max(row.energyWh, energy(row.meterStartWh, Math.max(...registers)));
    db.update(transactions).set({ energyWh, updatedAt: new Date() }).where(eq(transactions.id, row.id)).run();
  }
}

function driverOf(db: Db, tenantId: number, badgeId: string): number | null {
  return findDriverByBadge(db, tenantId, badgeId)?.id ?? null;
}

function findOrCreate(db: Db, where: Where, ocppVersion: '1.6' | '2.0.1', transactionId: string) {
  return db
    .insert(transactions)
    .values({ tenantId: where.tenantId, identity: where.identity, ocppVersion, transactionId })
    .onConflictDoUpdate({ target: [transactions.tenantId, transactions.identity, transactions.transactionId], set: { tenantId: sql`tenant_id` } })
    .returning()
    .get();
}

/** 1.6 MeterValues may leave out the transaction: the one active on that connector, if any. */
function activeOn(db: Db, where: Where, evseId: number | null, connectorId: number | null) {
  if (connectorId === null && evseId === null) return undefined;
  return db
    .select()
    .from(transactions)
    .where(
      and(
        eq(transactions.tenantId, where.tenantId),
        eq(transactions.identity, where.identity),
        eq(transactions.state, 'active'),
        evseId === null ? eq(transactions.connectorId, connectorId!) : eq(transactions.evseId, evseId),
      ),
    )
    .get();
}

function insertSamples(db: Db, where: Where, place: { evseId: number | null; connectorId: number | null; transactionRef: number | null }, samples: SampleRow[]): void {
  if (samples.length === 0) return;
  db.insert(meterSamples)
    .values(samples.map((s) => ({ tenantId: where.tenantId, identity: where.identity, ...place, ...s })))
    .onConflictDoNothing()
    .run();
}

/** Energy from two register readings; a meter that went backwards (replaced, reset) gives no figure rather than a wrong one. */
function energy(startWh: number, stopWh: number): number | null {
  return stopWh >= startWh ? stopWh - startWh : null;
}

function min(...values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? Math.min(...present) : null;
}

function max(...values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? Math.max(...present) : null;
}

function earliest(a: Date | null, b: Date): Date {
  return a === null || b < a ? b : a;
}

/** Deletes the samples older than `before` (retention). Returns how many. */
export function pruneSamples(db: Db, before: Date): number {
  return db.delete(meterSamples).where(lt(meterSamples.at, before)).run().changes;
}
