import { z } from 'zod';
import { createToken, digest, getToken, listTokens, revokeToken } from '../../db/users.ts';
import { tokenCreateSchema } from '../../contract/index.ts';
import { newApiToken } from '../auth/actor.ts';
import { adminProcedure, audit, audited, found, router } from '../trpc.ts';

export const tokensRouter = router({
  list: adminProcedure.query(({ ctx }) => listTokens(ctx.db)),

  /** The token itself is in this answer only; the broker keeps its SHA-256. It acts with its creator's role. */
  create: adminProcedure.input(tokenCreateSchema).mutation(({ ctx, input }) => {
    const token = newApiToken();
    const view = audited(ctx, input, () => {
      const view = createToken(ctx.db, { name: input.name, tokenHash: digest(token), userId: ctx.actor.user.id, expiresAt: input.expiresAt });
      audit(ctx, 'token.create', `token:${view.name}`, { after: view });
      return view;
    });
    return { ...view, token };
  }),

  revoke: adminProcedure.input(z.object({ id: z.number().int().positive() })).mutation(({ ctx, input }) => {
    const before = found(getToken(ctx.db, input.id), 'token');
    return audited(ctx, input, () => {
      revokeToken(ctx.db, input.id, new Date());
      const after = getToken(ctx.db, input.id);
      audit(ctx, 'token.revoke', `token:${before.name}`, { before, after });
      return after;
    });
  }),
});
