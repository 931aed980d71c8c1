import { tracked, TRPCError } from '@trpc/server';
import { z } from 'zod';
import { getTenant } from '../../db/tenants.ts';
import { TooManyStreams } from '../inspector/index.ts';
import { audit, found, router, viewerProcedure, type Context } from '../trpc.ts';

const station = z.object({
  tenantId: z.number().int().positive(),
  identity: z.string().min(1).max(48),
  /** Badge ids in clear: admins only, and audited. Secrets are masked regardless. */
  reveal: z.boolean().optional(),
  /** Only frames of this action (an answer counts as its call's action). */
  action: z.string().min(1).max(64).optional(),
});

/** The tenant (it must exist), after checking that the caller may reveal badges when asking to. */
function allow(ctx: Context & { actor: NonNullable<Context['actor']> }, input: z.infer<typeof station>, what: string) {
  const tenant = found(getTenant(ctx.db, input.tenantId), 'tenant');
  if (input.reveal) {
    if (ctx.actor.user.role !== 'admin') throw new TRPCError({ code: 'FORBIDDEN', message: 'Only admins can reveal badge ids' });
    audit(ctx, 'inspector.reveal', `station:${tenant.slug}/${input.identity}`, { after: { what } });
  }
}

/** The live message inspector (server/inspector): what each station and its CPMS said lately, in memory only. */
export const inspectorRouter = router({
  /** The frames held for a station, oldest first (the last 200 at most). */
  frames: viewerProcedure.input(station).query(({ ctx, input }) => {
    allow(ctx, input, 'frames');
    const frames = ctx.inspector.frames(input.tenantId, input.identity, { reveal: input.reveal });
    return input.action === undefined ? frames : frames.filter((f) => f.action === input.action);
  }),

  /**
   * New frames of a station as they happen (server-sent events), each tracked by its `seq` so that a reconnecting
   * client gets what it missed, as long as it is still held. A slow client gets `{ kind: 'skipped', count }` where
   * frames were left out.
   */
  stream: viewerProcedure
    .input(station.extend({ lastEventId: z.string().regex(/^\d{1,15}$/).nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      allow(ctx, input, 'stream');
      const after = input.lastEventId ? Number(input.lastEventId) : undefined;
      /** A skipped marker carries the last frame's id: reconnecting after it gets back what is still held. */
      let last = input.lastEventId ?? '0';
      try {
        for await (const event of ctx.inspector.stream(input.tenantId, input.identity, { signal, reveal: input.reveal, after })) {
          if (event.kind === 'frame') {
            last = String(event.frame.seq);
            if (input.action !== undefined && event.frame.action !== input.action) continue;
          }
          yield tracked(last, event);
        }
      } catch (error) {
        if (error instanceof TooManyStreams) throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: error.message });
        throw error;
      }
    }),
});
