import { z } from 'zod';

/** `admin` may do everything, `viewer` only read. */
export const ROLES = ['admin', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const roleSchema = z.enum(ROLES);

/** Usernames are compared in lower case. */
export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'Required')
  .max(64, 'At most 64 characters')
  .regex(/^[a-z0-9._@-]+$/, 'Letters, digits and . _ @ - only');

/** The shortest password of an account. */
export const PASSWORD_MIN_LENGTH = 12;

export const passwordSchema = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `At least ${PASSWORD_MIN_LENGTH} characters`)
  .max(1024, 'At most 1024 characters');

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

/**
 * The most calls one tRPC batch request may carry (larger ones are refused with 400); the UI's client splits its
 * batches to fit. Each sign-in in a batch is throttled on its own.
 */
export const MAX_BATCH_SIZE = 10;
