import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { allTransactions, energyByDriverMonth, listTransactions, samplesOf, stationDetail, stationSeries } from '../../db/reports.ts';
import { escapeCell } from '../csv-cell.ts';
import { router, viewerProcedure } from '../trpc.ts';

const filter = z.object({
  tenantId: z.number().int().positive().optional(),
  identity: z.string().min(1).optional(),
  driverId: z.number().int().positive().optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
});

const station = z.object({ tenantId: z.number().int().positive(), identity: z.string().min(1) });

export const transactionsRouter = router({
  /** Newest first, with the driver's email when the badge is known. */
  list: viewerProcedure
    .input(filter.extend({ limit: z.number().int().min(1).max(500).default(50), offset: z.number().int().min(0).default(0) }))
    .query(({ ctx, input: { limit, offset, ...rest } }) => listTransactions(ctx.db, rest, { limit, offset })),

  samples: viewerProcedure.input(z.object({ id: z.number().int().positive() })).query(({ ctx, input }) => samplesOf(ctx.db, input.id)),

  energyByDriverMonth: viewerProcedure.input(filter).query(({ ctx, input }) => energyByDriverMonth(ctx.db, input)),

  /**
   * The transactions of a tenant and period as CSV (UTC ISO times, Wh). Text cells, much of it chosen by stations
   * (identity, badge, transaction id), are escaped against spreadsheet formulas; numbers are written as numbers.
   */
  export: viewerProcedure.input(filter.extend({ tenantId: z.number().int().positive() })).query(({ ctx, input }) =>
    stringify(
      allTransactions(ctx.db, input).map((t) => ({
        station: t.identity,
        transaction_id: t.transactionId,
        evse: t.evseId,
        connector: t.connectorId,
        badge: t.badgeId,
        driver_email: t.driverEmail,
        started_at: t.startedAt?.toISOString(),
        stopped_at: t.stoppedAt?.toISOString(),
        meter_start_wh: t.meterStartWh,
        meter_stop_wh: t.meterStopWh,
        energy_wh: t.energyWh,
        stop_reason: t.stopReason,
        state: t.state,
      })),
      {
        header: true,
        cast: { string: escapeCell },
        columns: ['station', 'transaction_id', 'evse', 'connector', 'badge', 'driver_email', 'started_at', 'stopped_at', 'meter_start_wh', 'meter_stop_wh', 'energy_wh', 'stop_reason', 'state'],
      },
    ),
  ),

  /** A station's boot facts, connector states and active transactions. */
  station: viewerProcedure.input(station).query(({ ctx, input }) => stationDetail(ctx.db, input.tenantId, input.identity)),

  /** Power and energy samples of a station (default: the last 24 hours, or all of one transaction), for the chart. */
  series: viewerProcedure
    .input(station.extend({ from: z.coerce.date().optional(), to: z.coerce.date().optional(), transactionRef: z.number().int().positive().optional() }))
    .query(({ ctx, input }) => {
      const from = input.from ?? (input.transactionRef === undefined ? new Date(Date.now() - 24 * 60 * 60_000) : new Date(0));
      return stationSeries(ctx.db, input.tenantId, input.identity, from, input.to ?? new Date(), input.transactionRef);
    }),
});
