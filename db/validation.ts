import { createInsertSchema } from 'drizzle-zod';
import { z } from 'zod';
import { tenants } from './schema.ts';

/** Lower-case letters, digits and inner hyphens: the slug is a path segment of every station URL. */
export const slugSchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(63, 'At most 63 characters')
  .regex(
    /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/,
    'Lower-case letters, digits and inner hyphens only',
  );

/**
 * The CPMS endpoint a station would be configured with; the broker appends `/<identity>`.
 * A query, a fragment or credentials in it would break that or leak a secret into lists and logs.
 */
export const cpmsUrlSchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'Not a valid URL' });
      return;
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      ctx.addIssue({ code: 'custom', message: 'Must start with ws:// or wss://' });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: 'Must not contain credentials' });
    } else if (url.search || url.hash) {
      ctx.addIssue({ code: 'custom', message: 'Must not contain a query or fragment' });
    }
  })
  .transform((value) => value.replace(/\/+$/, ''));

export const tenantCreateSchema = createInsertSchema(tenants, {
  name: (s) => s.trim().min(1, 'Required').max(100, 'At most 100 characters'),
  slug: () => slugSchema,
  cpmsUrl: () => cpmsUrlSchema,
}).pick({ name: true, slug: true, cpmsUrl: true, enabled: true });

/** The slug is fixed after creation: stations are configured with it. */
export const tenantUpdateSchema = tenantCreateSchema
  .omit({ slug: true })
  .partial()
  .extend({ id: z.number().int().positive() });

export type TenantCreate = z.infer<typeof tenantCreateSchema>;
export type TenantUpdate = z.infer<typeof tenantUpdateSchema>;

export const roleSchema = z.enum(['admin', 'viewer']);

/** Usernames are compared in lower case. */
export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'Required')
  .max(64, 'At most 64 characters')
  .regex(/^[a-z0-9._@-]+$/, 'Letters, digits and . _ @ - only');

export const passwordSchema = z.string().min(12, 'At least 12 characters').max(1024, 'At most 1024 characters');

export const credentialsSchema = z.object({ username: usernameSchema, password: passwordSchema });

export const userCreateSchema = credentialsSchema.extend({ role: roleSchema });

export const userUpdateSchema = z.object({
  id: z.number().int().positive(),
  role: roleSchema.optional(),
  password: passwordSchema.optional(),
});

export const tokenCreateSchema = z.object({
  name: z.string().trim().min(1, 'Required').max(100, 'At most 100 characters'),
  /** ISO date-time; none for a token that does not expire. */
  expiresAt: z.coerce
    .date()
    .refine((date) => date.getTime() > Date.now(), 'Must be in the future')
    .nullable()
    .default(null),
});
