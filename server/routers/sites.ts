import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { createSite, getSite, LIMIT_CHANGES_PAGE_MAX, limitChangesOfSite, listSites, loadPerMinute, removeSite, stationsOfSite, updateSite, type SiteView } from '../../db/sites.ts';
import { getTenant } from '../../db/tenants.ts';
import { limitKwAt } from '../smart/live.ts';
import { siteView } from '../smart/site-view.ts';
import { siteCreateSchema, siteLimitSchema, siteUpdateSchema } from '../../contract/sites.ts';
import { adminProcedure, audit, audited, found as foundOr, router, viewerProcedure, type Context } from '../trpc.ts';

const byId = z.object({ id: z.number().int().positive() });
const HOUR_MS = 3_600_000;
/** Sites per tenant: a bound, far above any real operator's. */
export const MAX_SITES_PER_TENANT = 200;

const found = (site: SiteView | undefined) => foundOr(site, 'site');

function target(ctx: Context, site: SiteView): string {
  return `site:${getTenant(ctx.db, site.tenantId)?.slug}/${site.name}`;
}

/**
 * A tenant's sites: stations behind one grid connection that share its current (smart charging). `get` brings the
 * offers in force (what dispatch sent, server/smart/) and the allocation now; `limitChanges` what dispatch sent.
 */
export const sitesRouter = router({
  list: viewerProcedure
    .input(z.object({ tenantId: z.number().int().positive() }))
    .query(({ ctx, input }) => listSites(ctx.db, input.tenantId).map((site) => ({ ...site, stations: stationsOfSite(ctx.db, site.id).length }))),

  /**
   * The site now: its budget, each open session's offer in force (sent, or computed and not sent) against its measured
   * current (stale when older than 2 minutes or its station is offline), the stations not controlled, and the totals.
   */
  get: viewerProcedure.input(byId).query(({ ctx, input }) => {
    const site = found(getSite(ctx.db, input.id));
    const tenant = getTenant(ctx.db, site.tenantId);
    const view = siteView(site, { db: ctx.db, links: ctx.broker.stations(site.tenantId), silentAfterMs: ctx.offline.stationSilentAfterMs, now: Date.now() });
    return { ...view, smartCharging: tenant?.smartCharging ?? false };
  }),

  /** The limits the broker sent the site's stations, with their answers: newest first, `before` the last id seen. */
  limitChanges: viewerProcedure
    .input(byId.extend({ limit: z.number().int().min(1).max(LIMIT_CHANGES_PAGE_MAX).default(20), before: z.number().int().positive().optional() }))
    .query(({ ctx, input }) => {
      found(getSite(ctx.db, input.id));
      return limitChangesOfSite(ctx.db, input.id, input);
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
    return audited(ctx, input, () => {
      const site = createSite(ctx.db, input);
      audit(ctx, 'site.create', target(ctx, site), { after: site });
      return site;
    });
  }),

  update: adminProcedure.input(siteUpdateSchema).mutation(({ ctx, input }) => {
    const before = found(getSite(ctx.db, input.id));
    const merged = siteLimitSchema.safeParse({ gridLimitA: input.gridLimitA === undefined ? before.gridLimitA : input.gridLimitA, gridLimitKw: input.gridLimitKw === undefined ? before.gridLimitKw : input.gridLimitKw });
    if (!merged.success) throw new TRPCError({ code: 'BAD_REQUEST', cause: merged.error });
    const after = audited(ctx, input, () => {
      const after = found(updateSite(ctx.db, input));
      audit(ctx, 'site.update', target(ctx, after), { before, after });
      return after;
    });
    ctx.smart?.siteChanged(after.id);
    return after;
  }),

  /** Its stations stay registered, assigned to no site. */
  remove: adminProcedure.input(byId).mutation(({ ctx, input }) => {
    const before = found(getSite(ctx.db, input.id));
    audited(ctx, input, () => {
      removeSite(ctx.db, input.id);
      audit(ctx, 'site.remove', target(ctx, before), { before });
    });
    ctx.smart?.siteChanged(input.id);
    return { id: input.id };
  }),
});
