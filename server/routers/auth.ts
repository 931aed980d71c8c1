import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { countAdmins, removeSession } from '../../db/users.ts';
import { credentialsSchema, passwordSchema } from '../../contract/index.ts';
import { createAdmin, setPassword } from '../accounts.ts';
import { actorName, clearedSessionCookie, sessionCookie, startSession } from '../auth/actor.ts';
import { hashPassword } from '../auth/password.ts';
import { isOwnHost, ownHostNames } from '../own-host.ts';
import { checkPassword, orBusy } from './password-checks.ts';
import { publicProcedure, router, viewerProcedure, type Context } from '../trpc.ts';

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
    const passwordHash = await orBusy(() => hashPassword(input.password));
    const user = createAdmin(ctx.db, { username: input.username, passwordHash }, { actor: `setup:${input.username}`, remoteAddress: ctx.remoteAddress }, { onlyFirst: true });
    if (!user) throw new TRPCError({ code: 'FORBIDDEN', message: 'An admin exists already' });
    ctx.log.info({ event: 'auth.setup', username: user.username, remoteAddress: ctx.remoteAddress }, 'first admin created');
    signIn(ctx, user.id);
    return { username: user.username, role: user.role };
  }),

  /** Public; throttled (server/auth/login-throttle.ts). */
  login: publicProcedure
    .input(z.object({ username: z.string().trim().toLowerCase().max(64), password: z.string().max(1024) }))
    .mutation(async ({ ctx, input }) => {
      if (countAdmins(ctx.db) === 0) {
        throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'Create the first admin first' });
      }
      const user = await checkPassword(ctx, input.username, input.password);
      if (!user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Wrong username or password' });
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

  /**
   * Any user may change their own password, throttled as sign-ins are; their other sessions and all their API tokens
   * end (the one making this call too).
   */
  changePassword: viewerProcedure
    .input(z.object({ currentPassword: z.string().max(1024), newPassword: passwordSchema }))
    .mutation(async ({ ctx, input }) => {
      const login = await checkPassword(ctx, ctx.actor.user.username, input.currentPassword);
      if (!login) throw new TRPCError({ code: 'BAD_REQUEST', message: 'The current password is wrong' });
      const passwordHash = await orBusy(() => hashPassword(input.newPassword));
      const tokensRevoked = setPassword(ctx.db, login, passwordHash, { actor: actorName(ctx.actor), remoteAddress: ctx.remoteAddress });
      if (ctx.actor.via === 'session') signIn(ctx, login.id);
      return { changed: true, tokensRevoked };
    }),
});
