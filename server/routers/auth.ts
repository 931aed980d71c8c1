import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { appendAudit, countAdmins, createUser, findLogin, removeSession, removeSessionsOf, updateUser } from '../../db/accounts.ts';
import { credentialsSchema, passwordSchema } from '../../db/validation.ts';
import { clearedSessionCookie, sessionCookie, startSession } from '../auth/actor.ts';
import { dummyHash, hashPassword, verifyPassword } from '../auth/password.ts';
import { isOwnHost, ownHostNames } from '../own-host.ts';
import { audit, publicProcedure, router, viewerProcedure, type Context } from '../trpc.ts';

function signIn(ctx: Context, userId: number): void {
  ctx.setCookie(sessionCookie(startSession(ctx.db, userId), ctx.secure));
}

/** Names shown in the refusal, at most. */
const HOSTS_SHOWN = 12;

/**
 * Until the first admin exists, whoever reaches the setup becomes it. A page on another site can reach it too, from
 * a browser on the LAN, through a name of its own that it points at the broker (DNS rebinding): the browser then
 * sends that name as `Host`. So the setup answers only at the names and addresses of this machine.
 */
function refuseForeignHost(ctx: Context): void {
  if (ctx.requestHost === undefined || isOwnHost(ctx.requestHost, ctx.host)) return;
  const names = ownHostNames(ctx.host);
  const shown = names.slice(0, HOSTS_SHOWN).join(', ') + (names.length > HOSTS_SHOWN ? ', …' : '');
  throw new TRPCError({
    code: 'FORBIDDEN',
    message: `The first admin can be set up only at this machine's own name or address (${shown}), not at ${ctx.requestHost}: open the UI at one of them`,
  });
}

export const authRouter = router({
  /**
   * Public: whether the first admin must still be created (the UI then shows the setup page). While it must,
   * FORBIDDEN for a Host that is not this machine's.
   */
  status: publicProcedure.query(({ ctx }) => {
    const setupRequired = countAdmins(ctx.db) === 0;
    if (setupRequired) refuseForeignHost(ctx);
    return { setupRequired };
  }),

  /** Public, once, at this machine's own names: creates the first admin and signs it in. Refused once an admin exists. */
  setup: publicProcedure.input(credentialsSchema).mutation(async ({ ctx, input }) => {
    refuseForeignHost(ctx);
    const passwordHash = await hashPassword(input.password);
    const user = ctx.db.transaction(() => {
      if (countAdmins(ctx.db) > 0) throw new TRPCError({ code: 'FORBIDDEN', message: 'An admin exists already' });
      return createUser(ctx.db, { username: input.username, passwordHash, role: 'admin' });
    });
    ctx.log.info({ event: 'auth.setup', username: user.username, remoteAddress: ctx.remoteAddress }, 'first admin created');
    appendAudit(ctx.db, { actor: `setup:${user.username}`, action: 'user.create', target: `user:${user.username}`, after: user, remoteAddress: ctx.remoteAddress });
    signIn(ctx, user.id);
    return { username: user.username, role: user.role };
  }),

  /** Public. Five failures for a username or from an address within 15 minutes block both for the rest of that time. */
  login: publicProcedure
    .input(z.object({ username: z.string().trim().toLowerCase().max(64), password: z.string().max(1024) }))
    .mutation(async ({ ctx, input }) => {
      if (countAdmins(ctx.db) === 0) {
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'Create the first admin first' });
      }
      const keys = [`user:${input.username}`, `ip:${ctx.remoteAddress}`];
      const waitMs = ctx.throttle.retryAfterMs(keys);
      if (waitMs > 0) {
        const retryAfterSeconds = Math.ceil(waitMs / 1000);
        throw new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: `Too many failed logins: try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s)`,
          cause: Object.assign(new Error('throttled'), { retryAfterSeconds }),
        });
      }
      const user = findLogin(ctx.db, input.username);
      const valid = await verifyPassword(input.password, user?.passwordHash ?? (await dummyHash()));
      if (!user || !valid) {
        ctx.throttle.fail(keys);
        ctx.metrics.adminLoginFailed();
        ctx.log.warn({ event: 'login.failed', username: input.username, remoteAddress: ctx.remoteAddress }, 'login failed');
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Wrong username or password' });
      }
      // Both counts start afresh: a colleague's typos behind the same office address lock nobody out for long.
      for (const key of keys) ctx.throttle.forget(key);
      ctx.log.info({ event: 'login', username: user.username, remoteAddress: ctx.remoteAddress }, 'signed in');
      signIn(ctx, user.id);
      return { username: user.username, role: user.role };
    }),

  logout: viewerProcedure.mutation(({ ctx }) => {
    if (ctx.actor.via === 'session') removeSession(ctx.db, ctx.actor.sessionIdHash);
    ctx.setCookie(clearedSessionCookie(ctx.secure));
    return { signedOut: true };
  }),

  /** The signed-in user, and the ports the broker listens on (for the station URLs the UI shows). */
  me: viewerProcedure.query(({ ctx }) => ({
    username: ctx.actor.user.username,
    role: ctx.actor.user.role,
    via: ctx.actor.via,
    ports: ctx.listening,
  })),

  /** Any user may change their own password; their other sessions end. */
  changePassword: viewerProcedure
    .input(z.object({ currentPassword: z.string().max(1024), newPassword: passwordSchema }))
    .mutation(async ({ ctx, input }) => {
      const login = findLogin(ctx.db, ctx.actor.user.username);
      if (!login || !(await verifyPassword(input.currentPassword, login.passwordHash))) {
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'The current password is wrong' });
      }
      updateUser(ctx.db, login.id, { passwordHash: await hashPassword(input.newPassword) });
      removeSessionsOf(ctx.db, login.id);
      if (ctx.actor.via === 'session') signIn(ctx, login.id);
      audit(ctx, 'user.password', `user:${login.username}`);
      return { changed: true };
    }),
});
