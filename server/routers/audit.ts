import { z } from 'zod';
import { listAudit } from '../../db/audit.ts';
import { router, viewerProcedure } from '../trpc.ts';

export const auditRouter = router({
  /** Newest first. Page with `beforeId` = the last id seen. */
  list: viewerProcedure
    .input(
      z
        .object({
          action: z.string().trim().max(100).optional(),
          actor: z.string().trim().max(100).optional(),
          from: z.coerce.date().optional(),
          to: z.coerce.date().optional(),
          beforeId: z.number().int().positive().optional(),
          limit: z.number().int().min(1).max(500).default(100),
        })
        .default({ limit: 100 }),
    )
    .query(({ ctx, input }) => listAudit(ctx.db, input)),
});
