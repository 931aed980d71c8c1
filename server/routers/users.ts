import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { countAdmins, createUser, endSessionsAndTokensOf, getUser, listUsers, removeUser, updateUser, type UserView } from '../../db/users.ts';
import { userCreateSchema, userUpdateSchema } from '../../contract/index.ts';
import { hashPassword } from '../auth/password.ts';
import { adminProcedure, audit, audited, found as foundOr, router } from '../trpc.ts';
import { orBusy } from './password-checks.ts';

const found = (user: UserView | undefined) => foundOr(user, 'user');

const lastAdmin = () => new TRPCError({ code: 'PRECONDITION_FAILED', message: 'The last admin cannot be removed or demoted' });

export const usersRouter = router({
  list: adminProcedure.query(({ ctx }) => listUsers(ctx.db)),

  create: adminProcedure.input(userCreateSchema).mutation(async ({ ctx, input }) => {
    const passwordHash = await orBusy(() => hashPassword(input.password));
    return audited(ctx, input, () => {
      const user = createUser(ctx.db, { username: input.username, passwordHash, role: input.role });
      audit(ctx, 'user.create', `user:${user.username}`, { after: user });
      return user;
    });
  }),

  /** A new password ends the user's sessions and API tokens. */
  update: adminProcedure.input(userUpdateSchema).mutation(async ({ ctx, input }) => {
    const password = input.password;
    const passwordHash = password === undefined ? undefined : await orBusy(() => hashPassword(password));
    return audited(ctx, input, () => {
      const before = found(getUser(ctx.db, input.id));
      if (before.role === 'admin' && input.role === 'viewer' && countAdmins(ctx.db) === 1) throw lastAdmin();
      const after = found(updateUser(ctx.db, input.id, { role: input.role, passwordHash }));
      const tokensRevoked = passwordHash ? endSessionsAndTokensOf(ctx.db, input.id) : 0;
      audit(ctx, 'user.update', `user:${after.username}`, {
        before,
        after: passwordHash ? { ...after, password: 'changed', tokensRevoked } : after,
      });
      return { ...after, tokensRevoked };
    });
  }),

  remove: adminProcedure.input(z.object({ id: z.number().int().positive() })).mutation(({ ctx, input }) =>
    audited(ctx, input, () => {
      const before = found(getUser(ctx.db, input.id));
      if (before.role === 'admin' && countAdmins(ctx.db) === 1) throw lastAdmin();
      removeUser(ctx.db, input.id);
      audit(ctx, 'user.remove', `user:${before.username}`, { before });
      return { id: input.id };
    }),
  ),
});
