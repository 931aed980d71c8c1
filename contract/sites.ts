/**
 * What the API accepts for sites and station assignments: zod only, so the UI's forms check the same rules (no ORM in
 * the browser bundle). Limits are per phase in A; a site needs a limit in A or in kW (or both: the lower applies).
 */
import { z } from 'zod';
import { isTimeZone, parseClock, type ScheduleWindow } from './schedule.ts';

const amps = (max: number) => z.number().min(0, 'Not negative').max(max, `At most ${max} A`);

const clockSchema = z.string().trim().refine((c) => parseClock(c) !== undefined, 'A time as HH:MM, 00:00 to 24:00');

export const scheduleWindowSchema = z
  .object({
    weekdays: z
      .array(z.number().int().min(1).max(7))
      .min(1, 'At least one weekday')
      .max(7)
      .transform((days) => [...new Set(days)].sort() as ScheduleWindow['weekdays']),
    from: clockSchema.refine((c) => c !== '24:00', 'A window starts by 23:59'),
    to: clockSchema,
    limitA: amps(10_000),
  })
  .transform((w): ScheduleWindow => w);

export const siteFields = z.object({
  name: z.string().trim().min(1, 'Required').max(100, 'At most 100 characters'),
  gridLimitA: amps(10_000).nullable(),
  gridLimitKw: z.number().min(0, 'Not negative').max(100_000, 'At most 100000 kW').nullable(),
  phases: z.literal([1, 3], '1 or 3'),
  voltageV: z.number().min(100, 'From 100 to 480 V').max(480, 'From 100 to 480 V'),
  safetyMarginPct: z.number().min(0, 'From 0 to 50 %').max(50, 'From 0 to 50 %'),
  /** IEC 61851-1: 6 A. */
  minCurrentA: z.number().min(1, 'From 1 to 32 A').max(32, 'From 1 to 32 A'),
  failsafeCurrentA: amps(1_000),
  timeZone: z.string().trim().refine(isTimeZone, 'An IANA time zone, e.g. Europe/Brussels'),
  schedule: z.array(scheduleWindowSchema).max(50, 'At most 50 windows'),
});

export type SiteFields = z.infer<typeof siteFields>;

/** A site needs a limit: in A per phase, in kW, or both. */
export function siteProblems(site: Partial<Pick<SiteFields, 'gridLimitA' | 'gridLimitKw'>>): { path: string; message: string }[] {
  return site.gridLimitA == null && site.gridLimitKw == null ? [{ path: 'gridLimitA', message: 'A limit in A or in kW' }] : [];
}

const refineSite = (site: Partial<SiteFields>, ctx: z.RefinementCtx) => {
  for (const problem of siteProblems(site)) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
};

/** Optional fields take the database's defaults (3 phases, 230 V, 0 % margin, 6 A minimum and failsafe, UTC, no schedule). */
export const siteCreateSchema = siteFields
  .partial()
  .required({ name: true })
  .extend({ tenantId: z.number().int().positive() })
  .superRefine(refineSite);

/** The router checks the limit on the merged result. */
export const siteUpdateSchema = siteFields.partial().extend({ id: z.number().int().positive() });

export const siteLimitSchema = z.object({ gridLimitA: z.number().nullable(), gridLimitKw: z.number().nullable() }).superRefine(refineSite);

export type SiteCreate = z.infer<typeof siteCreateSchema>;
export type SiteUpdate = z.infer<typeof siteUpdateSchema>;

/** A registered station's place in smart charging (through `registry.update`). */
export const assignmentFields = z.object({
  /** Null: not part of a site. */
  siteId: z.number().int().positive().nullable(),
  maxCurrentA: z.number().min(0, 'Not negative').max(1_000, 'At most 1000 A'),
  phases: z.literal([1, 3], '1 or 3'),
  phase: z.enum(['L1', 'L2', 'L3']),
  priority: z.number().int().min(0, 'From 0 to 9').max(9, 'From 0 to 9'),
  excluded: z.boolean(),
});
