import { and, asc, count, desc, eq, gte, inArray, isNull, lte, max, sql, type SQL } from 'drizzle-orm';
import type { Db } from './index.ts';
import { connectorStatus, drivers, meterSamples, stationFacts, transactions } from './schema.ts';

export interface TransactionFilter {
  tenantId?: number;
  identity?: string;
  driverId?: number;
  /** Started at or after. */
  from?: Date;
  /** Started before. */
  to?: Date;
}

function conditions(filter: TransactionFilter): SQL | undefined {
  return and(
    filter.tenantId === undefined ? undefined : eq(transactions.tenantId, filter.tenantId),
    filter.identity === undefined ? undefined : eq(transactions.identity, filter.identity),
    filter.driverId === undefined ? undefined : eq(transactions.driverId, filter.driverId),
    filter.from === undefined ? undefined : gte(transactions.startedAt, filter.from),
    filter.to === undefined ? undefined : sql`${transactions.startedAt} < ${filter.to.getTime()}`,
  );
}

const transactionColumns = {
  id: transactions.id,
  tenantId: transactions.tenantId,
  identity: transactions.identity,
  ocppVersion: transactions.ocppVersion,
  transactionId: transactions.transactionId,
  evseId: transactions.evseId,
  connectorId: transactions.connectorId,
  badgeId: transactions.badgeId,
  driverId: transactions.driverId,
  driverEmail: drivers.email,
  startedAt: transactions.startedAt,
  stoppedAt: transactions.stoppedAt,
  meterStartWh: transactions.meterStartWh,
  meterStopWh: transactions.meterStopWh,
  energyWh: transactions.energyWh,
  stopReason: transactions.stopReason,
  state: transactions.state,
};

/** Newest first. */
export function listTransactions(db: Db, filter: TransactionFilter, page: { limit: number; offset: number }) {
  const where = conditions(filter);
  return {
    total: db.select({ n: count() }).from(transactions).where(where).get()!.n,
    transactions: db
      .select(transactionColumns)
      .from(transactions)
      .leftJoin(drivers, eq(drivers.id, transactions.driverId))
      .where(where)
      .orderBy(desc(transactions.startedAt), desc(transactions.id))
      .limit(page.limit)
      .offset(page.offset)
      .all(),
  };
}

/** Every transaction of the filter, oldest first, for a CSV export. */
export function allTransactions(db: Db, filter: TransactionFilter) {
  return db.select(transactionColumns).from(transactions).leftJoin(drivers, eq(drivers.id, transactions.driverId)).where(conditions(filter)).orderBy(asc(transactions.startedAt)).all();
}

/** Energy and sessions per driver per calendar month (UTC) of the start; sessions of unknown badges under a null driver. */
export function energyByDriverMonth(db: Db, filter: TransactionFilter) {
  const month = sql<string>`strftime('%Y-%m', ${transactions.startedAt} / 1000, 'unixepoch')`;
  return db
    .select({
      month,
      driverId: transactions.driverId,
      email: drivers.email,
      sessions: count(),
      energyWh: sql<number>`coalesce(sum(${transactions.energyWh}), 0)`,
    })
    .from(transactions)
    .leftJoin(drivers, eq(drivers.id, transactions.driverId))
    .where(and(conditions(filter), sql`${transactions.startedAt} is not null`))
    .groupBy(month, transactions.driverId)
    .orderBy(desc(month), drivers.email)
    .all();
}

/**
 * What the broker knows of one station: its boot facts, connectors, its transactions now active with their last
 * power reading, and when it last heard of the station (the latest of its boot, statuses and readings).
 * OCPP 1.6 connectors come with `evseId` null: the observer stores them under EVSE 0, which in 2.0.1 terms is the
 * station as a whole (2.0.1 StatusNotifications always name an EVSE from 1).
 */
export function stationDetail(db: Db, tenantId: number, identity: string) {
  const ofStation = and(eq(meterSamples.tenantId, tenantId), eq(meterSamples.identity, identity));
  const facts = db
    .select({
      vendor: stationFacts.vendor,
      model: stationFacts.model,
      serialNumber: stationFacts.serialNumber,
      firmwareVersion: stationFacts.firmwareVersion,
      bootedAt: stationFacts.bootedAt,
    })
    .from(stationFacts)
    .where(and(eq(stationFacts.tenantId, tenantId), eq(stationFacts.identity, identity)))
    .get();
  const connectors = db
    .select({ evseId: connectorStatus.evseId, connectorId: connectorStatus.connectorId, status: connectorStatus.status, errorCode: connectorStatus.errorCode, at: connectorStatus.at })
    .from(connectorStatus)
    .where(and(eq(connectorStatus.tenantId, tenantId), eq(connectorStatus.identity, identity)))
    .orderBy(connectorStatus.evseId, connectorStatus.connectorId)
    .all()
    .map((c) => ({ ...c, evseId: c.evseId === 0 ? null : c.evseId }));
  const active = listTransactions(db, { tenantId, identity }, { limit: 20, offset: 0 })
    .transactions.filter((t) => t.state === 'active')
    .map((t) => {
      const power = db
        .select({ value: meterSamples.value, at: meterSamples.at })
        .from(meterSamples)
        .where(and(eq(meterSamples.transactionRef, t.id), eq(meterSamples.measurand, 'Power.Active.Import'), isNull(meterSamples.phase)))
        .orderBy(desc(meterSamples.at))
        .limit(1)
        .get();
      const reading = db.select({ at: max(meterSamples.at) }).from(meterSamples).where(eq(meterSamples.transactionRef, t.id)).get();
      return { ...t, powerW: power?.value ?? null, powerAt: power?.at ?? null, lastReadingAt: reading?.at ?? null };
    });
  const lastSample = db.select({ at: max(meterSamples.at) }).from(meterSamples).where(ofStation).get()?.at ?? null;
  const heard = [facts?.bootedAt, lastSample, ...connectors.map((c) => c.at)].filter((at): at is Date => at instanceof Date);
  const lastHeardAt = heard.length === 0 ? null : new Date(Math.max(...heard.map((at) => at.getTime())));
  return { facts: facts ?? null, connectors, active, lastHeardAt };
}

/** Power (W) and energy register (Wh) samples of a station over a period, oldest first, for a chart. */
export function stationSeries(db: Db, tenantId: number, identity: string, from: Date, to: Date, transactionRef?: number) {
  return db
    .select({ at: meterSamples.at, measurand: meterSamples.measurand, value: meterSamples.value, transactionRef: meterSamples.transactionRef })
    .from(meterSamples)
    .where(
      and(
        eq(meterSamples.tenantId, tenantId),
        eq(meterSamples.identity, identity),
        gte(meterSamples.at, from),
        lte(meterSamples.at, to),
        inArray(meterSamples.measurand, ['Power.Active.Import', 'Energy.Active.Import.Register']),
        isNull(meterSamples.phase),
        transactionRef === undefined ? undefined : eq(meterSamples.transactionRef, transactionRef),
      ),
    )
    .orderBy(asc(meterSamples.at))
    .limit(20_000)
    .all();
}

/** The samples of one transaction (for tests and the session view). */
export function samplesOf(db: Db, transactionRef: number) {
  return db.select().from(meterSamples).where(eq(meterSamples.transactionRef, transactionRef)).orderBy(asc(meterSamples.at), asc(meterSamples.id)).all();
}
