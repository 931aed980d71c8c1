import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  createStation,
  getStation,
  listStations,
  removeStation,
  updateStation,
  type StationView,
} from '../../db/stations.ts';
import { getTenant } from '../../db/tenants.ts';
import { identityWarning, stationCreateSchema, stationPasswordSchema } from '../../contract/index.ts';
import { getSite } from '../../db/sites.ts';
import { assignmentFields } from '../../contract/sites.ts';
import { hashStationPassword, stationPasswordKey } from '../auth/station-password.ts';
import { sealContext } from '../directory.ts';
import { adminProcedure, audit, audited, found as foundOr, router, viewerProcedure, type Context } from '../trpc.ts';
import { CloseReason } from '../../broker/close-codes.ts';

const byId = z.object({ id: z.number().int().positive() });

const found = (station: StationView | undefined) => foundOr(station, 'station');

function target(ctx: Context, station: StationView): string {
  return `station:${getTenant(ctx.db, station.tenantId)?.slug}/${station.identity}`;
}

/**
 * The stations each tenant knows, with their credentials: the station's own password (profiles 1 and 2), the
 * password the broker sends the CPMS for it, and the fingerprint its client certificate must have (profile 3).
 * Secrets go in and never come out: answers say only whether they are set.
 */
export const registryRouter = router({
  list: viewerProcedure
    .input(z.object({ tenantId: z.number().int().positive() }))
    .query(({ ctx, input }) => listStations(ctx.db, input.tenantId)),

  create: adminProcedure.input(stationCreateSchema).mutation(({ ctx, input }) => {
    foundOr(getTenant(ctx.db, input.tenantId), 'tenant');
    const station = audited(ctx, input, () => {
      const station = createStation(ctx.db, input);
      audit(ctx, 'station.create', target(ctx, station), { after: station });
      return station;
    });
    // Registered all the same: the identity is legal, but stations that do not percent-encode it will not reach it.
    return { ...station, warning: identityWarning(station.identity) ?? null };
  }),

  update: adminProcedure
    .input(
      byId.extend({
        description: z.string().trim().max(200).optional(),
        /** SHA-256 as `AB:CD:…` (what the certificates page shows), or null for none. */
        certificateFingerprint: z
          .string()
          .trim()
          .toUpperCase()
          .regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'A SHA-256 fingerprint, as AB:CD:…')
          .nullable()
          .optional(),
        /**
         * Clears the mark dispatch sets when the station rejects profiles or draws more than offered, so that it is
         * controlled again (and marked again if it still does not comply). Only dispatch sets it.
         */
        uncontrollable: z.literal(false).optional(),
      }).extend(assignmentFields.partial().shape),
    )
    /** Also its place in smart charging: site (of the same tenant), maximum current, phases, priority, excluded. */
    .mutation(({ ctx, input: { id, uncontrollable, ...assigned } }) => {
      const changes = uncontrollable === false ? { ...assigned, uncontrollable, uncontrollableReason: null, uncontrollableSince: null } : assigned;
      const { before, after } = audited(ctx, changes, () => {
        const before = found(getStation(ctx.db, id));
        if (changes.siteId != null && getSite(ctx.db, changes.siteId)?.tenantId !== before.tenantId) {
          const issues = z.object({ siteId: z.never({ error: 'No such site of this tenant' }) }).safeParse({ siteId: changes.siteId });
          throw new TRPCError({ code: 'BAD_REQUEST', message: 'No such site of this tenant', cause: issues.error });
        }
        const after = found(updateStation(ctx.db, id, changes));
        audit(ctx, 'station.update', target(ctx, after), { before, after });
        return { before, after };
      });
      ctx.smart?.stationChanged(after.tenantId, after.identity, before.siteId);
      return after;
    }),

  /** Sets or rotates the station's Basic auth password; null removes it. Stored as a hash of its bytes. */
  setPassword: adminProcedure
    .input(byId.extend({ password: stationPasswordSchema.nullable() }))
    .mutation(({ ctx, input }) => {
      found(getStation(ctx.db, input.id));
      const passwordHash = input.password === null ? null : hashStationPassword(input.password, stationPasswordKey(ctx.sealer));
      return audited(ctx, {}, () => {
        const after = found(updateStation(ctx.db, input.id, { passwordHash }));
        audit(ctx, 'station.password', target(ctx, after), { after: { passwordSet: after.passwordSet } });
        return after;
      });
    }),

  /** Sets the password the broker sends the CPMS for this station (CPMS profiles 1 and 2); sealed; null removes it. */
  setCpmsPassword: adminProcedure
    .input(byId.extend({ password: stationPasswordSchema.nullable() }))
    .mutation(({ ctx, input }) => {
      found(getStation(ctx.db, input.id));
      const sealed = input.password === null ? null : ctx.sealer.seal(Buffer.from(input.password), sealContext.cpmsPassword(input.id));
      return audited(ctx, {}, () => {
        const after = found(updateStation(ctx.db, input.id, { cpmsPasswordSealed: sealed }));
        audit(ctx, 'station.cpms_password', target(ctx, after), { after: { cpmsPasswordSet: after.cpmsPasswordSet } });
        return after;
      });
    }),

  remove: adminProcedure.input(byId).mutation(({ ctx, input }) => {
    const before = found(getStation(ctx.db, input.id));
    ctx.broker.disconnect(before.tenantId, before.identity, CloseReason.STATION_REMOVED);
    const removed = audited(ctx, input, () => {
      removeStation(ctx.db, input.id);
      audit(ctx, 'station.remove', target(ctx, before), { before });
      return { id: input.id };
    });
    ctx.smart?.stationChanged(before.tenantId, before.identity, before.siteId);
    return removed;
  }),
});
