import { TRPCClientError } from '@trpc/client';
import { z } from 'zod';
import { duration, when } from './format.ts';

/** Messages per form field, as `z.flattenError(…).fieldErrors` gives them. */
export type FieldErrors = Partial<Record<string, string[]>>;

/** One radio of a group: its value, its name, and what it means. */
export interface Choice<V> {
  value: V;
  name: string;
  explanation?: string;
}

export type Checked<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

/** Checks a form with the schema the server uses, so both give the same messages. */
export function check<S extends z.ZodType>(schema: S, values: unknown): Checked<z.output<S>> {
  const result = schema.safeParse(values);
  return result.success ? { ok: true, data: result.data } : { ok: false, errors: z.flattenError(result.error).fieldErrors };
}

/** `check`, and also that a password was typed the same twice: a message under `repeat` when not. */
export function checkRepeated<S extends z.ZodType>(
  schema: S,
  values: Record<string, unknown>,
  field: string,
  repeat: string,
): Checked<z.output<S>> {
  const checked = check(schema, values);
  if (values[field] === values[repeat]) return checked;
  return { ok: false, errors: { ...(checked.ok ? {} : checked.errors), [repeat]: ['Does not match the password above'] } };
}

/**
 * What a failed call means for a form: field messages from the server's validation (`data.fieldErrors`) or from an
 * error code that belongs to one field (e.g. `{ CONFLICT: 'slug' }`), otherwise one message for the form. A
 * TOO_MANY_REQUESTS says when to try again (`data.retryAfterSeconds`), after `messages.TOO_MANY_REQUESTS` when given
 * (unless the broker was only busy: then its own message).
 */
export function refusal(
  error: unknown,
  fieldOfCode: Record<string, string> = {},
  messages: Record<string, string> = {},
  now = new Date(),
): { fields: FieldErrors; message?: string } {
  if (!(error instanceof TRPCClientError)) {
    return { fields: {}, message: error instanceof Error ? error.message : String(error) };
  }
  const data = error.data as { code?: string; fieldErrors?: FieldErrors; retryAfterSeconds?: number; reason?: string } | undefined;
  if (data?.fieldErrors && Object.keys(data.fieldErrors).length > 0) {
    return { fields: data.fieldErrors, message: 'The broker refused some fields; see below.' };
  }
  const field = data?.code ? fieldOfCode[data.code] : undefined;
  if (field) return { fields: { [field]: [error.message] } };
  const seconds = data?.retryAfterSeconds;
  // `reason: 'busy'`: the broker is checking too many passwords at once, which says nothing of this user's tries.
  if (data?.code === 'TOO_MANY_REQUESTS' && data.reason === 'busy') return { fields: {}, message: error.message };
  if (data?.code === 'TOO_MANY_REQUESTS' && seconds) {
    const at = new Date(now.getTime() + seconds * 1000).toISOString();
    return { fields: {}, message: `${messages.TOO_MANY_REQUESTS ?? 'Too many attempts.'} Try again in ${duration(seconds)} (at ${when(at, now)}).` };
  }
  return { fields: {}, message: (data?.code && messages[data.code]) || error.message };
}

/** The tRPC error code of a failed call (`NOT_FOUND`, `PRECONDITION_FAILED`, …), if it is one. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof TRPCClientError ? (error.data as { code?: string } | undefined)?.code : undefined;
}

/** What every labelled field takes besides its element's own attributes (Field, PemField). */
export interface FieldProps {
  label: string;
  value: string;
  hint?: string;
  /** The field's messages from the form's action; the first is shown and announced. */
  errors?: string[];
}

/** The ids a field's input names in aria-describedby: its hint's and its error's, when it has them. */
export function describedBy(id: string, hint: string | undefined, error: string | undefined): string | undefined {
  return [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
}
