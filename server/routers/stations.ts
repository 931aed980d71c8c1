import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { getTenant } from '../../db/tenants.ts';
import { adminProcedure, audit, router, viewerProcedure } from '../trpc.ts';
import { CloseReason } from '../../broker/close-codes.ts';
import { OwnCallError } from '../../broker/index.ts';
import { ConfigurationError, readConfiguration, TRIGGERABLE, triggerMessage } from '../station-config.ts';

const station = z.object({ tenantId: z.number().int().positive(), identity: z.string().min(1).max(48) });

/** An own call's failure as the API says it: the station's CALLERROR code is in the message, never a secret. */
function asTrpcError(error: unknown): unknown {
  if (error instanceof ConfigurationError) return new TRPCError({ code: 'BAD_GATEWAY', message: error.message });
  if (!(error instanceof OwnCallError)) return error;
  const code = ({ CALL_ERROR: 'BAD_GATEWAY', TIMEOUT: 'GATEWAY_TIMEOUT', NOT_CONNECTED: 'NOT_FOUND', GONE: 'NOT_FOUND', BUSY: 'TOO_MANY_REQUESTS' } as const)[error.code];
  return new TRPCError({ code, message: error.message, cause: error });
}

export const stationsRouter = router({
  /** The live links, newest first; optionally of one tenant. */
  list: viewerProcedure
    .input(z.object({ tenantId: z.number().int().positive().optional() }).optional())
    .query(({ ctx, input }) => ctx.broker.stations(input?.tenantId)),

  /** Closes the station link (1000) and its CPMS link. The station will usually reconnect. */
  disconnect: adminProcedure
    .input(z.object({ tenantId: z.number().int().positive(), identity: z.string().min(1) }))
    .mutation(({ ctx, input }) => {
      if (!ctx.broker.disconnect(input.tenantId, input.identity, CloseReason.DISCONNECTED_BY_ADMIN)) {
        throw new TRPCError({ code: 'NOT_FOUND', message: 'That station is not connected' });
      }
      const tenant = getTenant(ctx.db, input.tenantId);
      audit(ctx, 'station.disconnect', `station:${tenant?.slug}/${input.identity}`);
      return { disconnected: true };
    }),

  /** The station's configuration, asked by the broker itself (the CPMS sees none of it): server/station-config.ts. */
  configuration: adminProcedure.input(station).mutation(async ({ ctx, input }) => {
    const tenant = getTenant(ctx.db, input.tenantId);
    audit(ctx, 'station.configuration', `station:${tenant?.slug}/${input.identity}`);
    try {
      return await readConfiguration(ctx.broker, input.tenantId, input.identity);
    } catch (error) {
      throw asTrpcError(error);
    }
  }),

  /** TriggerMessage: the station sends that message (to the CPMS, as usual); returns the station's status. */
  trigger: adminProcedure
    .input(station.extend({ message: z.enum(TRIGGERABLE) }))
    .mutation(async ({ ctx, input }) => {
      const tenant = getTenant(ctx.db, input.tenantId);
      audit(ctx, 'station.trigger', `station:${tenant?.slug}/${input.identity}`, { after: { message: input.message } });
      try {
        return await triggerMessage(ctx.broker, input.tenantId, input.identity, input.message);
      } catch (error) {
        throw asTrpcError(error);
      }
    }),
});
