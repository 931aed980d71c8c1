import { z } from 'zod';
import { router, viewerProcedure } from '../trpc.ts';
import { dashboard } from '../dashboard.ts';

export const connectionsRouter = router({
  /**
   * The connection log, newest first: stations opened, refused and closed. `tenantId: null` lists what matched no
   * tenant (unknown slugs, paths without one). Hints may name tenants: they are for signed-in users only.
   */
  list: viewerProcedure
    .input(
      z.object({
        tenantId: z.number().int().positive().nullable().optional(),
        identity: z.string().min(1).max(100).optional(),
        kind: z.enum(['opened', 'refused', 'closed']).optional(),
        beforeId: z.number().int().positive().optional(),
        limit: z.number().int().min(1).max(500).default(50),
      }),
    )
    .query(({ ctx, input }) => ctx.connections.list(input)),

  /** Per tenant: stations online and offline and the CPMS's health; and every alert active now. */
  dashboard: viewerProcedure.query(({ ctx }) => dashboard(ctx)),
});
