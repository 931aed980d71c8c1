import { TRPCClientError } from '@trpc/client';
import { z } from 'zod';

/** Messages per form field, as `z.flattenError(…).fieldErrors` gives them. */
export type FieldErrors = Partial<Record<string, string[]>>;

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
 * What a failed mutation means for a form: field messages from the server's validation (`data.fieldErrors`)
 * or from an error code that belongs to one field (e.g. `{ CONFLICT: 'slug' }`), otherwise one message for the form.
 */
export function refusal(error: unknown, fieldOfCode: Record<string, string> = {}): { fields: FieldErrors; message?: string } {
  if (!(error instanceof TRPCClientError)) {
    return { fields: {}, message: error instanceof Error ? error.message : String(error) };
  }
  const data = error.data as { code?: string; fieldErrors?: FieldErrors } | undefined;
  if (data?.fieldErrors && Object.keys(data.fieldErrors).length > 0) {
    return { fields: data.fieldErrors, message: 'The broker refused some fields; see below.' };
  }
  const field = data?.code ? fieldOfCode[data.code] : undefined;
  if (field) return { fields: { [field]: [error.message] } };
  return { fields: {}, message: error.message };
}

/** The tRPC error code of a failed call (`NOT_FOUND`, `PRECONDITION_FAILED`, …), if it is one. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof TRPCClientError ? (error.data as { code?: string } | undefined)?.code : undefined;
}
