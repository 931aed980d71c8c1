import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { createSite, getSite, listSites, loadPerMinute, removeSite, stationsOfSite, updateSite, type SiteView } from '../../db/sites.ts';
import { getTenant } from '../../db/tenants.ts';
import { limitKwAt, liveAllocation } from '../smart/live.ts';
import { siteCreateSchema, siteLimitSchema, siteUpdateSchema } from '../../contract/sites.ts';
import { adminProcedure, audit, router, viewerProcedure, type Context } from '../trpc.ts';

const byId = z.object({ id: z.number().int().positive() });
const HOUR_MS = 3_600_000;
/** Sites per tenant: a bound, far above any real operator's. */
export const MAX_SITES_PER_TENANT = 200;

function found(site: SiteView | undefined): SiteView {
  if (!site) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such site' });
  return site;
}

function target(ctx: Context, site: SiteView): string {
  return `site:${getTenant(ctx.db, site.tenantId)?.slug}/${site.name}`;
}

function unique<T>(name: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new TRPCError({ code: 'CONFLICT', message: `A site "${name}" exists already` });
    throw error;
  }
}

/**
 * A tenant's sites: stations behind one grid connection that share its current (smart charging). `get` brings the
 * allocation now, computed from the sessions the broker has seen; dispatch (sending the offers as profiles) follows.
 */
export const sitesRouter = router({
  list: viewerProcedure
    .input(z.object({ tenantId: z.number().int().positive() }))
    .query(({ ctx, input }) => listSites(ctx.db, input.tenantId).map((site) => ({ ...site, stations: stationsOfSite(ctx.db, site.id).length }))),

  /** The site, its stations, and the allocation now: the budget and an offer per open session, against its measured current. */
  get: viewerProcedure.input(byId).query(({ ctx, input }) => {
    const site = found(getSite(ctx.db, input.id));
    const tenant = getTenant(ctx.db, site.tenantId);
    const now = Date.now();
    const { allocation, stations, sessions } = liveAllocation(ctx.db, site, now);
    const offers = allocation.offers.map((offer) => {
      const session = sessions.find((s) => s.key === offer.sessionId)!;
      return {
        ...offer,
        identity: session.identity,
        transactionRef: session.id,
        transactionId: session.transactionId,
        evseId: session.evseId,
        connectorId: session.connectorId,
        startedAt: session.startedAt,
        status: session.status,
        measuredA: session.measuredA,
        measuredAt: session.currentAt ?? session.powerAt,
      };
    });
    const uncontrolled = sessions
      .filter((s) => !allocation.offers.some((o) => o.sessionId === s.key))
      .map((s) => ({ identity: s.identity, transactionRef: s.id, transactionId: s.transactionId, measuredA: s.measuredA, status: s.status }));
    return { site, smartCharging: tenant?.smartCharging ?? false, at: new Date(now), budget: allocation.budget, offeredA: allocation.offeredA, offers, uncontrolled, stations };
  }),

  /** The site's load (its stations' power, summed per minute) against its limit, over the last `hours`. */
  load: viewerProcedure.input(byId.extend({ hours: z.number().int().min(1).max(48).default(24) })).query(({ ctx, input }) => {
    const site = found(getSite(ctx.db, input.id));
    const to = Date.now();
    const from = to - input.hours * HOUR_MS;
    const identities = stationsOfSite(ctx.db, site.id).map((s) => s.identity);
    const load = loadPerMinute(ctx.db, site.tenantId, identities, new Date(from), new Date(to));
    // The limit per 15 minutes is enough for a chart (schedule windows start on the quarter hour in practice) and bounded.
    const limit: { at: Date; kw: number }[] = [];
    for (let at = from - (from % (15 * 60_000)); at <= to; at += 15 * 60_000) limit.push({ at: new Date(at), kw: limitKwAt(site, at) });
    return { from: new Date(from), to: new Date(to), load: load.map((p) => ({ at: p.at, kw: p.watts / 1000 })), limit };
  }),

  create: adminProcedure.input(siteCreateSchema).mutation(({ ctx, input }) => {
    if (!getTenant(ctx.db, input.tenantId)) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such tenant' });
    if (listSites(ctx.db, input.tenantId).length >= MAX_SITES_PER_TENANT) {
      throw new TRPCError({ code: 'PRECONDITION_FAILED', message: `A tenant has at most ${MAX_SITES_PER_TENANT} sites` });
    }
    return unique(input.name, () =>
      ctx.db.transaction(() => {
        const site = createSite(ctx.db, input);
        audit(ctx, 'site.create', target(ctx, site), { after: site });
        return site;
      }),
    );
  }),

  update: adminProcedure.input(siteUpdateSchema).mutation(({ ctx, input }) => {
    const before = found(getSite(ctx.db, input.id));
    const merged = siteLimitSchema.safeParse({ gridLimitA: input.gridLimitA === undefined ? before.gridLimitA : input.gridLimitA, gridLimitKw: input.gridLimitKw === undefined ? before.gridLimitKw : input.gridLimitKw });
    if (!merged.success) throw new TRPCError({ code: 'BAD_REQUEST', cause: merged.error });
    return unique(input.name ?? before.name, () =>
      ctx.db.transaction(() => {
        const after = found(updateSite(ctx.db, input));
        audit(ctx, 'site.update', target(ctx, after), { before, after });
        return after;
      }),
    );
  }),

  /** Its stations stay registered, assigned to no site. */
  remove: adminProcedure.input(byId).mutation(({ ctx, input }) => {
    const before = found(getSite(ctx.db, input.id));
    ctx.db.transaction(() => {
      removeSite(ctx.db, input.id);
      audit(ctx, 'site.remove', target(ctx, before), { before });
    });
    return { id: input.id };
  }),
});
